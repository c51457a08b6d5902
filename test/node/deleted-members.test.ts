import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operator } from '../../gateway/context.ts';
import { deleteAccount } from '../../gateway/accounts/delete-account.ts';
import { connectAs, login, startEngAndArts, type EngAndArts } from '../helpers/node.ts';

const ENG = 'eng.campus.test';
const ARTS = 'arts.campus.test';
const WAIT = { timeout: 10_000 };
let stack: EngAndArts;
const ops = () => ({ ...stack.gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  stack = await startEngAndArts('deleted-members', { people: ['gia', 'hal', 'ivy', 'jo'] });
});
afterAll(async () => stack?.stop());

/** What a node's directory answers `asker` about these usernames (the portal's lookup of names). */
async function lookUp(asker: string, usernames: string[]) {
  const token = await (await login(stack.gateway, asker)).tokenFor(stack.eng.url);
  const response = await fetch(`${stack.eng.localUrl}/api/v1/directory?usernames=${usernames.join(',')}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as {
    people: { username: string; name: string }[];
    former: { username: string; name: string; addresses: string[] }[];
  };
}

describe('a deleted account in chat', () => {
  it('leaves its groups on every node, an owner passing the group on, and its messages stay from a former member', async () => {
    const gia = await connectAs(stack.gateway, stack.eng, 'gia');
    const hal = await connectAs(stack.gateway, stack.eng, 'hal');
    const ivyArts = await connectAs(stack.gateway, stack.arts, 'ivy');
    const engGroup = await gia.createGroup('Robotics', [`hal@${ENG}`, `ivy@${ENG}`]);
    const artsGroup = await ivyArts.createGroup('Choir', [`gia@${ARTS}`, `hal@${ARTS}`]);
    await gia.send({ conversationId: engGroup.id, text: 'Meeting at five' });

    expect((await lookUp('hal', ['gia'])).people.map((p) => p.name)).toEqual(['Test gia']);
    await deleteAccount(ops(), 'gia');

    // The group gia owned on eng passes to the longest-standing member; on arts, gia simply leaves.
    const active = (node: EngAndArts['eng'], conversationId: string) =>
      node.models.Member.findAll({ where: { conversationId, state: 'active' }, order: [['address', 'ASC']] });
    await expect
      .poll(async () => (await active(stack.eng, engGroup.id)).map((m) => [m.address, m.role]), WAIT)
      .toEqual([
        [`hal@${ENG}`, 'owner'],
        [`ivy@${ENG}`, 'member'],
      ]);
    await expect
      .poll(async () => (await active(stack.arts, artsGroup.id)).map((m) => m.address), WAIT)
      .toEqual([`hal@${ARTS}`, `ivy@${ARTS}`]);

    // What gia wrote stays, and the directory answers gia as a former member, never as a person.
    const { messages } = await hal.history(engGroup.id);
    expect(messages.some((m) => m.sender === `gia@${ENG}` && m.text === 'Meeting at five')).toBe(true);
    expect(messages.find((m) => m.event === 'member.left')).toMatchObject({
      kind: 'system',
      members: [`gia@${ENG}`],
      owner: `hal@${ENG}`,
    });
    const answer = await lookUp('hal', ['gia', 'jo']);
    expect(answer.people.map((p) => p.username)).toEqual(['jo']);
    // At the addresses the asking node's policy lets it see, as for people.
    expect(answer.former).toEqual([{ username: 'gia', name: 'Former member', addresses: [`gia@${ENG}`] }]);
    const tombstone = await stack.gateway.models.DeletedAccount.findByPk('gia');
    expect(JSON.parse(tombstone!.addresses)).toEqual([`gia@${ENG}`, `gia@${ARTS}`]);
    gia.close();
    hal.close();
    ivyArts.close();
  });
});
