import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { addPerson, registerTestApp, type TestGateway } from '../helpers/gateway.ts';
import {
  ENG_AND_ARTS_UNITS,
  fetchMe,
  login,
  portalClient,
  startEngAndArts,
  type EngAndArts,
  type Login,
  type TestNode,
} from '../helpers/node.ts';
import { frameId, openRaw, openSignedIn } from '../helpers/raw-socket.ts';
import { actAfterClose, openUnanswering } from '../helpers/unanswering-socket.ts';
import { formWithAction } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { operator } from '../../gateway/context.ts';
import { resetPassword, updateUser } from '../../gateway/accounts/update-user.ts';
import { AtriumClient } from '../../sdk/client.ts';
import { signedGatewayRequest } from '../../protocol/signature.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { removeAppAccess } from '../../gateway/oidc/allowed-apps.ts';
import { createEndedAccess } from '../../node/auth/ended-access.ts';
import { createLocalBus } from '../../node/bus/local-bus.ts';

const APP_REDIRECT = 'http://localhost:9/planner';
// How long a raw socket's frames may take to arrive: a disable reaches the node through the gateway and Redis.
const WAIT = { timeout: 10_000 };
let stack: EngAndArts;
let gateway: TestGateway;
let eng: TestNode;
let arts: TestNode;
const ops = () => ({ ...gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  stack = await startEngAndArts('ended-access', { people: ['erin', 'fred', 'gwen', 'hugo', 'ines'] });
  ({ gateway, eng, arts } = stack);
});
afterAll(async () => {
  await stack?.stop();
});

/** What a node says about a token that was ended: HTTP and a new socket alike. */
async function expectRefusedAsEnded(node: TestNode, token: string) {
  const response = await fetchMe(node, token);
  expect(response.status).toBe(401);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe('token_revoked');
  expect(response.headers.get('www-authenticate')).toMatch(
    /^Bearer realm="atrium", error="invalid_token", error_description="[^"]+"$/,
  );
  const socket = await openRaw(node.url);
  const id = frameId();
  socket.send({ v: 1, id, type: 'auth', token });
  expect(await socket.next((f) => f.re === id)).toMatchObject({ type: 'error', code: 'token_revoked' });
  expect(await socket.closed).toEqual({ code: 4401, reason: 'token_revoked' });
}

/** A person signed in at the gateway with an open socket on both nodes. */
async function signedInEverywhere(username: string) {
  const who: Login = await login(gateway, username);
  const tokens = { eng: await who.tokenFor(eng.url), arts: await who.tokenFor(arts.url) };
  const sockets = { eng: await openSignedIn(eng.url, tokens.eng), arts: await openSignedIn(arts.url, tokens.arts) };
  expect((await fetchMe(eng, tokens.eng)).status).toBe(200);
  return { who, tokens, sockets };
}

