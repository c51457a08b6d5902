import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { login, startTestNode, type TestNode } from '../helpers/node.ts';
import { frameId, openRaw, type RawSocket } from '../helpers/raw-socket.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { removeDomain } from '../../gateway/domains/remove-domain.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { allowPair } from '../../gateway/federation/policy.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { signRequest } from '../../protocol/signature.ts';

/*
 * An administrator removes a domain (a college's chat node) at the gateway. The gateway issues nothing for
 * it from then on; the other nodes stop trusting it once they read the registry again; and the removed node,
 * which checks the tokens it was given itself, learns it at its next signed request to the gateway and stops
 * serving, instead of taking the tokens it had until they expire.
 */
const ARTS = 'arts.campus.test';
let gateway: TestGateway;
let eng: TestNode;
let arts: TestNode;
const ops = () => ({ ...gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  gateway = await startTestGateway('removed-domain');
  // Registries read again after a second, and arts asks the gateway every second, rather than every 30 and 15.
  eng = await startTestNode(gateway, 'eng.campus.test', { REGISTRY_TTL_SECONDS: '1' });
  arts = await startTestNode(gateway, ARTS, { REGISTRY_TTL_SECONDS: '1', ENDED_ACCESS_POLL_SECONDS: '1' });
  await allowPair(ops(), { a: 'eng.campus.test', b: ARTS });
  await createUser(ops(), {
    username: 'mia',
    displayName: 'Mia Moss',
    email: 'mia@campus.test',
    password: DEMO_PASSWORD,
    roles: ['student'],
    units: ['campus/eng/cs', 'campus/arts/music'],
  });
});
afterAll(async () => {
  await eng?.stop();
  await arts?.stop();
  await gateway?.stop();
});

const me = (node: TestNode, token: string) =>
  fetch(`${node.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });

async function openSocket(node: TestNode, token: string): Promise<RawSocket> {
  const socket = await openRaw(node.url, ['atrium.v1', `atrium.token.${token}`]);
  await socket.next((f) => f.type === 'ready');
  return socket;
}

/** A typing notice from arts straight at eng, signed with arts's own key: what eng answers. */
async function typingFromArts(): Promise<{ status: number; code?: string }> {
  const body = JSON.stringify({ conversationId: 'none-such', address: `mia@${ARTS}` });
  const path = '/federation/v1/typing';
  const headers = signRequest(await arts.federation.keys.documentSigner(), {
    method: 'POST',
    path,
    origin: ARTS,
    destination: eng.domain,
    body,
  });
  const response = await fetch(`${eng.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const answer = (await response.json().catch(() => ({}))) as { error?: { code: string } };
  return { status: response.status, code: answer.error?.code };
}

describe('a domain removed at the gateway', () => {
  it('gets no token from then on, and its node ends its sockets and refuses the tokens it had', async () => {
    const who = await login(gateway, 'mia');
    const token = await who.tokenFor(arts.url);
    const socket = await openSocket(arts, token);
    expect((await me(arts, token)).status).toBe(200);
    // Eng trusts arts once its registry holds arts's pinned keys (read again every second here; a loaded
    // machine may start arts after eng's first read).
    await expect
      .poll(async () => (await typingFromArts()).code ?? 'taken', { timeout: 10_000 })
      .not.toMatch(/^(unsigned|bad_signature|unknown_key|unknown_origin)$/);

    await removeDomain(ops(), ARTS, { movePeople: true });

    // The gateway issues nothing for it from the very next request; the person's other domains go on.
    await expect(who.tokenFor(arts.url)).rejects.toMatchObject({ error: 'invalid_target' });
    expect((await me(eng, await who.tokenFor(eng.url))).status).toBe(200);

    // The node learns it at its next request to the gateway, and serves no one: the socket is told why.
    const ended = await socket.next((f) => f.type === 'session.ended', 10_000);
    expect(ended).toMatchObject({ reason: 'domain_removed' });
    // Closed as for someone moved off the domain (their other domains go on), which every client knows.
    expect(await socket.closed).toEqual({ code: 4403, reason: 'left_domain' });
    const refused = await me(arts, token);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'forbidden',
      message: `${ARTS} was removed from the campus: this node serves no one any more`,
    });
    const late = await openRaw(arts.url);
    const id = frameId();
    late.send({ v: 1, id, type: 'auth', token });
    expect(await late.next((f) => f.re === id)).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await late.closed).toEqual({ code: 4403, reason: 'forbidden' });

    // Another node stops trusting it once it reads the registry again (REGISTRY_TTL_SECONDS, 1 s here), and
    // sends it nothing.
    await expect.poll(async () => (await typingFromArts()).code, { timeout: 5_000 }).toBe('unknown_key');
    const onEng = await openSocket(eng, await who.tokenFor(eng.url));
    const send = frameId();
    onEng.send({
      v: 1,
      id: send,
      type: 'send',
      clientMsgId: 'to-removed-0001',
      to: `mia@${ARTS}`,
      text: 'still there?',
    });
    expect(await onEng.next((f) => f.re === send)).toMatchObject({ type: 'error', code: 'federation_denied' });
    onEng.socket.close();
  });

  it('serves again once it is added back and its keys are pinned', async () => {
    await addDomain(ops(), { name: ARTS, url: arts.url, units: ['campus/arts'] });
    await pinDomainKeys(ops(), ARTS);
    const who = await login(gateway, 'mia');
    const token = await who.tokenFor(arts.url);
    await expect.poll(async () => (await me(arts, token)).status, { timeout: 5_000 }).toBe(200);
    const socket = await openSocket(arts, token);
    socket.socket.close();
  });
});
