import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestClock } from '../../core/clock.ts';
import { createMigrator } from '../../core/migrator.ts';
import { campusPeople, signedPost, startCampus, type Campus } from '../helpers/federation.ts';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
type Device = Awaited<ReturnType<typeof as>>;

/** A download through the person's own node of `node`, as the portal asks for it. */
async function download(who: Device, node: 'eng' | 'arts', id: string, from?: string): Promise<Response> {
  const base = campus.nodes[node].url;
  const query = from ? `?from=${encodeURIComponent(from)}` : '';
  return fetch(`${base}/api/v1/attachments/${id}${query}`, {
    headers: { authorization: `Bearer ${await who.login.tokenFor(base)}` },
  });
}

/** The message as `who`'s node presents it now (its history). */
async function asShown(who: Device, conversationId: string, messageId: string) {
  return (await who.history(conversationId)).messages.find((m) => m.id === messageId);
}

beforeAll(async () => {
  campus = await startCampus('fed-removed-files');
  as = campusPeople(campus);
});
afterAll(async () => {
  as?.close();
  await campus?.stop();
});

describe('a file deleted by the person who shared it, across colleges', () => {
  it('shows removed to members of another college when the conversation is hosted there, and their node answers 410', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const group = await bob.createGroup('Studio crits', ['alice@eng.campus.test']);
    await expect
      .poll(async () => campus.nodes.eng.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    const file = await alice.upload(new TextEncoder().encode('old render'), 'render.txt', 'text/plain');
    const ack = await alice.send({ conversationId: group.id, text: 'the render', attachments: [file.id] });
    await expect.poll(() => bob.messages.some((m) => m.id === ack.messageId)).toBe(true);
    await expect
      .poll(async () => campus.nodes.eng.models.Message.count({ where: { id: ack.messageId } }), { timeout: 15_000 })
      .toBe(1);
    const told: unknown[] = [];
    bob.on('fileRemoved', (removal) => told.push(removal));

    await alice.deleteFile(file.id);
    await expect
      .poll(() => told, { timeout: 15_000 })
      .toEqual([{ conversationId: group.id, messageId: ack.messageId, attachmentId: file.id }]);
    expect((await asShown(bob, group.id, ack.messageId))?.attachments).toEqual([{ ...file, removed: true }]);
    await expect
      .poll(async () => (await asShown(alice, group.id, ack.messageId))?.attachments, { timeout: 15_000 })
      .toEqual([{ ...file, removed: true }]);

    const refused = await download(bob, 'arts', file.id, 'eng.campus.test');
    expect(refused.status).toBe(410);
    expect(await refused.json()).toMatchObject({
      error: { code: 'attachment_removed', message: 'The sender removed this file' },
    });
    expect(existsSync(join(campus.nodes.eng.config.attachments.dir, file.id))).toBe(false);
  });

  it('tells the copies of another college when the conversation is hosted at the file’s node, and refuses that college a removal for someone else', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const conversation = await alice.openDirect('bob@arts.campus.test');
    expect(conversation.homeDomain).toBe('eng.campus.test');
    const [kept, gone] = [
      await alice.upload(new TextEncoder().encode('keep'), 'keep.txt', 'text/plain'),
      await alice.upload(new TextEncoder().encode('drop'), 'drop.txt', 'text/plain'),
    ];
    const ack = await alice.send({ conversationId: conversation.id, text: 'two', attachments: [kept.id, gone.id] });
    await expect.poll(() => bob.messages.some((m) => m.id === ack.messageId), { timeout: 15_000 }).toBe(true);

    // arts's node speaks for bob, who did not share the file: the home refuses, and nothing changes.
    const forged = await signedPost(campus, 'arts', 'eng', '/federation/v1/submit', {
      conversationId: conversation.id,
      sender: 'bob@arts.campus.test',
      clientMsgId: 'forged-removal-1',
      kind: 'file.removed',
      body: JSON.stringify({ attachmentId: kept.id }),
      refId: ack.messageId,
    });
    const answer = await forged.send();
    expect(answer.status).toBe(403);
    expect(await answer.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect((await asShown(alice, conversation.id, ack.messageId))?.attachments).toEqual([kept, gone]);

    await alice.deleteFile(gone.id);
    await expect
      .poll(async () => (await asShown(bob, conversation.id, ack.messageId))?.attachments, { timeout: 15_000 })
      .toEqual([kept, { ...gone, removed: true }]);
    expect((await download(bob, 'arts', gone.id, 'eng.campus.test')).status).toBe(410);
    expect(await (await download(bob, 'arts', kept.id, 'eng.campus.test')).text()).toBe('keep');
  });
});

