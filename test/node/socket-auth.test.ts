import { importJWK, SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as client from 'openid-client';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  connectAs,
  fetchMe,
  login,
  portalClient,
  startTestNode,
  startTestNodeOn,
  type TestNode,
} from '../helpers/node.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { unusedUrls } from '../helpers/ports.ts';
import { frameId, openRaw } from '../helpers/raw-socket.ts';
import { actAfterClose, openUnanswering } from '../helpers/unanswering-socket.ts';
import { BrowserAgent, formWithAction, signIn } from '../helpers/browser-agent.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { listDomains } from '../../gateway/domains/domains.ts';
import { loadPrivateJwks } from '../../gateway/oidc/keys.ts';

// How long a raw socket's frames may take to arrive: a disable reaches the node through the gateway and Redis.
const WAIT = { timeout: 10_000 };
let gateway: TestGateway;
let eng: TestNode;
let arts: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('im-auth', { ACCESS_TOKEN_TTL_SECONDS: '4' });
  eng = await startTestNode(gateway, 'eng.campus.test', { AUTH_GRACE_SECONDS: '2' });
  arts = await startTestNode(gateway, 'arts.campus.test');
});
// Tests move the node's clock rather than wait; each starts again at the machine's time.
afterEach(() => eng.clock.reset());

afterAll(async () => {
  await eng?.stop();
  await arts?.stop();
  await gateway?.stop();
});

