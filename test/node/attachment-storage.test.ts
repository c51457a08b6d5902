import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { typedBytes } from '../helpers/typed-bytes.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { UNSHARED_SWEEP_MS } from '../../node/attachments/sweep-unshared.ts';
import { sweepUncarriedFiles } from '../../node/attachments/sweep-uncarried.ts';
import { ConfigError } from '../../core/errors.ts';
import { StorageQuotaError } from '../../node/attachments/upload-quota.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
/** ATTACHMENT_MAX_BYTES below: four of them fill the storage quota of 1 MiB. */
const MAX_BYTES = 256 * KIB;
const KEEP_HOURS = 24;
const RECALL_WINDOW_SECONDS = 120;
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
    ATTACHMENT_UNSHARED_KEEP_HOURS: String(KEEP_HOURS),
    RECALL_WINDOW_SECONDS: String(RECALL_WINDOW_SECONDS),
    // A node that takes long texts: one can be too large to store once its files are described with it.
    MAX_TEXT_CHARS: '30000',
    MAX_FRAME_BYTES: String(256 * KIB),
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
const download = async (who: Device, id: string) => fetch(api(`/attachments/${id}`), { headers: await bearer(who) });
const onDisk = (id: string) => existsSync(`${eng.config.attachments.dir}/${id}`);
const zip = (size: number, name = 'part.zip') =>
  alice.upload(typedBytes('application/zip', size), name, 'application/zip');

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
      controller.enqueue(sent === 0 ? typedBytes('application/zip', 16 * KIB) : new Uint8Array(16 * KIB));
      sent += 16 * KIB;
    },
  });
};
const postAs = async (who: Device, size: number, announced: boolean) =>
  fetch(api('/attachments?name=more.zip'), {
    method: 'POST',
    headers: { ...(await bearer(who)), 'content-type': 'application/zip' },
    body: announced ? typedBytes('application/zip', size) : chunked(size),
    duplex: 'half',
  } as RequestInit);

