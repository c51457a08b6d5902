import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { createMemberCache } from '../../node/conversations/member-cache.ts';
import { createTestClock } from '../../core/clock.ts';

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('im-member-cache');
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('the member cache', () => {
  it('heals a missed membership event within its TTL, answering from the old entry while it reads again', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const direct = await alice.openDirect('dave@eng.campus.test');
    alice.close();
    const clock = createTestClock();
    const cache = createMemberCache(eng.models, { ttlMs: 100, now: clock.now });
    expect([...(await cache.of([direct.id])).get(direct.id)!].sort()).toEqual([
      'alice@eng.campus.test',
      'dave@eng.campus.test',
    ]);

    // A change the cache never hears about (as if its bus event were lost).
    await eng.models.Member.update(
      { state: 'left' },
      { where: { conversationId: direct.id, address: 'dave@eng.campus.test' } },
    );
    expect((await cache.of([direct.id])).get(direct.id)!.has('dave@eng.campus.test')).toBe(true);

    clock.advance(150);
    // Past the TTL: still answered at once from the old entry, which is read again meanwhile.
    expect((await cache.of([direct.id])).get(direct.id)!.has('dave@eng.campus.test')).toBe(true);
    await expect
      .poll(async () => (await cache.of([direct.id])).get(direct.id)!.has('dave@eng.campus.test'))
      .toBe(false);
  });
});