describe('disabling a person', () => {
  it('closes their sockets on every node within seconds, and every node refuses their tokens', async () => {
    const { who, tokens, sockets } = await signedInEverywhere('erin');
    const bystander = await signedInEverywhere('fred');

    const started = Date.now();
    await updateUser(ops(), 'erin', { status: 'disabled' });
    expect(await sockets.eng.closed).toEqual({ code: 4409, reason: 'session_ended' });
    expect(await sockets.arts.closed).toEqual({ code: 4409, reason: 'session_ended' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(sockets.eng.frames).toContainEqual(
      expect.objectContaining({ type: 'session.ended', reason: 'access_ended' }),
    );

    await expectRefusedAsEnded(eng, tokens.eng);
    await expectRefusedAsEnded(arts, tokens.arts);
    const group = await fetch(`${eng.localUrl}/api/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.eng}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'After the end', members: ['alice@eng.campus.test'] }),
    });
    expect(group.status).toBe(401);
    expect(await eng.models.Conversation.count({ where: { title: 'After the end' } })).toBe(0);

    // Nobody else is touched.
    expect(bystander.sockets.eng.socket.readyState).toBe(bystander.sockets.eng.socket.OPEN);
    expect((await fetchMe(eng, bystander.tokens.eng)).status).toBe(200);
    bystander.sockets.eng.socket.close();
    bystander.sockets.arts.socket.close();

    // The refresh token is gone, and enabling the account again does not bring it back.
    await expect(who.tokenFor(eng.url)).rejects.toMatchObject({ error: 'invalid_grant' });
    await updateUser(ops(), 'erin', { status: 'active' });
    await expect(who.tokenFor(eng.url)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expectRefusedAsEnded(eng, tokens.eng);

    // An SDK left with the ended token stops trying after a few attempts instead of reconnecting for ever.
    const sdk = new AtriumClient({
      url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`,
      token: () => tokens.eng,
      backoff: { initialMs: 20, maxMs: 40 },
    });
    await expect(sdk.connect()).rejects.toMatchObject({ code: 'token_revoked' });
    sdk.close();
  });

  it('acts on nothing their socket sends after the close, though their client ignores it', async () => {
    const who = await login(gateway, 'ines');
    const raw = await openUnanswering(eng.localUrl, ['atrium.v1', `atrium.token.${await who.tokenFor(eng.url)}`]);
    await vi.waitFor(() => expect(raw.frames()).toContainEqual(expect.objectContaining({ type: 'ready' })), WAIT);
    await updateUser(ops(), 'ines', { status: 'disabled' });
    await vi.waitFor(() => expect(raw.closeCode()).toBe(4409), WAIT);

    expect(await actAfterClose(raw, eng)).toEqual({ stored: 0, answered: 0 });
  });
});

describe('a password reset', () => {
  it('ends the old refresh token, the old gateway session and the tokens already issued', async () => {
    const { who, tokens, sockets } = await signedInEverywhere('gwen');
    await resetPassword(ops(), 'gwen', 'gwen-brand-new-password');

    expect(await sockets.eng.closed).toEqual({ code: 4409, reason: 'session_ended' });
    await expectRefusedAsEnded(eng, tokens.eng);
    await expect(who.tokenFor(eng.url)).rejects.toMatchObject({ error: 'invalid_grant' });

    // The browser that signed in with the old password meets the login form, not a silent sign-in.
    const portal = await portalClient(gateway);
    const again = await who.agent.navigate(
      client
        .buildAuthorizationUrl(portal, {
          redirect_uri: 'http://localhost:9/portal-cb',
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
          code_challenge_method: 'S256',
        })
        .toString(),
      {},
      'http://localhost:9/portal-cb',
    );
    expect(again.url).not.toContain('portal-cb');
    expect(again.html).toContain('/login"');
    sockets.arts.socket.close();
  });
});

describe('atrium users sign-out', () => {
  it('signs the person out everywhere, and a running gateway tells the nodes within seconds', async () => {
    const { who, tokens, sockets } = await signedInEverywhere('hugo');
    const result = await runAtrium(gateway.db, ['users', 'sign-out', 'hugo']);
    expect(result.stdout).toContain('Signed hugo out everywhere.');
    expect(result.code).toBe(0);

    expect(await sockets.eng.closed).toEqual({ code: 4409, reason: 'session_ended' });
    expect(await sockets.arts.closed).toEqual({ code: 4409, reason: 'session_ended' });
    await expectRefusedAsEnded(arts, tokens.arts);
    await expect(who.tokenFor(eng.url)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(
      await gateway.models.AuditEvent.count({ where: { action: 'user.sign_out_everywhere', target: 'hugo' } }),
    ).toBe(1);

    // The account itself is fine: hugo signs in again and chats.
    await new Promise((r) => setTimeout(r, 1_000));
    const fresh = await login(gateway, 'hugo');
    expect((await fetchMe(eng, await fresh.tokenFor(eng.url))).status).toBe(200);
  });
});

describe('signing out at the gateway', () => {
  it('ends the session: its unexpired access token no longer opens sockets or HTTP calls', async () => {
    const who = await login(gateway, 'alice');
    const token = await who.tokenFor(eng.url);
    expect((await fetchMe(eng, token)).status).toBe(200);
    const portal = await portalClient(gateway);
    const end = await who.agent.navigate(client.buildEndSessionUrl(portal, { id_token_hint: who.idToken }).toString());
    await who.agent.submit(end, formWithAction(end, '/session/end/confirm'), { logout: 'yes' });

    await expect.poll(async () => (await fetchMe(eng, token)).status, { timeout: 5_000 }).toBe(401);
    await expectRefusedAsEnded(eng, token);
  });
});

/** The ended access the gateway lists for a node (its signed request, as its poller makes it). */
async function endedFeedOf(node: TestNode): Promise<{ kind: string; subject: string; reason?: string }[]> {
  const asker = {
    gatewayIssuer: gateway.issuer,
    origin: node.domain,
    signingKey: () => node.federation.keys.signingKey(),
  };
  const response = await fetch(await signedGatewayRequest(asker, 'GET', '/federation/v1/ended-access?after=0'));
  expect(response.status).toBe(200);
  return ((await response.json()) as { entries: { kind: string; subject: string; reason?: string }[] }).entries;
}

describe("moving a person off a domain's units", () => {
  it("closes their sockets on that domain's node alone, which refuses the tokens it had, and the rest goes on", async () => {
    await addPerson(gateway, 'kate', { units: ENG_AND_ARTS_UNITS });
    const { who, tokens, sockets } = await signedInEverywhere('kate');

    await updateUser(ops(), 'kate', { units: ['campus/arts/music'], moveChat: true });
    expect(await sockets.eng.closed).toEqual({ code: 4403, reason: 'left_domain' });
    expect(sockets.eng.frames).toContainEqual(
      expect.objectContaining({ type: 'session.ended', reason: 'left_domain' }),
    );
    await expectRefusedAsEnded(eng, tokens.eng);

    // Their other domain, and their gateway session, go on.
    expect(sockets.arts.socket.readyState).toBe(sockets.arts.socket.OPEN);
    expect((await fetchMe(arts, tokens.arts)).status).toBe(200);
    expect((await fetchMe(arts, await who.tokenFor(arts.url))).status).toBe(200);
    // What a node fetches of the ended access (as after a restart): eng's entry is eng's alone.
    const sub = (await gateway.models.User.findOne({ where: { username: 'kate' } }))!.id;
    expect((await endedFeedOf(eng)).filter((e) => e.subject === sub)).toEqual([
      expect.objectContaining({ kind: 'sub', reason: 'left_domain' }),
    ]);
    expect((await endedFeedOf(arts)).filter((e) => e.subject === sub)).toEqual([]);
    sockets.arts.socket.close();
    await expect(who.tokenFor(eng.url)).rejects.toMatchObject({ error: 'invalid_target' });
  });
});

describe("removing one app's access", () => {
  it("ends the chat tokens that app holds for the person at once; their other apps' tokens go on", async () => {
    const app = await registerTestApp(gateway, { name: 'Study Planner', redirectUris: [APP_REDIRECT] });
    const planner = await discover(gateway.issuer, app.clientId, app.clientSecret);
    await addPerson(gateway, 'lena', { units: ENG_AND_ARTS_UNITS });
    const { who, tokens, sockets } = await signedInEverywhere('lena');
    const { tokens: granted } = await codeFlow(planner, APP_REDIRECT, 'lena', {
      scope: 'openid im offline_access',
      resource: eng.url,
    });
    const appToken = (await client.refreshTokenGrant(planner, granted.refresh_token!, { resource: eng.url }))
      .access_token;
    const appSocket = await openSignedIn(eng.url, appToken);
    expect((await fetchMe(eng, appToken)).status).toBe(200);

    const person = (await gateway.models.User.findOne({ where: { username: 'lena' } }))!;
    await removeAppAccess({ ...gateway.context(null), actor: operator('test') }, person, app.clientId);
    expect(await appSocket.closed).toEqual({ code: 4409, reason: 'session_ended' });
    expect(appSocket.frames).toContainEqual(
      expect.objectContaining({ type: 'session.ended', reason: 'app_access_removed' }),
    );
    await expectRefusedAsEnded(eng, appToken);
    expect((await endedFeedOf(eng)).filter((e) => e.subject === person.id)).toContainEqual(
      expect.objectContaining({ kind: 'sub', clientId: app.clientId }),
    );

    // The portal's tokens and sockets, issued before as the app's were, are not the app's: they go on.
    expect(sockets.eng.socket.readyState).toBe(sockets.eng.socket.OPEN);
    expect((await fetchMe(eng, tokens.eng)).status).toBe(200);
    expect((await fetchMe(eng, await who.tokenFor(eng.url))).status).toBe(200);
    // A node that starts afresh reads the same from its database: the app's token alone stays refused.
    const later = createEndedAccess({ sequelize: eng.sequelize, bus: createLocalBus() });
    await later.load();
    const holder = { sub: person.id, sid: null, issuedAt: decodeJwt(appToken).iat! * 1000 };
    expect(later.endedFor({ ...holder, clientId: app.clientId })).toMatchObject({ clientId: app.clientId });
    expect(later.endedFor({ ...holder, clientId: 'portal' })).toBeUndefined();
    sockets.eng.socket.close();
    sockets.arts.socket.close();
  });
});
