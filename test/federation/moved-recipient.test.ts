import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import { addPerson } from '../helpers/gateway.ts';
import { fetchMe } from '../helpers/node.ts';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';

/**
 * Someone moved to another college, their chat with them (an administrator's "Move their chat"): the
 * people who wrote with them at their old address are told where they chat now when they write there,
 * rather than their messages waiting for good for someone who can no longer read them.
 */
const DAVE = 'dave@eng.campus.test';
const BOB = 'bob@arts.campus.test';
const ALICE = 'alice@eng.campus.test';
const FERN_ENG = 'fern@eng.campus.test';
const FERN_ARTS = 'fern@arts.campus.test';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
const ops = () => ({ ...campus.gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  campus = await startCampus('fed-moved');
  as = campusPeople(campus);
}, 60_000);
afterAll(async () => {
  as?.close();
  await campus?.stop();
});

describe('writing to someone whose chat moved to another college', () => {
  it('is refused with where they chat now, from their old college and from another; groups go on', {
    timeout: 30_000,
  }, async () => {
    await addPerson(campus.gateway, 'fern', { units: ['campus/eng/cs'] });
    const fern = await as('fern', 'eng');
    const dave = await as('dave', 'eng');
    const bob = await as('bob', 'arts');
    const withDave = (await fern.send({ to: DAVE, text: 'Lunch?' })).conversationId;
    const withBob = (await fern.send({ to: BOB, text: 'Hello from Engineering' })).conversationId;
    const group = await dave.createGroup('Robotics', [FERN_ENG, ALICE]);
    // Both nodes know Fern is at eng before the move: what they knew must not outlast it.
    await dave.send({ conversationId: withDave, text: 'Sure, at one' });
    await bob.send({ conversationId: withBob, text: 'Hello Fern' });
    const fernToken = await fern.login.tokenFor(campus.nodes.eng.url);

    await updateUser(ops(), 'fern', { units: ['campus/arts/music'], moveChat: true });
    await expect.poll(async () => (await fetchMe(campus.nodes.eng, fernToken)).status, { timeout: 5_000 }).toBe(401);

    const moved = {
      code: 'recipient_moved',
      message: `Test fern now chats at ${FERN_ARTS}: start a conversation there`,
    };
    // Fern's old college is told of the move and refuses at once.
    await expect(dave.send({ conversationId: withDave, text: 'Still on?' })).rejects.toMatchObject(moved);
    // Another college is not told: it asks the directory again within a minute of what it last knew.
    campus.advanceClocks(61_000);
    await expect(bob.send({ conversationId: withBob, text: 'Hi Fern' })).rejects.toMatchObject(moved);
    const sent = (node: 'eng' | 'arts', conversationId: string, sender: string) =>
      campus.nodes[node].models.Message.count({ where: { conversationId, sender } });
    expect(await sent('eng', withDave, DAVE)).toBe(1);
    expect(await sent('arts', withBob, BOB)).toBe(1);

    // Where they chat now takes the message; the group they were in goes on for the others.
    expect((await bob.send({ to: FERN_ARTS, text: 'Welcome to Arts' })).seq).toBe(1);
    expect((await dave.send({ conversationId: group.id, text: 'Meeting at four' })).seq).toBeGreaterThan(0);
  });
});