describe('a file deleted while the conversation’s home is out of reach', () => {
  /**
   * A group hosted at arts with alice and dave of eng and bob of arts, holding alice's message with a file,
   * as every node has it; then arts goes down.
   */
  async function sharedThenArtsDown(title: string) {
    const bob = await as('bob', 'arts');
    const group = await bob.createGroup(title, ['alice@eng.campus.test', 'dave@eng.campus.test']);
    await expect
      .poll(async () => campus.nodes.eng.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    const alice = await as('alice', 'eng');
    const file = await alice.upload(new TextEncoder().encode('draft plan'), 'plan.txt', 'text/plain');
    const ack = await alice.send({ conversationId: group.id, text: 'the plan', attachments: [file.id] });
    await expect
      .poll(async () => campus.nodes.eng.models.Message.count({ where: { id: ack.messageId } }), { timeout: 15_000 })
      .toBe(1);
    await campus.stopNode('arts');
    return { alice, group, file, messageId: ack.messageId };
  }

  /** What each member sees of the message once arts is back: bob at the home, dave at eng. */
  async function expectShownRemovedEverywhere(groupId: string, messageId: string, file: object) {
    const [bob, dave] = [await as('bob', 'arts'), await as('dave', 'eng')];
    const removed = [{ ...file, removed: true }];
    await expect
      .poll(async () => (await asShown(bob, groupId, messageId))?.attachments, { timeout: 20_000 })
      .toEqual(removed);
    await expect
      .poll(async () => (await asShown(dave, groupId, messageId))?.attachments, { timeout: 15_000 })
      .toEqual(removed);
    const entries = await campus.nodes.arts.models.Message.count({ where: { refId: messageId, kind: 'file.removed' } });
    expect(entries).toBe(1);
  }

  it('is marked removed at the home as soon as the home is back, with one entry, though its next try was far off', async () => {
    const { alice, group, file, messageId } = await sharedThenArtsDown('Away crits');
    await alice.deleteFile(file.id);
    expect((await download(alice, 'eng', file.id)).status).toBe(410);
    // As after a long outage: eng's next try is minutes away; arts saying it is back is what brings it on.
    await campus.nodes.eng.models.RemovedAttachment.update(
      { tellAfter: new Date(Date.now() + 10 * 60_000) },
      { where: { id: file.id } },
    );

    await campus.restartNode('arts');
    await expectShownRemovedEverywhere(group.id, messageId, file);
  });

  it('is marked removed at the home after the person’s own node restarted meanwhile', async () => {
    const { alice, group, file, messageId } = await sharedThenArtsDown('Away reviews');
    await alice.deleteFile(file.id);
    // Its first try failed (arts is down): eng tries again after a backoff, a few seconds by its clock.
    const { tellAfter } = (await campus.nodes.eng.models.RemovedAttachment.findByPk(file.id))!;
    expect(tellAfter).not.toBeNull();
    alice.close();
    await campus.stopNode('eng');
    await campus.restartNode('arts');
    // Eng is back once that try is due (as after an outage past it, rather than waiting it out): what it
    // kept through the restart goes as it starts.
    const clock = createTestClock();
    clock.advance(Math.max(0, tellAfter!.getTime() - clock.now()));
    await campus.restartNode('eng', { clock });

    await expectShownRemovedEverywhere(group.id, messageId, file);
  });

  it('is marked removed at the home when it was deleted before the node kept removals to tell', async () => {
    const { alice, group, file, messageId } = await sharedThenArtsDown('Away drafts');
    await alice.deleteFile(file.id);
    // As deleted before node migration 0150: nothing noted of its home still to be told.
    const migrator = createMigrator(campus.nodes.eng.sequelize, 'node');
    await migrator.down({ to: '0150-file-removal-notices.ts' });
    await migrator.up();
    expect((await campus.nodes.eng.models.RemovedAttachment.findByPk(file.id))?.untoldHome).toBe('arts.campus.test');

    await campus.restartNode('arts');
    // Eng looks for removals due every 5 s by its clock: moved past that (and past a first retry's backoff,
    // should it have tried while arts was down), it looks now.
    campus.nodes.eng.clock.advance(7_000);
    await expectShownRemovedEverywhere(group.id, messageId, file);
  });
});
