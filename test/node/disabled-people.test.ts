import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operator } from '../../gateway/context.ts';
import { setUserStatus } from '../../gateway/accounts/update-user.ts';
import { connectAs, login, startEngAndArts, type EngAndArts } from '../helpers/node.ts';

const ENG = 'eng.campus.test';
let stack: EngAndArts;
const ops = () => ({ ...stack.gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  stack = await startEngAndArts('disabled-people', { people: ['kim', 'lou', 'max', 'ned'] });
});
afterAll(async () => stack?.stop());

/** What eng's directory answers `asker` (`?usernames=…` as the portal names people, `?q=` as it searches). */
async function ask(asker: string, query: string) {
  const token = await (await login(stack.gateway, asker)).tokenFor(stack.eng.url);
  const response = await fetch(`${stack.eng.localUrl}/api/v1/directory?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as {
    people: { username: string; name: string }[];
    former?: unknown[];
    disabled?: { username: string; name: string; addresses: string[]; disabled: true }[];
  };
}

describe('a disabled account in chat', () => {
  it('keeps its name in a lookup by usernames, marked disabled, while no search finds it and nobody starts a chat with it', async () => {
    const kim = await connectAs(stack.gateway, stack.eng, 'kim');
    const max = await connectAs(stack.gateway, stack.eng, 'max');
    const direct = await kim.openDirect(`lou@${ENG}`);
    await setUserStatus(ops(), 'lou', 'disabled');
    await setUserStatus(ops(), 'ned', 'disabled');

    // Named as before, apart from the people (whom a node opens conversations with), and nothing more.
    const named = await ask('kim', 'usernames=lou,max');
    expect(named.people.map((p) => p.username)).toEqual(['max']);
    expect(named.former).toEqual([]);
    expect(named.disabled).toEqual([{ username: 'lou', name: 'Test lou', addresses: [`lou@${ENG}`], disabled: true }]);

    // A search does not find them: nobody should begin a conversation with them.
    const found = await ask('kim', 'q=lou');
    expect(found.people.map((p) => p.username)).not.toContain('lou');
    expect(found.disabled).toBeUndefined();
    // (A node remembers an address it found for a minute: ned, whom nobody wrote to before, is asked about.)
    await expect(max.openDirect(`ned@${ENG}`)).rejects.toMatchObject({ code: 'unknown_address' });

    // The conversation they were in still takes messages: they wait for the account to be enabled again.
    const ack = await kim.send({ conversationId: direct.id, text: 'For when you are back' });
    expect(ack.seq).toBeGreaterThan(0);

    await setUserStatus(ops(), 'lou', 'active');
    const again = await ask('kim', 'usernames=lou');
    expect(again.people.map((p) => [p.username, p.name])).toEqual([['lou', 'Test lou']]);
    expect(again.disabled).toEqual([]);
    kim.close();
    max.close();
  });
});
