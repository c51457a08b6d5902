import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { typedBytes } from '../helpers/typed-bytes.ts';
import type { Message } from '../../sdk/client.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
/** ATTACHMENT_MAX_BYTES below: four of them fill the storage quota of 1 MiB. */
const MAX_BYTES = 256 * KIB;
const DOMAIN = 'eng.campus.test';

type Device = Awaited<ReturnType<typeof connectAs>> & { messages: Message[] };

let gateway: TestGateway;
let eng: TestNode;
let people = 0;

beforeAll(async () => {
  gateway = await startTestGateway('im-own-files');
  eng = await startTestNode(gateway, DOMAIN, {
    ATTACHMENT_MAX_BYTES: String(MAX_BYTES),
    ATTACHMENT_UNSHARED_QUOTA_MB: '1',
    ATTACHMENT_STORAGE_QUOTA_MB: '1',
  });
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

const devices: Device[] = [];
afterAll(() => {
  for (const d of devices) d.close();
});

/** A new person of eng, connected, with every entry pushed to them collected. */
async function someone(): Promise<Device> {
  const username = `filer${++people}`;
  await addPerson(gateway, username);
  const device = Object.assign(await connectAs(gateway, eng, username), { messages: [] as Message[] });
  device.on('message', (m) => device.messages.push(m));
  devices.push(device);
  return device;
}

const api = (path: string) => `${eng.url}/api/v1${path}`;
const bearer = async (who: Device) => ({ authorization: `Bearer ${await who.login.tokenFor(eng.url)}` });
const download = async (who: Device, id: string) => fetch(api(`/attachments/${id}`), { headers: await bearer(who) });
const remove = async (who: Device, id: string) =>
  fetch(api(`/attachments/${id}`), { method: 'DELETE', headers: await bearer(who) });
const onDisk = (id: string) => existsSync(`${eng.config.attachments.dir}/${id}`);
const zip = (who: Device, size: number, name = 'part.zip') =>
  who.upload(typedBytes('application/zip', size), name, 'application/zip');
const text = (who: Device, words: string, name = 'notes.txt') =>
  who.upload(new TextEncoder().encode(words), name, 'text/plain');

describe("a person's own files on a node", () => {
  it('lists only their own, newest first, a page at a time, with what they take up of what they may keep', async () => {
    const [erin, frank] = [await someone(), await someone()];
    const sent = await text(erin, 'first notes', 'first.txt');
    const ack = await erin.send({ to: frank.address!, text: 'notes', attachments: [sent.id] });
    const unsent = await zip(erin, 3 * KIB, 'later.zip');
    await text(frank, 'not hers', 'frank.txt');

    const all = await erin.listFiles();
    expect(all.files.map((f) => f.name)).toEqual(['later.zip', 'first.txt']);
    expect(all.files[0]).toMatchObject({
      id: unsent.id,
      size: 3 * KIB,
      contentType: 'application/zip',
      conversation: null,
    });
    expect(all.files[1]!.conversation).toEqual({ id: ack.conversationId, kind: 'direct', title: null });
    expect(Date.parse(all.files[1]!.createdAt)).toBeLessThanOrEqual(Date.parse(all.files[0]!.createdAt));
    expect(all).toMatchObject({ used: 3 * KIB + 'first notes'.length, quota: MIB, next: null });

    const first = await erin.listFiles({ limit: 1 });
    expect(first.files.map((f) => f.name)).toEqual(['later.zip']);
    const second = await erin.listFiles({ limit: 1, before: first.next! });
    expect(second.files.map((f) => f.name)).toEqual(['first.txt']);
    expect(second.next).toBeNull();

    expect((await frank.listFiles()).files.map((f) => f.name)).toEqual(['frank.txt']);
    await expect(erin.listFiles({ before: 'yesterday' })).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('deletes a file of a person at their storage quota, bytes and all, so that they can upload again at once', async () => {
    const [grace, heidi] = [await someone(), await someone()];
    const parts = [await zip(grace, MAX_BYTES), await zip(grace, MAX_BYTES), await zip(grace, MAX_BYTES)];
    await grace.send({ to: heidi.address!, text: 'the parts', attachments: parts.map((f) => f.id) });
    await zip(grace, MAX_BYTES, 'unsent.zip');
    await expect(zip(grace, 1)).rejects.toMatchObject({
      code: 'storage_quota',
      message: 'You use 1 MB of your 1 MB here; this file (1 byte) would pass it.',
    });

    expect((await remove(grace, parts[0]!.id)).status).toBe(204);
    await expect.poll(() => onDisk(parts[0]!.id)).toBe(false);
    expect((await grace.listFiles()).used).toBe(3 * MAX_BYTES);
    expect((await zip(grace, MAX_BYTES, 'again.zip')).size).toBe(MAX_BYTES);
    // Deleting it again changes nothing, and says so as the first time did.
    expect((await remove(grace, parts[0]!.id)).status).toBe(204);
    expect((await grace.listFiles()).used).toBe(4 * MAX_BYTES);
  });

  it('deletes a file not sent yet, which nobody else ever saw', async () => {
    const ivan = await someone();
    const draft = await text(ivan, 'a draft');
    await ivan.deleteFile(draft.id);
    expect(onDisk(draft.id)).toBe(false);
    expect((await ivan.listFiles()).files).toEqual([]);
    await expect(
      ivan.send({ to: 'alice@eng.campus.test', text: 'here', attachments: [draft.id] }),
    ).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('refuses anyone else: a member of the conversation is told only its sender may, others that it does not exist, and nothing changes', async () => {
    const [judy, ken, leo] = [await someone(), await someone(), await someone()];
    const file = await text(judy, 'keep me');
    await judy.send({ to: ken.address!, text: 'mine', attachments: [file.id] });

    const refused = await remove(ken, file.id);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      error: { code: 'forbidden', message: 'Only the person who shared a file can delete it' },
    });
    await expect(ken.deleteFile(file.id)).rejects.toMatchObject({ code: 'forbidden' });
    expect((await remove(leo, file.id)).status).toBe(404);
    expect((await remove(leo, 'not-an-id')).status).toBe(404);

    expect(await (await download(ken, file.id)).text()).toBe('keep me');
    expect(onDisk(file.id)).toBe(true);
    expect((await judy.listFiles()).files.map((f) => f.id)).toEqual([file.id]);
    expect(ken.messages.filter((m) => m.kind === 'file.removed')).toEqual([]);
  });

  it('leaves the message that carried it, showing the file removed: live, in history and in sync, and a download says why', async () => {
    const [mia, ned] = [await someone(), await someone()];
    const kept = await text(mia, 'still here', 'kept.txt');
    const gone = await text(mia, 'old slides', 'slides.txt');
    const ack = await mia.send({ to: ned.address!, text: 'two files', attachments: [kept.id, gone.id] });
    await expect.poll(() => ned.messages.some((m) => m.id === ack.messageId)).toBe(true);
    const told: unknown[] = [];
    ned.on('fileRemoved', (removal) => told.push(removal));

    await mia.deleteFile(gone.id);
    await expect
      .poll(() => told)
      .toEqual([{ conversationId: ack.conversationId, messageId: ack.messageId, attachmentId: gone.id }]);
    const refused = await download(ned, gone.id);
    expect(refused.status).toBe(410);
    expect(await refused.json()).toMatchObject({
      error: { code: 'attachment_removed', message: 'The sender removed this file' },
    });
    expect((await download(mia, gone.id)).status).toBe(410);
    expect(await (await download(ned, kept.id)).text()).toBe('still here');

    const shown = (await ned.history(ack.conversationId)).messages.find((m) => m.id === ack.messageId)!;
    expect(shown.text).toBe('two files');
    expect(shown.attachments).toEqual([kept, { ...gone, removed: true }]);
    // A device that was away learns it when it catches up.
    const away = await connectAs(gateway, eng, userOf(ned), ned.login);
    devices.push(Object.assign(away, { messages: [] }));
    const { messages } = await away.sync();
    expect(messages.find((m) => m.id === ack.messageId)?.attachments?.[1]).toMatchObject({
      id: gone.id,
      removed: true,
    });
    expect(messages.filter((m) => m.kind === 'file.removed')).toMatchObject([
      { refId: ack.messageId, attachmentId: gone.id, sender: mia.address },
    ]);
  });

  it('still lets a message be recalled within the window after one of its files was deleted, which takes back the others', async () => {
    const [olga, pete] = [await someone(), await someone()];
    const [one, two] = [await text(olga, 'one', 'one.txt'), await text(olga, 'two', 'two.txt')];
    const ack = await olga.send({ to: pete.address!, text: 'both', attachments: [one.id, two.id] });
    await olga.deleteFile(one.id);
    await olga.recall(ack.messageId);
    expect((await download(pete, two.id)).status).toBe(404);
    await expect.poll(() => onDisk(two.id)).toBe(false);
    expect((await olga.listFiles()).files).toEqual([]);
    const recalled = (await pete.history(ack.conversationId)).messages.find((m) => m.id === ack.messageId)!;
    expect(recalled.recalledAt).not.toBeNull();
    expect(recalled.attachments).toBeUndefined();
  });
});

function userOf(device: Device): string {
  return device.address!.split('@')[0]!;
}