describe('socket authentication', () => {
  it('accepts a token in the first frame and answers with the address', async () => {
    const alice = await login(gateway, 'alice');
    const raw = await openRaw(eng.url);
    const id = frameId();
    raw.send({ v: 1, id, type: 'auth', token: await alice.tokenFor(eng.url) });
    const ready = await raw.next((f) => f.re === id);
    expect(ready).toMatchObject({ type: 'ready', address: 'alice@eng.campus.test' });
    raw.socket.close();
  });

  it('accepts a token in the subprotocol, as browsers send it', async () => {
    const alice = await login(gateway, 'alice');
    const raw = await openRaw(eng.url, ['atrium.v1', `atrium.token.${await alice.tokenFor(eng.url)}`]);
    expect(raw.socket.protocol).toBe('atrium.v1');
    await raw.next((f) => f.type === 'ready');
    raw.socket.close();
  });

  it('refuses anything before authentication and closes the socket', async () => {
    const raw = await openRaw(eng.url);
    raw.send({ v: 1, id: 'x1', type: 'send', clientMsgId: 'abcdefgh', to: 'dave@eng.campus.test', text: 'hi' });
    expect(await raw.next((f) => f.re === 'x1')).toMatchObject({ type: 'error', code: 'unauthenticated' });
    expect((await raw.closed).code).toBe(4401);
  });

  it('closes a socket whose token was issued for another node', async () => {
    const carol = await login(gateway, 'carol');
    const raw = await openRaw(eng.url);
    raw.send({ v: 1, id: 'a1', type: 'auth', token: await carol.tokenFor(arts.url) });
    expect(await raw.next((f) => f.re === 'a1')).toMatchObject({ type: 'error', code: 'unauthenticated' });
    expect((await raw.closed).code).toBe(4401);
  });

  it('refuses a person who does not belong to the domain: the gateway issues them no token for it', async () => {
    const bob = await login(gateway, 'bob');
    await expect(bob.tokenFor(eng.url)).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('refuses a forged token', async () => {
    const alice = await login(gateway, 'alice');
    const token = await alice.tokenFor(eng.url);
    const [header, payload] = token.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), preferred_username: 'dave' }),
    ).toString('base64url');
    const raw = await openRaw(eng.url);
    raw.send({ v: 1, id: 'g1', type: 'auth', token: `${header}.${forgedPayload}.${token.split('.')[2]}` });
    expect(await raw.next((f) => f.re === 'g1')).toMatchObject({ type: 'error', code: 'unauthenticated' });
    expect((await raw.closed).code).toBe(4401);
  });

  it('closes a socket whose token expires without re-authentication', async () => {
    const alice = await login(gateway, 'alice');
    const raw = await openRaw(eng.url);
    raw.send({ v: 1, id: 'e1', type: 'auth', token: await alice.tokenFor(eng.url) });
    await raw.next((f) => f.re === 'e1');
    // The token lives 4 s, and the node warns 2 s before: move its clock past the warning, then past the end.
    eng.clock.advance(2_100);
    await raw.next((f) => f.type === 'auth.expiring');
    eng.clock.advance(2_000);
    expect(await raw.closed).toEqual({ code: 4401, reason: 'token_expired' });
  });

  it('acts on nothing a client sends after its token expired, though the client ignores the close', async () => {
    const alice = await login(gateway, 'alice');
    const raw = await openUnanswering(eng.localUrl, ['atrium.v1', `atrium.token.${await alice.tokenFor(eng.url)}`]);
    await vi.waitFor(() => expect(raw.frames()).toContainEqual(expect.objectContaining({ type: 'ready' })), WAIT);
    eng.clock.advance(4_100);
    await vi.waitFor(() => expect(raw.closeCode()).toBe(4401), WAIT);

    expect(await actAfterClose(raw, eng)).toEqual({ stored: 0, answered: 0 });
  });

  it('cuts off within seconds a client that does not answer the close', async () => {
    const alice = await login(gateway, 'alice');
    const raw = await openUnanswering(eng.localUrl, ['atrium.v1', `atrium.token.${await alice.tokenFor(eng.url)}`]);
    await vi.waitFor(() => expect(raw.frames()).toContainEqual(expect.objectContaining({ type: 'ready' })), WAIT);
    eng.clock.advance(4_100);
    await vi.waitFor(() => expect(raw.closeCode()).toBe(4401), WAIT);
    const cut = await Promise.race([raw.ended.then(() => true), new Promise((r) => setTimeout(r, 5_000, false))]);
    raw.destroy();
    expect(cut).toBe(true);
  });

  it('refuses an expired token with token_expired, in the error and in the close reason alike', async () => {
    const alice = await login(gateway, 'alice');
    const token = await alice.tokenFor(eng.url);
    eng.clock.advance(5_000);
    const raw = await openRaw(eng.url);
    raw.send({ v: 1, id: 'x9', type: 'auth', token });
    expect(await raw.next((f) => f.re === 'x9')).toMatchObject({ type: 'error', code: 'token_expired' });
    expect(await raw.closed).toEqual({ code: 4401, reason: 'token_expired' });

    // Over HTTP: 401 with the same code, and an RFC 6750 challenge that tells the client to refresh.
    const response = await fetch(`${eng.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 'token_expired' } });
    expect(response.headers.get('www-authenticate')).toMatch(
      /^Bearer realm="atrium", error="invalid_token", error_description="[^"]*expired[^"]*"$/,
    );
  });

  it('refuses a token it cannot check while the gateway is away as a retry, never as a bad token', async () => {
    // Another process of eng's that has never reached its gateway: it holds none of the gateway's keys.
    const [away] = await unusedUrls(1);
    const logged: { level: number; msg: string; err?: unknown }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const cut = await startTestNodeOn(
      gateway,
      'eng.campus.test',
      eng.db,
      { GATEWAY_ISSUER: away!, NODE_PUBLIC_URL: eng.url },
      { logger },
    );
    try {
      const token = await (await login(gateway, 'alice')).tokenFor(eng.url);
      const raw = await openRaw(cut.localUrl);
      raw.send({ v: 1, id: 'u1', type: 'auth', token });
      expect(await raw.next((f) => f.re === 'u1')).toMatchObject({ type: 'error', code: 'gateway_unavailable' });
      expect(await raw.closed).toEqual({ code: 1013, reason: 'gateway_unavailable' });
      const response = await fetchMe(cut, token);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: { code: 'gateway_unavailable' } });
      expect(response.headers.get('www-authenticate')).toBeNull();
      // The operator hears of it once, not at every refused token.
      const told = logged.filter((l) => /signing keys cannot be fetched/.test(l.msg));
      expect(told).toHaveLength(1);
      // That its registry cannot be read is said once, and why peers were not told it is up not again.
      await vi.waitFor(() => expect(logged.some((l) => l.msg.startsWith('The gateway cannot be reached'))).toBe(true));
      expect(logged.filter((l) => l.err !== undefined || /could not tell peers/.test(l.msg))).toEqual([]);
    } finally {
      await cut.close();
    }
  });

  it('tells the operator of a node whose keys are not pinned what to do, once, without a stack', async () => {
    // The gateway refuses its registry, ended-sessions and app requests alike.
    const logged: { level: number; msg: string; err?: unknown }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    // A process of its own database, so of keys of its own, which the gateway has never pinned.
    const db = await createTestDatabase('unpinned');
    const unpinned = await startTestNodeOn(gateway, 'eng.campus.test', db, { NODE_PUBLIC_URL: eng.url }, { logger });
    try {
      // Alice's socket: whether the portal's client is still active cannot be asked, so it stays so.
      const raw = await openRaw(unpinned.localUrl);
      raw.send({ v: 1, id: 'p1', type: 'auth', token: await (await login(gateway, 'alice')).tokenFor(eng.url) });
      expect(await raw.next((f) => f.re === 'p1')).toMatchObject({ type: 'ready' });
      raw.socket.close();
      expect(logged.map((l) => [l.msg, l.err])).toEqual([
        [
          "This node's keys are not pinned at the gateway: run `atrium domains pin eng.campus.test` (the gateway answers HTTP 401 unknown_key)",
          undefined,
        ],
      ]);
    } finally {
      await unpinned.close();
      await db.drop();
    }
  });

  it("refuses a token signed with the gateway's key that lasts longer than the gateway issues, saying why", async () => {
    // The gateway's own token for alice, signed again with its key to last a month (as a leaked key could).
    const issued = await (await login(gateway, 'alice')).tokenFor(eng.url);
    // As the gateway issued it (ACCESS_TOKEN_TTL_SECONDS), it is within the node's limit.
    expect((await fetchMe(eng, issued)).status).toBe(200);
    const claims = JSON.parse(Buffer.from(issued.split('.')[1]!, 'base64url').toString()) as { iat: number };
    const [jwk] = await loadPrivateJwks(gateway.models, gateway.sealer);
    const month = await new SignJWT({ ...claims, exp: claims.iat + 30 * 86_400 })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk!.kid! })
      .sign(await importJWK(jwk!, 'RS256'));
    const told =
      'The access token would last 30 days, longer than this node accepts (24 h, MAX_TOKEN_LIFETIME_SECONDS): the gateway issues none so long; get a new one';

    const response = await fetchMe(eng, month);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 'unauthenticated', message: told } });
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer realm="atrium", error="invalid_token", error_description="${told}"`,
    );
    const raw = await openRaw(eng.url);
    raw.send({ v: 1, id: 'l1', type: 'auth', token: month });
    expect(await raw.next((f) => f.re === 'l1')).toMatchObject({
      type: 'error',
      code: 'unauthenticated',
      message: told,
    });
    expect((await raw.closed).code).toBe(4401);
  });

  it('answers a genuine token without scope im with 403 insufficient_scope, saying to ask for it', async () => {
    // The gateway's own token for alice, as a gateway that granted a node token without im signed it.
    const issued = await (await login(gateway, 'alice')).tokenFor(eng.url);
    const claims = JSON.parse(Buffer.from(issued.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const [jwk] = await loadPrivateJwks(gateway.models, gateway.sealer);
    const unscoped = await new SignJWT({ ...claims, scope: '' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk!.kid! })
      .sign(await importJWK(jwk!, 'RS256'));
    const told = `The access token lacks scope im, without which no node takes it: ask the gateway for scope im along with resource=${eng.url}`;

    const response = await fetchMe(eng, unscoped);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: 'forbidden', message: told } });
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer realm="atrium", error="insufficient_scope", scope="im", error_description="${told}"`,
    );
  });

  it('answers a request without a token with a bare challenge, and a bad token with invalid_token', async () => {
    const none = await fetch(`${eng.localUrl}/api/v1/me`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="atrium"');
    const bad = await fetch(`${eng.localUrl}/api/v1/conversations`, {
      headers: { authorization: 'Bearer not-a-token' },
    });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: { code: 'unauthenticated' } });
    // JSON that a browser never takes for a page or a script, whatever it holds.
    for (const answer of [none, bad]) expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    expect(bad.headers.get('www-authenticate')).toMatch(
      /^Bearer realm="atrium", error="invalid_token", error_description="[^"]+"$/,
    );
  });

  it('takes the token from the Authorization header only, refusing one in the query string or the body', async () => {
    const token = await (await login(gateway, 'alice')).tokenFor(eng.url);
    const inQuery = await fetch(`${eng.localUrl}/api/v1/me?access_token=${encodeURIComponent(token)}`);
    expect(inQuery.status).toBe(401);
    expect(await inQuery.json()).toMatchObject({
      error: { code: 'unauthenticated', message: expect.stringContaining('Authorization header') },
    });
    expect(inQuery.headers.get('www-authenticate')).toBe('Bearer realm="atrium"');
    // Refused even beside a good header: the token in the URL may already sit in a log.
    const both = await fetch(`${eng.localUrl}/api/v1/me?access_token=${encodeURIComponent(token)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(both.status).toBe(401);
    const inBody = await fetch(`${eng.localUrl}/api/v1/conversations`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: token, title: 'From a form' }),
    });
    expect(inBody.status).toBe(401);
    expect(await eng.models.Conversation.count({ where: { title: 'From a form' } })).toBe(0);
    const inHeader = await fetch(`${eng.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(await inHeader.json()).toMatchObject({ address: 'alice@eng.campus.test' });
  });

  it('keeps an SDK connection open across expiry by re-authenticating on the open socket', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    let reconnects = 0;
    alice.on('state', (s) => s === 'connecting' && reconnects++);
    await new Promise((r) => setTimeout(r, 5_500));
    expect(alice.state).toBe('online');
    expect(reconnects).toBe(0);
    const ack = await alice.send({ to: 'dave@eng.campus.test', text: 'still here' });
    expect(ack.seq).toBeGreaterThan(0);
    alice.close();
  });
});

describe('single logout', () => {
  it('closes the sockets of the signed-out session on every node, and only those', async () => {
    const portal = await portalClient(gateway);
    const agent = new BrowserAgent();
    const verifier = client.randomPKCECodeVerifier();
    const query = new URLSearchParams({
      redirect_uri: 'http://localhost:9/portal-cb',
      scope: 'openid profile atrium im offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 's1',
    });
    for (const d of await listDomains(gateway.context(null))) query.append('resource', d.url);
    const callback = await signIn(
      agent,
      client.buildAuthorizationUrl(portal, query).toString(),
      'http://localhost:9/portal-cb',
      'carol',
      DEMO_PASSWORD,
    );
    const tokens = await client.authorizationCodeGrant(portal, callback, {
      pkceCodeVerifier: verifier,
      expectedState: 's1',
    });
    let refresh = tokens.refresh_token!;
    const tokenFor = async (url: string) => {
      const r = await client.refreshTokenGrant(portal, refresh, { resource: url });
      refresh = r.refresh_token!;
      return r.access_token;
    };
    const engSocket = await openRaw(eng.url, ['atrium.v1', `atrium.token.${await tokenFor(eng.url)}`]);
    const artsSocket = await openRaw(arts.url, ['atrium.v1', `atrium.token.${await tokenFor(arts.url)}`]);
    await engSocket.next((f) => f.type === 'ready');
    await artsSocket.next((f) => f.type === 'ready');
    const other = await connectAs(gateway, eng, 'carol');

    const end = await agent.navigate(client.buildEndSessionUrl(portal, { id_token_hint: tokens.id_token! }).toString());
    await agent.submit(end, formWithAction(end, '/session/end/confirm'), { logout: 'yes' });

    expect((await engSocket.closed).code).toBe(4409);
    expect((await artsSocket.closed).code).toBe(4409);
    expect(engSocket.frames.some((f) => f.type === 'session.ended')).toBe(true);
    expect(other.state).toBe('online');
    other.close();
  });
});
