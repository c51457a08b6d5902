import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { ConfigError } from '../../core/errors.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
/** ATTACHMENT_MAX_BYTES below: four of them fill the storage quota of 1 MiB. */
const MAX_BYTES = 256 * KIB;
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';

type Device = Awaited<ReturnType<typeof connectAs>>;

let gateway: TestGateway;
let eng: TestNode;
let alice: Device;
let dave: Device;
let carol: Device;

beforeAll(async () => {
  gateway = await startTestGateway('im-attachment-storage');
  eng = await startTestNode(gateway, 'eng.campus.test', {
    ATTACHMENT_MAX_BYTES: String(MAX_BYTES),
    ATTACHMENT_UNSHARED_QUOTA_MB: '1',
    ATTACHMENT_STORAGE_QUOTA_MB: '1',
  });
  [alice, dave, carol] = await Promise.all([
    connectAs(gateway, eng, 'alice'),
    connectAs(gateway, eng, 'dave'),
    connectAs(gateway, eng, 'carol'),
  ]);
});
afterAll(async () => {
  for (const c of [alice, dave, carol]) c?.close();
  await eng?.stop();
  await gateway?.stop();
});

const api = (path: string) => `${eng.url}/api/v1${path}`;
const bearer = async (who: Device) => ({ authorization: `Bearer ${await who.login.tokenFor(eng.url)}` });
const zip = (size: number, name = 'part.zip') => alice.upload(new Uint8Array(size), name, 'application/zip');

/** What a refused upload must not leave behind: files on disk and attachment rows. */
async function stored() {
  const dir = eng.config.attachments.dir;
  return { files: existsSync(dir) ? readdirSync(dir).sort() : [], rows: await eng.models.Attachment.count() };
}

const chunked = (size: number) => {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= size) return controller.close();
      sent += 16 * KIB;
      controller.enqueue(new Uint8Array(16 * KIB));
    },
  });
};
const postAs = async (who: Device, size: number, announced: boolean) =>
  fetch(api('/attachments?name=more.zip'), {
    method: 'POST',
    headers: { ...(await bearer(who)), 'content-type': 'application/zip' },
    body: announced ? new Uint8Array(size) : chunked(size),
    duplex: 'half',
  } as RequestInit);

describe('what one person may keep on the node', () => {
  it('refuses an upload past what one person may keep, shared files included, with 413 storage_quota, and takes one again once they recall', async () => {
    const shared = [await zip(MAX_BYTES), await zip(MAX_BYTES), await zip(MAX_BYTES)];
    const sent = await alice.send({ to: DAVE, text: 'the parts', attachments: shared.map((f) => f.id) });
    await zip(MAX_BYTES, 'unsent.zip');
    // Someone else's files are theirs: dave is not refused for alice's.
    expect((await dave.upload(new Uint8Array([1]), 'mine.txt', 'text/plain')).size).toBe(1);

    const before = await stored();
    for (const announced of [true, false]) {
      const refused = await postAs(alice, 1, announced);
      expect(refused.status).toBe(413);
      const { error } = await refused.json();
      expect(error.code).toBe('storage_quota');
      expect(error.message).toMatch(
        /take up 1 MB of the 1 MB each person may keep here, shared or not.*recall messages.*ask an administrator/,
      );
    }
    expect(await stored()).toEqual(before);

    // Recalled, the shared files are deleted, and their room is free again.
    await alice.recall(sent.messageId);
    expect((await zip(MAX_BYTES)).size).toBe(MAX_BYTES);
  });

  it('lets no uploads side by side take a person past it together', async () => {
    const shared = [
      await carol.upload(new Uint8Array(MAX_BYTES), 'a.zip', 'application/zip'),
      await carol.upload(new Uint8Array(MAX_BYTES), 'b.zip', 'application/zip'),
    ];
    await carol.send({ to: DAVE, text: 'two parts', attachments: shared.map((f) => f.id) });
    // Half of carol's room is left; each of three uploads fits it alone, any two together, not all three.
    const size = 200 * KIB;
    const before = await stored();
    const { Attachment } = eng.models;
    // The worst order: every upload has looked at the room left before any of them is recorded.
    let arrived = 0;
    let release!: () => void;
    const allThere = new Promise<void>((resolve) => (release = resolve));
    Attachment.addHook('beforeCreate', 'side-by-side', async () => {
      if (++arrived === 3) release();
      await Promise.race([allThere, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    });
    let answers: Response[];
    try {
      answers = await Promise.all([postAs(carol, size, true), postAs(carol, size, true), postAs(carol, size, true)]);
    } finally {
      Attachment.removeHook('beforeCreate', 'side-by-side');
    }
    const kept = answers.filter((a) => a.status === 201).length;
    for (const refused of answers.filter((a) => a.status !== 201)) {
      expect(refused.status).toBe(413);
      expect(await refused.json()).toMatchObject({ error: { code: 'storage_quota' } });
    }
    const total = Number(await Attachment.sum('size', { where: { owner: CAROL } }));
    expect(total).toBeLessThanOrEqual(MIB);
    expect(total).toBe(2 * MAX_BYTES + kept * size);
    // Nothing of a refused one is left behind.
    expect((await stored()).rows).toBe(before.rows + kept);
    expect((await stored()).files).toHaveLength(before.files.length + kept);
  });
});

describe('the configuration of storage', () => {
  it('caps what a person keeps at ATTACHMENT_STORAGE_QUOTA_MB, 2 GiB unless set, 0 for no cap, and never below the unshared quota', () => {
    const env = { NODE_DOMAIN: 'eng.campus.test', NODE_SECRET_KEY: 'x'.repeat(32) };
    expect(loadNodeConfig(env).attachments.storageQuotaBytes).toBe(2048 * MIB);
    expect(loadNodeConfig({ ...env, ATTACHMENT_STORAGE_QUOTA_MB: '500' }).attachments.storageQuotaBytes).toBe(
      500 * MIB,
    );
    expect(loadNodeConfig({ ...env, ATTACHMENT_STORAGE_QUOTA_MB: '0' }).attachments.storageQuotaBytes).toBeUndefined();
    expect(() => loadNodeConfig({ ...env, ATTACHMENT_STORAGE_QUOTA_MB: '100' })).toThrow(ConfigError);
    expect(() => loadNodeConfig({ ...env, ATTACHMENT_STORAGE_QUOTA_MB: '-1' })).toThrow(ConfigError);
  });
});
