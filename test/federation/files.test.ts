import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendMessage } from '../../node/messages/send-message.ts';
import { sweepUncarriedFiles } from '../../node/attachments/sweep-uncarried.ts';
import { campusPeople, signedPost, startCampus, type Campus } from '../helpers/federation.ts';
import { HEADS } from '../helpers/typed-bytes.ts';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
type Device = Awaited<ReturnType<typeof as>>;

/** A download through the person's own node of `node`, as the portal asks for it. */
async function download(who: Device, node: 'eng' | 'arts' | 'law', id: string, from?: string): Promise<Response> {
  const base = campus.nodes[node].url;
  const query = from ? `?from=${encodeURIComponent(from)}` : '';
  return fetch(`${base}/api/v1/attachments/${id}${query}`, {
    headers: { authorization: `Bearer ${await who.login.tokenFor(base)}` },
  });
}

beforeAll(async () => {
  campus = await startCampus('fed-files');
  as = campusPeople(campus);
});
afterAll(async () => campus?.stop());

describe('files across colleges', () => {
  it('serves a file shared at eng to its arts member through the arts node, and to nobody else', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const carol = await as('carol', 'arts');
    const bytes = new Uint8Array(randomBytes(40_000));
    bytes.set(HEADS['image/png']!);
    const file = await alice.upload(bytes, 'lab results.png', 'image/png');
    await alice.send({ to: 'bob@arts.campus.test', text: 'the results', attachments: [file.id] });
    await expect.poll(() => bob.messages.find((m) => m.text === 'the results')?.attachments).toEqual([file]);

    const served = await download(bob, 'arts', file.id, 'eng.campus.test');
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);

    // Carol is of arts too, but not in the conversation; the file is not at arts itself.
    expect((await download(carol, 'arts', file.id, 'eng.campus.test')).status).toBe(404);
    expect((await download(bob, 'arts', file.id)).status).toBe(404);
    expect((await download(bob, 'arts', '00000000-0000-4000-8000-000000000000', 'eng.campus.test')).status).toBe(404);
    const badFrom = await download(bob, 'arts', file.id, 'not a domain');
    expect(badFrom.status).toBe(400);
    expect(await badFrom.json()).toMatchObject({
      error: { code: 'invalid_input', fields: { from: expect.any(String) } },
    });
    for (const c of [alice, bob, carol]) c.close();
  });

  it("serves a file of another node as application/octet-stream when that node's type is not one this node takes", async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const file = await alice.upload(new TextEncoder().encode('<script>alert(1)</script>'), 'page.txt', 'text/plain');
    await alice.send({ to: 'bob@arts.campus.test', text: 'a page', attachments: [file.id] });
    await expect.poll(() => bob.messages.find((m) => m.text === 'a page')?.attachments).toEqual([file]);

    // What eng answers is eng's word alone: here its record says types arts would never take for an upload.
    for (const type of ['text/html', 'image/svg+xml', 'text/html; charset=utf-8']) {
      await campus.nodes.eng.models.Attachment.update({ contentType: type }, { where: { id: file.id } });
      const served = await download(bob, 'arts', file.id, 'eng.campus.test');
      expect(served.status).toBe(200);
      expect(served.headers.get('content-type'), type).toBe('application/octet-stream');
      expect(await served.text()).toBe('<script>alert(1)</script>');
    }
    // A type on the list goes as it is, without parameters that could change how it is read.
    await campus.nodes.eng.models.Attachment.update(
      { contentType: 'Text/Plain; charset=utf-7' },
      { where: { id: file.id } },
    );
    expect((await download(bob, 'arts', file.id, 'eng.campus.test')).headers.get('content-type')).toBe('text/plain');
    alice.close();
    bob.close();
  });

  it('takes back a file shared at eng into a group hosted at arts when its sender recalls it, for members of every domain', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const group = await bob.createGroup('History of engineering', ['alice@eng.campus.test']);
    await expect
      .poll(async () => campus.nodes.eng.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    const file = await alice.upload(new TextEncoder().encode('wrong draft'), 'draft.txt', 'text/plain');
    const ack = await alice.send({ conversationId: group.id, text: 'the draft', attachments: [file.id] });
    await expect.poll(() => bob.messages.find((m) => m.id === ack.messageId)?.attachments).toEqual([file]);
    expect((await download(bob, 'arts', file.id, 'eng.campus.test')).status).toBe(200);
    await expect
      .poll(async () => campus.nodes.eng.models.Message.count({ where: { id: ack.messageId } }), { timeout: 15_000 })
      .toBe(1);

    await alice.recall(ack.messageId);
    expect((await download(bob, 'arts', file.id, 'eng.campus.test')).status).toBe(404);
    expect((await download(alice, 'eng', file.id)).status).toBe(404);
    await expect.poll(() => existsSync(join(campus.nodes.eng.config.attachments.dir, file.id))).toBe(false);
    alice.close();
    bob.close();
  });

  it('lets an arts member share a file into a conversation hosted at eng, served from arts, until it is recalled, which deletes it at arts', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const conversation = await alice.openDirect('bob@arts.campus.test');
    expect(conversation.homeDomain).toBe('eng.campus.test');

    const file = await bob.upload(new TextEncoder().encode('essay draft, v2'), 'essay.txt', 'text/plain');
    const ack = await bob.send({ conversationId: conversation.id, attachments: [file.id] });
    await expect.poll(() => alice.messages.find((m) => m.id === ack.messageId)?.attachments).toEqual([file]);
    // The file itself stays at arts; eng holds only the message.
    expect(await campus.nodes.eng.models.Attachment.count({ where: { id: file.id } })).toBe(0);

    const served = await download(alice, 'eng', file.id, 'arts.campus.test');
    expect(served.status).toBe(200);
    expect(await served.text()).toBe('essay draft, v2');

    await bob.recall(ack.messageId);
    expect((await download(alice, 'eng', file.id, 'arts.campus.test')).status).toBe(404);
    expect((await download(bob, 'arts', file.id)).status).toBe(404);
    expect(await campus.nodes.arts.models.Attachment.count({ where: { id: file.id } })).toBe(0);
    await expect.poll(() => existsSync(join(campus.nodes.arts.config.attachments.dir, file.id))).toBe(false);
    alice.close();
    bob.close();
  });

  it("refuses a message from another college that names a file of this college's people, and the file still goes when its uploader recalls it", async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const group = await alice.createGroup('Lab reports', ['bob@arts.campus.test']);
    const file = await alice.upload(new TextEncoder().encode('draft results'), 'draft.txt', 'text/plain');
    const shared = await alice.send({ conversationId: group.id, text: 'draft attached', attachments: [file.id] });

    // arts's node submits a message "from bob" that names alice's file (bob never had it).
    const submit = await signedPost(campus, 'arts', 'eng', '/federation/v1/submit', {
      conversationId: group.id,
      sender: 'bob@arts.campus.test',
      clientMsgId: 'forged-file-ref-1',
      kind: 'text',
      body: JSON.stringify({ text: 'me too', attachments: [file] }),
    });
    const submitted = await submit.send();
    expect(submitted.status).toBe(403);
    expect(await submitted.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect(await campus.nodes.eng.models.Message.count({ where: { clientMsgId: 'forged-file-ref-1' } })).toBe(0);

    await alice.recall(shared.messageId);
    expect((await download(alice, 'eng', file.id)).status).toBe(404);
    expect(await campus.nodes.eng.models.Attachment.count({ where: { id: file.id } })).toBe(0);
    alice.close();
    bob.close();
  });

  it("takes a recalled file back even if the conversation's home relayed a message of someone else naming it", async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const group = await bob.createGroup('Field notes', ['alice@eng.campus.test']);
    await expect
      .poll(async () => campus.nodes.eng.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    const file = await alice.upload(new TextEncoder().encode('my notes'), 'notes.txt', 'text/plain');
    const shared = await alice.send({ conversationId: group.id, text: 'my notes', attachments: [file.id] });

    // arts, the home, orders a message "from bob" naming alice's file, as if his node had described it, and
    // relays it to eng like any other.
    const arts = campus.nodes.arts;
    const bobHere = {
      kind: 'user' as const,
      sub: '',
      username: 'bob',
      name: 'bob',
      address: 'bob@arts.campus.test',
      sid: null,
      clientId: 'test',
      expiresAt: Number.MAX_SAFE_INTEGER,
    };
    const forged = await sendMessage(
      { ...arts.services, actor: bobHere },
      { conversationId: group.id, clientMsgId: 'relayed-file-ref-1', text: 'mine too' },
      { sharedFromSendersNode: [file] },
    );
    await expect
      .poll(async () => campus.nodes.eng.models.Message.count({ where: { id: forged.message.id } }), {
        timeout: 15_000,
      })
      .toBe(1);

    await alice.recall(shared.messageId);
    expect((await download(alice, 'eng', file.id)).status).toBe(404);
    expect((await download(bob, 'arts', file.id, 'eng.campus.test')).status).toBe(404);
    await expect.poll(() => existsSync(join(campus.nodes.eng.config.attachments.dir, file.id))).toBe(false);
    alice.close();
    bob.close();
  });

  it("deletes a file whose send to another college's home failed, once that home's later entries reach its node, and not before", async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const eng = campus.nodes.eng;
    const onEng = (id: string) => existsSync(join(eng.config.attachments.dir, id));
    const group = await bob.createGroup('Reading group', ['alice@eng.campus.test']);
    await expect
      .poll(async () => eng.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    const carried = await alice.upload(new TextEncoder().encode('chapter one'), 'one.txt', 'text/plain');
    const sent = await alice.send({ conversationId: group.id, text: 'chapter one', attachments: [carried.id] });
    await expect
      .poll(async () => eng.models.Message.count({ where: { id: sent.messageId } }), { timeout: 15_000 })
      .toBe(1);

    // The send binds the file at eng, then cannot reach arts, which orders the group's messages.
    const lost = await alice.upload(new TextEncoder().encode('chapter two'), 'two.txt', 'text/plain');
    await campus.stopProxy();
    try {
      await expect(
        alice.send({ conversationId: group.id, text: 'chapter two', attachments: [lost.id] }),
      ).rejects.toMatchObject({ code: 'federation_unavailable' });
    } finally {
      await campus.restartProxy();
    }

    // As if the sends were a day ago, and what eng holds of the group older still.
    const { unsharedKeepHours } = eng.config.attachments;
    const dayAgo = Date.now() - unsharedKeepHours * 3_600_000 - eng.config.recallWindowSeconds * 1000 - 60_000;
    await eng.models.Attachment.update(
      { unconfirmedSince: new Date(dayAgo) },
      { where: { id: [carried.id, lost.id] } },
    );
    await eng.models.Message.update({ createdAt: new Date(dayAgo - 600_000) }, { where: { conversationId: group.id } });
    // Nothing arts ordered after the failed send has reached eng: for all eng knows, arts took it.
    expect(await sweepUncarriedFiles(eng.services)).toBe(0);
    expect(onEng(lost.id)).toBe(true);

    const later = await bob.send({ conversationId: group.id, text: 'did you send chapter two?' });
    await expect
      .poll(async () => eng.models.Message.count({ where: { id: later.messageId } }), { timeout: 15_000 })
      .toBe(1);
    expect(await sweepUncarriedFiles(eng.services)).toBe(1);
    expect(onEng(lost.id)).toBe(false);
    expect(await eng.models.Attachment.count({ where: { id: lost.id } })).toBe(0);
    expect(await (await download(bob, 'arts', carried.id, 'eng.campus.test')).text()).toBe('chapter one');
    alice.close();
    bob.close();
  });

  it('refuses a file of a domain the federation policy keeps apart', async () => {
    const lena = await as('lena', 'law');
    const response = await download(lena, 'law', '00000000-0000-4000-8000-000000000000', 'arts.campus.test');
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: 'policy_denied' } });
    lena.close();
  });

  // Last in the file: law stays stopped.
  it('says a file could not be fetched, not that it may not have arrived, while its home is away', async () => {
    const alice = await as('alice', 'eng');
    await campus.stopNode('law');
    const response = await download(alice, 'eng', '00000000-0000-4000-8000-000000000000', 'law.campus.test');
    expect(response.status).toBe(503);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('federation_unavailable');
    expect(error.message).toMatch(/^law\.campus\.test could not be reached to fetch the file \(/);
    expect(error.message).not.toContain('may not have arrived');
    alice.close();
  });
});
