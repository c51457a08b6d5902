import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Message } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';

let gateway: TestGateway;
let eng: TestNode;
beforeAll(async () => {
  gateway = await startTestGateway('im-removed');
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('a device that was away when its person was removed', () => {
  it('learns on its next sync to drop the conversation', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const dave = await connectAs(gateway, eng, 'dave');
    const group = await alice.createGroup('Temporary', ['dave@eng.campus.test']);
    await expect
      .poll(async () => (await dave.sync()).conversations.some((c) => c.id === group.id) || dave.cursors.has(group.id))
      .toBe(true);
    dave.close();

    await alice.removeMember(group.id, 'dave@eng.campus.test');
    const removed: string[] = [];
    dave.on('removed', (r) => removed.push(r.conversationId));
    await dave.connect();
    await expect.poll(() => removed).toEqual([group.id]);
    expect(dave.cursors.has(group.id)).toBe(false);
    alice.close();
    dave.close();
  });
});

describe('a device whose person was removed from a group and added back', () => {
  it('sees what is said from then on and settles, without a sync at every push', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const dave = await connectAs(gateway, eng, 'dave');
    const group = await alice.createGroup('Back again', ['dave@eng.campus.test']);
    const before = await alice.send({ conversationId: group.id, text: 'before' });
    await expect.poll(() => dave.cursors.get(group.id)).toBe(before.seq);
    const got: Message[] = [];
    dave.on('message', (m) => got.push(m));
    const requests = vi.spyOn(dave, 'request');

    await alice.removeMember(group.id, 'dave@eng.campus.test');
    const meanwhile = await alice.send({ conversationId: group.id, text: 'while Dave is out' });
    await alice.invite(group.id, ['dave@eng.campus.test']);
    // Dave's own sends are not pushed to his socket: their acks leave no hole either. Each round waits
    // longer than a catch-up does, so that every hole seen would cost a sync of its own.
    const said: string[] = [];
    for (let i = 0; i < 3; i++) {
      await dave.send({ conversationId: group.id, text: `dave ${i}` });
      said.push((await alice.send({ conversationId: group.id, text: `alice ${i}` })).messageId);
      await expect.poll(() => got.at(-1)?.id).toBe(said.at(-1));
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    const last = await eng.models.Conversation.findByPk(group.id);
    expect(dave.cursors.get(group.id)).toBe(last!.lastSeq);
    expect(got.map((m) => m.id)).not.toContain(meanwhile.messageId);
    expect(got.map((m) => m.id)).toEqual(expect.arrayContaining(said));
    console.log('SYNCS', requests.mock.calls.filter(([type]) => type === 'sync').length);
    expect(requests.mock.calls.filter(([type]) => type === 'sync').length).toBeLessThanOrEqual(1);
    alice.close();
    dave.close();
  });
});