describe('what one person may keep on the node', () => {
  it('refuses an upload past what one person may keep, shared files included, with 413 storage_quota, and takes one again once they recall', async () => {
    const shared = [await zip(MAX_BYTES), await zip(MAX_BYTES), await zip(MAX_BYTES)];
    const sent = await alice.send({ to: DAVE, text: 'the parts', attachments: shared.map((f) => f.id) });
    await zip(MAX_BYTES, 'unsent.zip');
    // Someone else's files are theirs: dave is not refused for alice's.
    expect((await dave.upload(new TextEncoder().encode('1'), 'mine.txt', 'text/plain')).size).toBe(1);

    const before = await stored();
    for (const announced of [true, false]) {
      const refused = await postAs(alice, 1, announced);
      expect(refused.status).toBe(413);
      const { error } = await refused.json();
      expect(error.code).toBe('storage_quota');
      expect(error.message).toBe(
        `You use 1 MB of your 1 MB here; this file${announced ? ' (1 byte)' : ''} would pass it.`,
      );
    }
    expect(await stored()).toEqual(before);

    // Recalled, the shared files are deleted, and their room is free again.
    await alice.recall(sent.messageId);
    expect((await zip(MAX_BYTES)).size).toBe(MAX_BYTES);
  });

  it('says in plain sizes what one uses of one’s room, rounded so that the sizes said pass the room said', () => {
    const said = (used: number, quota: number, file?: number) => new StorageQuotaError(used, quota, file).message;
    expect(said(887_910, MIB, 250 * KIB)).toBe('You use 868 KB of your 1 MB here; this file (250 KB) would pass it.');
    // Not "1000 KB of your 1 MB", which reads as full and is not.
    expect(said(1000 * KIB, MIB, 30 * KIB)).toBe('You use 0.98 MB of your 1 MB here; this file (30 KB) would pass it.');
    expect(said(1_023_590, MIB, 25_088)).toBe('You use 0.98 MB of your 1 MB here; this file (25 KB) would pass it.');
    expect(said(1.25 * 1024 * MIB, 2048 * MIB, 1.5 * MIB)).toBe(
      'You use 1.3 GB of your 2 GB here; this file (1.5 MB) would pass it.',
    );
    expect(said(MIB, MIB)).toBe('You use 1 MB of your 1 MB here; this file would pass it.');
  });

  it('lets no uploads side by side take a person past it together', async () => {
    const shared = [
      await carol.upload(typedBytes('application/zip', MAX_BYTES), 'a.zip', 'application/zip'),
      await carol.upload(typedBytes('application/zip', MAX_BYTES), 'b.zip', 'application/zip'),
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

describe('files named in a send that no message carries', () => {
  it('leaves the files of a message refused as too large as they were, to go in a shorter one, anywhere', async () => {
    const notes = await alice.upload(new TextEncoder().encode('the notes'), 'notes.txt', 'text/plain');
    // 25,000 characters of three bytes each: within MAX_TEXT_CHARS, over what a message may hold stored.
    await expect(alice.send({ to: DAVE, text: '字'.repeat(25_000), attachments: [notes.id] })).rejects.toMatchObject({
      code: 'too_large',
    });
    expect((await download(dave, notes.id)).status).toBe(404);

    await alice.send({ to: CAROL, text: 'the notes', attachments: [notes.id] });
    expect(await (await download(carol, notes.id)).text()).toBe('the notes');
  });

  /** A file bound to alice's conversation with dave as a send leaves it when the node stops, or its store fails, after binding it. */
  async function stranded(text: string) {
    const file = await alice.upload(new TextEncoder().encode(text), `${text}.txt`, 'text/plain');
    const conversation = await alice.openDirect(DAVE);
    await eng.models.Attachment.update(
      { conversationId: conversation.id, unconfirmedSince: new Date() },
      { where: { id: file.id } },
    );
    return file;
  }
  /** Makes the last send naming each file look `ms` old to the sweep. */
  const namedAgo = (ms: number, ids: string[]) =>
    eng.models.Attachment.update({ unconfirmedSince: new Date(Date.now() - ms) }, { where: { id: ids } });
  const DUE_MS = KEEP_HOURS * 3_600_000 + RECALL_WINDOW_SECONDS * 1000 + 60_000;

  it('deletes a file a failed send bound, record and bytes, once the keep time and the recall window have passed, and keeps one a message carries for good', async () => {
    const { Attachment } = eng.models;
    const carried = await alice.upload(new TextEncoder().encode('sent'), 'sent.txt', 'text/plain');
    await alice.send({ to: DAVE, text: 'sent', attachments: [carried.id] });
    const lost = await stranded('never sent');
    const both = [carried.id, lost.id];

    // Within the recall window after the keep time, a message carrying it could still be recalled.
    await namedAgo(KEEP_HOURS * 3_600_000, both);
    expect(await sweepUncarriedFiles(eng.services)).toBe(0);
    for (const id of both) expect(onDisk(id)).toBe(true);

    await namedAgo(DUE_MS, both);
    expect(await sweepUncarriedFiles(eng.services)).toBe(1);
    expect(await Attachment.count({ where: { id: lost.id } })).toBe(0);
    expect(onDisk(lost.id)).toBe(false);
    expect(await (await download(dave, carried.id)).text()).toBe('sent');
    // Found carried, it is not checked again.
    expect((await Attachment.findByPk(carried.id))!.unconfirmedSince).toBeNull();
  });

  it('sweeps them by itself every few minutes', async () => {
    const lost = await stranded('left bound');
    await namedAgo(DUE_MS, [lost.id]);
    eng.clock.advance(UNSHARED_SWEEP_MS);
    eng.clock.reset();
    await expect.poll(() => onDisk(lost.id)).toBe(false);
    expect(await eng.models.Attachment.count({ where: { id: lost.id } })).toBe(0);
  });

  it('keeps such a file when a send names it again while the sweep is deleting it', async () => {
    const late = await stranded('sent again');
    await namedAgo(DUE_MS, [late.id]);
    const { Attachment } = eng.models;
    // The send names the file between the sweep's look at the messages and its delete.
    Attachment.addHook('beforeBulkDestroy', 'send-again', async (options) => {
      if ((options.where as { id?: unknown }).id !== late.id) return;
      await alice.send({ to: DAVE, text: 'trying again', attachments: [late.id] });
    });
    try {
      expect(await sweepUncarriedFiles(eng.services)).toBe(0);
    } finally {
      Attachment.removeHook('beforeBulkDestroy', 'send-again');
    }
    expect(onDisk(late.id)).toBe(true);
    expect(await (await download(dave, late.id)).text()).toBe('sent again');
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
