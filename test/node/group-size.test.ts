import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPeople, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';

const ALICE = 'alice@eng.campus.test';

let gateway: TestGateway;
let small: TestNode;

// A node with a small frame limit, so that a list of 150 addresses is longer than a frame.
beforeAll(async () => {
  gateway = await startTestGateway('im-group-size');
  small = await startTestNode(gateway, 'eng.campus.test', { MAX_FRAME_BYTES: '2048' });
  await addPeople(gateway, [...names('member', 150), ...names('late', 100)]);
});

const names = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
afterAll(async () => {
  await small?.stop();
  await gateway?.stop();
});

describe('member lists longer than a frame', () => {
  it('makes the whole group in one SDK call, the list going to the node in parts that each fit a frame', async () => {
    const owner = await connectAs(gateway, small, 'alice');
    try {
      const many = names('member', 150).map((u) => `${u}@eng.campus.test`);
      expect(JSON.stringify(many).length).toBeGreaterThan(2048);
      const group = await owner.createGroup('Lecture hall', many);
      // Beyond VIEW_MEMBERS_MAX (100) the view counts the members and lists only its viewer.
      expect(group.memberCount).toBe(151);
      expect(group.members.map((m) => m.address)).toEqual([ALICE]);
      const rows = await small.models.Member.findAll({ where: { conversationId: group.id, state: 'active' } });
      expect(rows.map((m) => m.address).sort()).toEqual([ALICE, ...many].sort());
      // One create, then invites: each part is an entry of its own, in order.
      const { messages } = await owner.history(group.id);
      const entries = [...messages].reverse();
      expect(entries[0]!.event).toBe('group.created');
      expect(entries.slice(1).every((m) => m.event === 'member.joined')).toBe(true);
      // Each entry counts whom it adds; once the group is beyond VIEW_MEMBERS_MAX (100) it names only the first 20.
      const added = entries.map((m) => (m.count as number | undefined) ?? (m.members as string[]).length);
      expect(added.reduce((a, b) => a + b, 0)).toBe(151);
      expect(entries.flatMap((m) => m.members as string[]).filter((a) => a !== ALICE)).toEqual(
        many.filter((a) => entries.some((m) => (m.members as string[]).includes(a))),
      );
      expect(entries.at(-1)!.members).toHaveLength(20);

      const more = names('late', 100).map((u) => `${u}@eng.campus.test`);
      const grown = await owner.invite(group.id, more);
      expect(grown.memberCount).toBe(251);
      expect((await owner.allMembers(group.id)).map((m) => m.address).sort()).toEqual([ALICE, ...many, ...more].sort());
      // A part the node refuses (here: people nobody has) stops the rest, and says how far it got.
      await expect(
        owner.invite(
          group.id,
          Array.from({ length: 100 }, (_, i) => `later-${i}@eng.campus.test`),
        ),
      ).rejects.toMatchObject({ code: 'unknown_address' });
    } finally {
      owner.close();
    }
  });
});
