import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
