import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { HEADS, typedBytes } from '../helpers/typed-bytes.ts';
import type { AtriumClient, Message } from '../../sdk/client.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { sweepUnsharedUploads, UNSHARED_SWEEP_MS } from '../../node/attachments/sweep-unshared.ts';
import { ConfigError } from '../../core/errors.ts';

const MAX_BYTES = 64 * 1024;
/** ATTACHMENT_UNSHARED_QUOTA_MB below: 16 files of MAX_BYTES. */
const QUOTA_BYTES = 1024 * 1024;
const UPLOADS_PER_HOUR = 30;
const DAVE = 'dave@eng.campus.test';

type Device = Awaited<ReturnType<typeof connectAs>>;

let gateway: TestGateway;
let eng: TestNode;
let alice: Device;
let dave: Device;
let carol: Device;

beforeAll(async () => {
  gateway = await startTestGateway('im-attachments');
  eng = await startTestNode(gateway, 'eng.campus.test', {
    ATTACHMENT_MAX_BYTES: String(MAX_BYTES),
    ATTACHMENT_UNSHARED_QUOTA_MB: '1',
    ATTACHMENT_UNSHARED_KEEP_HOURS: '24',
    ATTACHMENT_UPLOADS_PER_HOUR: String(UPLOADS_PER_HOUR),
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

/** What a refused upload must not leave behind: files on disk and attachment rows. */
async function stored() {
  const dir = eng.config.attachments.dir;
  return { files: existsSync(dir) ? readdirSync(dir).sort() : [], rows: await eng.models.Attachment.count() };
}

describe('uploading and downloading', () => {
  it('stores an upload, shows it in the pushed message, and gives a member the same bytes', async () => {
    const bytes = new Uint8Array(randomBytes(50_000));
    bytes.set(HEADS['image/png']!);
    const uploaded = await alice.upload(bytes, 'circuit diagram.png', 'image/png');
    expect(uploaded).toEqual({
      id: expect.any(String),
      name: 'circuit diagram.png',
      contentType: 'image/png',
      size: 50_000,
    });
    const row = await eng.models.Attachment.findByPk(uploaded.id);
    expect(row!.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));

    const pushed = dave.once('message', (m: Message) => m.attachments?.[0]?.id === uploaded.id);
    await alice.send({ to: DAVE, text: 'the diagram', attachments: [uploaded.id] });
    expect((await pushed).attachments).toEqual([
      { id: uploaded.id, name: 'circuit diagram.png', contentType: 'image/png', size: 50_000 },
    ]);

    const response = await download(dave, uploaded.id);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="circuit diagram.png"; filename*=UTF-8''circuit%20diagram.png`,
    );
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
  });

  it("serves an upload to nobody but its uploader until shared, and then only to the conversation's members", async () => {
    const uploaded = await alice.upload(
      new TextEncoder().encode('notes for dave'),
      'notes.txt',
      'text/plain; charset=utf-8',
    );
    expect(uploaded.contentType).toBe('text/plain');
    expect((await download(alice, uploaded.id)).status).toBe(200);
    expect((await download(dave, uploaded.id)).status).toBe(404);

    await alice.send({ to: DAVE, text: 'notes', attachments: [uploaded.id] });
    expect(await (await download(dave, uploaded.id)).text()).toBe('notes for dave');
    const outsider = await download(carol, uploaded.id);
    expect(outsider.status).toBe(404);
    expect(await outsider.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await download(carol, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await download(carol, '..%2F..%2Fetc%2Fpasswd')).status).toBe(404);
  });

  it('gives someone who joined a group later only the files sent since, as their history shows', async () => {
    const group = await alice.createGroup('Lab 4 files', [DAVE]);
    const before = await alice.upload(new TextEncoder().encode('draft grades'), 'grades.txt', 'text/plain');
    await alice.send({ conversationId: group.id, text: 'grades before the review', attachments: [before.id] });
    expect((await download(dave, before.id)).status).toBe(200);
    await alice.invite(group.id, ['carol@eng.campus.test']);
    // Carol's history starts at her joining: the file shared before it is not hers to fetch by its id.
    expect((await carol.history(group.id)).messages.some((m) => m.attachments?.length)).toBe(false);
    expect((await download(carol, before.id)).status).toBe(404);
    // Sent again since, it is in her history and hers to download.
    await alice.send({ conversationId: group.id, text: 'for carol too', attachments: [before.id] });
    expect(await (await download(carol, before.id)).text()).toBe('draft grades');
    expect((await download(dave, before.id)).status).toBe(200);
  });

  it("takes a recalled message's file back from everyone, its uploader too, and deletes it from disk", async () => {
    const photo = await alice.upload(new TextEncoder().encode('sent by mistake'), 'wrong.txt', 'text/plain');
    const sent = await alice.send({ to: DAVE, text: 'oops', attachments: [photo.id] });
    expect((await download(dave, photo.id)).status).toBe(200);
    const onDisk = `${eng.config.attachments.dir}/${photo.id}`;
    expect(existsSync(onDisk)).toBe(true);
    await alice.recall(sent.messageId);
    for (const who of [dave, alice]) expect((await download(who, photo.id)).status).toBe(404);
    await expect.poll(() => existsSync(onDisk)).toBe(false);
    expect(await eng.models.Attachment.count({ where: { id: photo.id } })).toBe(0);
    // What was taken back cannot be shared again.
    await expect(alice.send({ to: DAVE, text: 'this one after all', attachments: [photo.id] })).rejects.toMatchObject({
      code: 'forbidden',
    });
  });

  it("keeps a recalled message's file while another visible message still shares it", async () => {
    const plan = await alice.upload(new TextEncoder().encode('the plan'), 'plan.txt', 'text/plain');
    const first = await alice.send({ to: DAVE, text: 'the plan', attachments: [plan.id] });
    const again = await alice.send({ to: DAVE, text: 'the plan again, for the record', attachments: [plan.id] });
    await alice.recall(first.messageId);
    expect(await (await download(dave, plan.id)).text()).toBe('the plan');
    // Once the last message sharing it is recalled too, it is gone.
    await alice.recall(again.messageId);
    expect((await download(dave, plan.id)).status).toBe(404);
    await expect.poll(() => existsSync(`${eng.config.attachments.dir}/${plan.id}`)).toBe(false);
  });

  it("keeps a message's files in the order the sender attached them, in history and in a new device's sync", async () => {
    const files = [
      await alice.upload(typedBytes('image/png'), 'a-first.png', 'image/png'),
      await alice.upload(typedBytes('application/pdf'), 'b-second.pdf', 'application/pdf'),
      await alice.upload(new TextEncoder().encode('txt'), 'c-third.txt', 'text/plain'),
    ];
    // Attached against the ids' order, the order a lookup by id returns them in.
    const attached = files.toSorted((x, y) => (x.id < y.id ? 1 : -1));
    const sent = await alice.send({ to: DAVE, text: 'three files', attachments: attached.map((f) => f.id) });
    const names = (m: Message | undefined) => m?.attachments?.map((a) => a.name);
    const expected = attached.map((f) => f.name);

    const { messages } = await alice.history(sent.conversationId);
    expect(names(messages.find((m) => m.id === sent.messageId))).toEqual(expected);
    const reloaded = await connectAs(gateway, eng, 'dave', dave.login);
    try {
      const synced = await reloaded.sync();
      expect(names(synced.messages.find((m) => m.id === sent.messageId))).toEqual(expected);
    } finally {
      reloaded.close();
    }
  });

  it('stores a file name as typed but for its path, control and bidi characters, and refuses one over 255 characters', async () => {
    const pdf = typedBytes('application/pdf');
    // Its ending disagrees with its type: the type's is added (test/node/attachment-content.test.ts).
    const uploaded = await alice.upload(pdf, '../../etc/re"port\u202Egnp.exe', 'application/pdf');
    expect(uploaded.name).toBe('re"port_gnp.exe.pdf');
    const response = await download(alice, uploaded.id);
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="re_port_gnp.exe.pdf"; filename*=UTF-8''re%22port_gnp.exe.pdf`,
    );
    // What people type in a name stays: the header carries it percent-encoded, the page shows it as text.
    const typed = await alice.upload(pdf, 'C:\\Users\\me\\<v2> draft: a|b?*.pdf', 'application/pdf');
    expect(typed.name).toBe('<v2> draft: a|b?*.pdf');
    expect((await download(alice, typed.id)).headers.get('content-disposition')).toBe(
      `attachment; filename="<v2> draft: a|b?*.pdf"; filename*=UTF-8''%3Cv2%3E%20draft%3A%20a%7Cb%3F%2A.pdf`,
    );
    const controls = await alice.upload(pdf, 'line\nbreak\u0007\u2066.pdf', 'application/pdf');
    expect(controls.name).toBe('line_break__.pdf');

    const unnamed = await fetch(api('/attachments'), {
      method: 'POST',
      headers: { ...(await bearer(alice)), 'content-type': 'application/pdf' },
      body: pdf,
    });
    expect(await unnamed.json()).toMatchObject({ name: 'file.pdf' });

    const before = await stored();
    await expect(alice.upload(pdf, `${'a'.repeat(252)}.pdf`, 'application/pdf')).rejects.toMatchObject({
      code: 'invalid_input',
    });
    expect(await stored()).toEqual(before);
  });
});

describe('refused uploads change nothing', () => {
  it('refuses a body over the limit with 413, whether announced or streamed, and keeps no file and no row', async () => {
    const before = await stored();
    const announced = await fetch(api('/attachments?name=big.zip'), {
      method: 'POST',
      headers: { ...(await bearer(alice)), 'content-type': 'application/zip' },
      body: new Uint8Array(MAX_BYTES + 1),
    });
    expect(announced.status).toBe(413);
    expect(await announced.json()).toMatchObject({ error: { code: 'too_large' } });

    // Chunked, with no length announced: the limit must bite while the bytes arrive.
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= MAX_BYTES * 4) return controller.close();
        controller.enqueue(sent === 0 ? typedBytes('application/zip', 16 * 1024) : new Uint8Array(16 * 1024));
        sent += 16 * 1024;
      },
    });
    const streamed = await fetch(api('/attachments?name=big.zip'), {
      method: 'POST',
      headers: { ...(await bearer(alice)), 'content-type': 'application/zip' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await stored()).toEqual(before);

    // Exactly at the limit is fine.
    expect(
      (await alice.upload(typedBytes('application/zip', MAX_BYTES), 'just-fits.zip', 'application/zip')).size,
    ).toBe(MAX_BYTES);
  });

  it('keeps nothing of an upload the client abandons halfway', async () => {
    const before = await stored();
    const abort = new AbortController();
    let chunks = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (chunks++ < 2) return controller.enqueue(typedBytes('application/zip', 8 * 1024));
        await new Promise((r) => setTimeout(r, 300));
        abort.abort();
      },
    });
    const upload = fetch(api('/attachments?name=half.zip'), {
      method: 'POST',
      headers: { ...(await bearer(alice)), 'content-type': 'application/zip' },
      body,
      duplex: 'half',
      signal: abort.signal,
    } as RequestInit);
    await expect(upload).rejects.toThrow();
    await expect.poll(() => stored()).toEqual(before);
  });

  it('refuses a type not on the allowlist with 415 and an empty file with 400', async () => {
    const before = await stored();
    await expect(
      alice.upload(new Uint8Array([0x4d, 0x5a]), 'setup.exe', 'application/x-msdownload'),
    ).rejects.toMatchObject({ code: 'unsupported_media_type' });
    const untyped = await fetch(api('/attachments?name=x'), {
      method: 'POST',
      headers: await bearer(alice),
      body: new Uint8Array([1]),
    });
    expect(untyped.status).toBe(415);
    await expect(alice.upload(new Uint8Array(0), 'empty.txt', 'text/plain')).rejects.toMatchObject({
      code: 'invalid_input',
    });
    expect(await stored()).toEqual(before);
  });

  it('refuses an upload or download without a valid token with 401', async () => {
    const before = await stored();
    const anonymous = await fetch(api('/attachments?name=a.txt'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(anonymous.status).toBe(401);
    const forged = await fetch(api('/attachments?name=a.txt'), {
      method: 'POST',
      headers: { authorization: 'Bearer not.a.token', 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(forged.status).toBe(401);
    expect(await stored()).toEqual(before);
    const [row] = await eng.models.Attachment.findAll({ limit: 1 });
    expect((await fetch(api(`/attachments/${row!.id}`))).status).toBe(401);
  });
});

describe('the SDK', () => {
  it('uploads a Blob as well as bytes', async () => {
    const sdk: AtriumClient = alice;
    const uploaded = await sdk.upload(new Blob(['from a browser']), 'blob.txt', 'text/plain');
    expect(await (await download(alice, uploaded.id)).text()).toBe('from a browser');
  });
});

describe('uploads never shared', () => {
  const chunked = (size: number) => {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= size) return controller.close();
        controller.enqueue(sent === 0 ? typedBytes('application/zip', 16 * 1024) : new Uint8Array(16 * 1024));
        sent += 16 * 1024;
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
  /** Makes an upload look `hours` old to the sweep. */
  const age = (id: string, hours: number) =>
    eng.models.Attachment.update({ createdAt: new Date(Date.now() - hours * 3_600_000) }, { where: { id } });
  const onDisk = (id: string) => existsSync(`${eng.config.attachments.dir}/${id}`);

  it('refuses an upload past what one person may keep unshared with 413 upload_quota, and takes one again once they share', async () => {
    const files = [];
    for (let i = 0; i < QUOTA_BYTES / MAX_BYTES; i++)
      files.push(await carol.upload(typedBytes('application/zip', MAX_BYTES), `part-${i}.zip`, 'application/zip'));
    // Someone else's uploads are theirs: alice is not refused for carol's.
    expect((await alice.upload(new TextEncoder().encode('1'), 'mine.txt', 'text/plain')).size).toBe(1);
    const before = await stored();
    const refused = await postAs(carol, 1, true);
    expect(refused.status).toBe(413);
    const { error } = await refused.json();
    expect(error.code).toBe('upload_quota');
    expect(error.message).toBe(
      'Files you have not sent yet use 1 MB of the 1 MB you may keep unsent here; this file (1 byte) would pass it. ' +
        'Send or delete some of them first.',
    );

    // Shared, a file no longer counts: room for one more, which may not be larger than that room.
    await carol.send({ to: DAVE, text: 'part 0', attachments: [files[0]!.id] });
    expect((await carol.upload(typedBytes('application/zip', MAX_BYTES / 2), 'half.zip', 'application/zip')).size).toBe(
      MAX_BYTES / 2,
    );
    for (const announced of [true, false]) {
      const over = await postAs(carol, MAX_BYTES, announced);
      expect(over.status).toBe(413);
      expect(await over.json()).toMatchObject({
        error: {
          code: 'upload_quota',
          message:
            `Files you have not sent yet use 992 KB of the 1 MB you may keep unsent here; ` +
            `this file${announced ? ' (64 KB)' : ''} would pass it. Send or delete some of them first.`,
        },
      });
    }
    expect((await stored()).rows).toBe(before.rows + 1);
    expect((await stored()).files).toHaveLength(before.files.length + 1);
    expect((await carol.upload(typedBytes('application/zip', MAX_BYTES / 2), 'rest.zip', 'application/zip')).size).toBe(
      MAX_BYTES / 2,
    );
  });

  it(`refuses a person's upload past ${UPLOADS_PER_HOUR} in an hour with 429 and Retry-After`, async () => {
    for (let i = 0; i < UPLOADS_PER_HOUR; i++)
      await dave.upload(new TextEncoder().encode(`${i}`), `n-${i}.txt`, 'text/plain');
    const before = await stored();
    const refused = await postAs(dave, 1, true);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({
      error: {
        code: 'rate_limited',
        message: expect.stringMatching(/^At most 30 uploads an hour\. Try again in \d+ minutes?\.$/),
      },
    });
    expect(await stored()).toEqual(before);
  });

  it('deletes an upload not shared within ATTACHMENT_UNSHARED_KEEP_HOURS, record and bytes, and refuses a message naming it', async () => {
    const stale = await alice.upload(new TextEncoder().encode('forgotten'), 'forgotten.txt', 'text/plain');
    const fresh = await alice.upload(new TextEncoder().encode('just now'), 'fresh.txt', 'text/plain');
    const sharedLongAgo = await alice.upload(new TextEncoder().encode('sent'), 'sent.txt', 'text/plain');
    await alice.send({ to: DAVE, text: 'sent', attachments: [sharedLongAgo.id] });
    await age(stale.id, 25);
    await age(sharedLongAgo.id, 25);
    await age(fresh.id, 23);

    expect(await sweepUnsharedUploads(eng.services)).toBe(1);
    expect(await eng.models.Attachment.count({ where: { id: stale.id } })).toBe(0);
    expect(onDisk(stale.id)).toBe(false);
    for (const kept of [fresh, sharedLongAgo]) expect(onDisk(kept.id)).toBe(true);
    expect(await (await download(dave, sharedLongAgo.id)).text()).toBe('sent');

    await expect(alice.send({ to: DAVE, text: 'here it is', attachments: [stale.id] })).rejects.toMatchObject({
      code: 'forbidden',
      message: expect.stringMatching(
        /not sent in a message within 24 hours of its upload is deleted, so upload it again/,
      ),
    });
  });

  it('sweeps by itself every few minutes', async () => {
    const stale = await alice.upload(new TextEncoder().encode('left behind'), 'left.txt', 'text/plain');
    await age(stale.id, 25);
    eng.clock.advance(UNSHARED_SWEEP_MS);
    eng.clock.reset();
    await expect.poll(() => onDisk(stale.id)).toBe(false);
    expect(await eng.models.Attachment.count({ where: { id: stale.id } })).toBe(0);
  });

  it('keeps an upload that is shared while the sweep is deleting it', async () => {
    const late = await alice.upload(new TextEncoder().encode('sent at the last moment'), 'late.txt', 'text/plain');
    await age(late.id, 25);
    const { Attachment } = eng.models;
    // The send binds the file between the sweep's look for stale uploads and its delete.
    Attachment.addHook('beforeBulkDestroy', 'share-first', async (options) => {
      if ((options.where as { id?: unknown }).id !== late.id) return;
      await alice.send({ to: DAVE, text: 'just in time', attachments: [late.id] });
    });
    try {
      expect(await sweepUnsharedUploads(eng.services)).toBe(0);
    } finally {
      Attachment.removeHook('beforeBulkDestroy', 'share-first');
    }
    expect(onDisk(late.id)).toBe(true);
    expect(await (await download(dave, late.id)).text()).toBe('sent at the last moment');
  });

  it('refuses a message whose upload the sweep deletes while it is being sent, and says why', async () => {
    const late = await alice.upload(new TextEncoder().encode('too late'), 'too-late.txt', 'text/plain');
    await age(late.id, 25);
    const { Attachment } = eng.models;
    // The sweep deletes the file between the send's look at it and its binding it to the conversation.
    Attachment.addHook('beforeBulkUpdate', 'sweep-first', async (options) => {
      if (!(options as { attributes?: { conversationId?: unknown } }).attributes?.conversationId) return;
      await sweepUnsharedUploads(eng.services);
    });
    try {
      await expect(alice.send({ to: DAVE, text: 'too late', attachments: [late.id] })).rejects.toMatchObject({
        code: 'forbidden',
        message: expect.stringMatching(/upload it again/),
      });
    } finally {
      Attachment.removeHook('beforeBulkUpdate', 'sweep-first');
    }
    expect(onDisk(late.id)).toBe(false);
  });
});

describe('the configuration of uploads', () => {
  it('refuses a quota for unshared uploads smaller than one file of the largest size', () => {
    const env = { NODE_DOMAIN: 'eng.campus.test', NODE_SECRET_KEY: 'x'.repeat(32) };
    expect(() =>
      loadNodeConfig({ ...env, ATTACHMENT_UNSHARED_QUOTA_MB: '1', ATTACHMENT_MAX_BYTES: String(2 * 1024 * 1024) }),
    ).toThrow(ConfigError);
    expect(loadNodeConfig(env).attachments).toMatchObject({
      unsharedQuotaBytes: 200 * 1024 * 1024,
      unsharedKeepHours: 24,
      uploadsPerHour: 120,
    });
  });
});
