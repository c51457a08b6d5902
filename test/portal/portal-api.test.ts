import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { BrowserAgent, formWithAction, signInThrough, type Page } from '../helpers/browser-agent.ts';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { PORTAL_CLIENT_ID } from '../../gateway/portal/portal-client.ts';
import { PORTAL_COOKIE } from '../../gateway/portal/portal.ts';
import { RETURN_TO_MINUTES } from '../../gateway/http/return-to.ts';
import { portalReturnTo } from '../../gateway/portal/return-to.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';

let gateway: TestGateway;
let eng: TestNode;

const url = (path: string) => `${gateway.issuer}${path}`;
const portalHeaders = { accept: 'application/json', 'x-atrium-portal': '1' };

beforeAll(async () => {
  gateway = await startTestGateway('portal-api');
  // Started before anyone signs in: the portal asks for the nodes registered at sign-in as resources.
  eng = await startTestNode(gateway, 'eng.campus.test');
});

afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

async function signedIn(username: string): Promise<BrowserAgent> {
  const agent = new BrowserAgent();
  const page = await signInThrough(agent, url('/'), username, DEMO_PASSWORD);
  expect(page.url).toBe(url('/'));
  expect(page.status).toBe(200);
  return agent;
}

/** Moves the time the portal session remembered its page to `minutes` ago, as if it had waited that long. */
async function rememberedMinutesAgo(agent: BrowserAgent, minutes: number): Promise<void> {
  const cookie = agent.cookies.get(new URL(gateway.issuer).host)?.get(PORTAL_COOKIE) ?? '';
  const signed = decodeURIComponent(cookie).slice('s:'.length);
  const row = await gateway.models.WebSession.findByPk(signed.slice(0, signed.lastIndexOf('.')));
  const data = JSON.parse(row!.data);
  if (typeof data.returnTo?.until === 'number') data.returnTo.until -= minutes * 60_000;
  await row!.update({ data: JSON.stringify(data) });
}

async function api(agent: BrowserAgent, path: string, init: RequestInit = {}) {
  const response = await agent.request(url(`/portal/api/${path}`), {
    ...init,
    headers: { ...portalHeaders, ...(init.headers as Record<string, string>) },
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe('the portal’s sign-in and page', () => {
  it('sends someone who is not signed in to the gateway as the first-party client, with PKCE, offline access and every node as a resource', async () => {
    const agent = new BrowserAgent();
    const first = await agent.request(url('/'));
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/portal/login');
    const login = await agent.request(url('/portal/login'));
    expect(login.status).toBe(302);
    const authorize = new URL(login.headers.get('location')!);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(url('/auth'));
    expect(authorize.searchParams.get('client_id')).toBe(PORTAL_CLIENT_ID);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('scope')!.split(' ').sort()).toEqual([
      'atrium',
      'email',
      'im',
      'offline_access',
      'openid',
      'profile',
    ]);
    expect(authorize.searchParams.get('prompt')).toBe('consent');
    const domains = await gateway.models.Domain.findAll();
    expect(authorize.searchParams.getAll('resource').sort()).toEqual(domains.map((d) => d.url).sort());
  });

  it('serves the page after sign-in (no consent screen) with its bundled script under a strict policy', async () => {
    const agent = new BrowserAgent();
    let page = await agent.navigate(url('/'));
    expect(page.html).toContain('to continue to <strong>Atrium</strong>');
    page = await agent.submit(page, formWithAction(page, '/login'), { username: 'alice', password: DEMO_PASSWORD });
    expect(page.url).toBe(url('/'));
    const script = /<script src="(\/assets\/portal\.[A-Za-z0-9_-]+\.js)" defer><\/script>/.exec(page.html)?.[1];
    expect(script).toBeDefined();
    expect(page.html).not.toMatch(/<script>|style="/);
    const csp = page.headers.get('content-security-policy')!;
    const connect = csp
      .split('; ')
      .find((d) => d.startsWith('connect-src '))!
      .split(' ');
    expect(connect).toContain(new URL(eng.url).origin);
    expect(connect).toContain(new URL(eng.url).origin.replace('http', 'ws'));
    expect(csp).toContain("script-src 'self'");
    const asset = await agent.request(url(script!));
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await asset.text()).toContain('atrium.v1');
  });

  it('returns to the account page asked for before signing in, and never to another site', async () => {
    const page = await signInThrough(
      new BrowserAgent(),
      url('/account/security?setup=authenticator'),
      'alice',
      DEMO_PASSWORD,
    );
    expect(page.url).toBe(url('/account/security?setup=authenticator'));
    expect(page.html).toContain('Signed in as <strong>alice</strong>');
    for (const elsewhere of [
      '//evil.example/account/',
      '/\\evil.example',
      'https://evil.example/account/',
      '/admin/users',
    ])
      expect(portalReturnTo(elsewhere)).toBe('/');
  });

  it('forgets an account page left at its sign-in: a sign-in from the chat page, or one begun after a while, lands on the chat page', async () => {
    // Left at the sign-in the account page led to; a while later, signed in from the chat page.
    const fromChat = new BrowserAgent();
    expect((await fromChat.navigate(url('/account/security'))).url).toContain('/interaction/');
    expect((await signInThrough(fromChat, url('/'), 'alice', DEMO_PASSWORD)).url).toBe(url('/'));

    // Left there longer than a sign-in takes; then a sign-in begun anew, as the chat page's script begins one.
    const later = new BrowserAgent();
    expect((await later.navigate(url('/account/security'))).url).toContain('/interaction/');
    await rememberedMinutesAgo(later, RETURN_TO_MINUTES + 1);
    expect((await signInThrough(later, url('/portal/login'), 'alice', DEMO_PASSWORD)).url).toBe(url('/'));

    // Within the time, the same begun-anew sign-in still goes back to the page.
    const soon = new BrowserAgent();
    await soon.navigate(url('/account/security'));
    await rememberedMinutesAgo(soon, RETURN_TO_MINUTES - 1);
    expect((await signInThrough(soon, url('/portal/login'), 'alice', DEMO_PASSWORD)).url).toBe(
      url('/account/security'),
    );
  });

  it('goes back only to a path of its own, even when the request line names another site', async () => {
    // The absolute form of a request line (`GET http://host/path`), which Express routes by its path alone.
    const { host, port } = new URL(gateway.issuer);
    const asked = await new Promise<IncomingMessage>((resolve, reject) =>
      request({ host: '127.0.0.1', port, path: 'http://evil.example/account/security', headers: { host } }, resolve)
        .on('error', reject)
        .end(),
    );
    asked.resume();
    expect(asked.headers.location).toBe('/portal/login');
    const agent = new BrowserAgent();
    const cookie = asked.headers['set-cookie']?.[0]?.split(';')[0]?.split('=');
    if (cookie) agent.cookies.set(host, new Map([[cookie[0]!, cookie.slice(1).join('=')]]));
    expect((await signInThrough(agent, url('/portal/login'), 'alice', DEMO_PASSWORD)).url).toBe(url('/'));
  });
});

describe('a portal sign-in that does not finish', () => {
  /** Presses Cancel on the page, and checks where it ends: a page that says so and signs in again; returns that sign-in. */
  async function cancelFrom(agent: BrowserAgent, page: Page): Promise<Page> {
    const cancelled = await agent.submit(page, formWithAction(page, '/abort'));
    expect(cancelled.status).toBe(200);
    expect(cancelled.html).toContain('You cancelled signing in.');
    expect(cancelled.html).not.toContain('declined');
    expect(cancelled.html).not.toContain('Sign-in failed');
    const again = /<a class="button" href="([^"]+)">Sign in again<\/a>/.exec(cancelled.html)?.[1];
    expect(again).toBe('/portal/login');
    const login = await agent.navigate(new URL(again!, cancelled.url).toString());
    expect(login.url).toContain('/interaction/');
    expect(login.html).toContain('name="password"');
    return login;
  }

  /** The page the agent's portal session remembers to go back to after sign-in, if any. */
  async function rememberedPage(agent: BrowserAgent): Promise<string | undefined> {
    const cookie = agent.cookies.get(new URL(gateway.issuer).host)?.get(PORTAL_COOKIE) ?? '';
    const signed = decodeURIComponent(cookie).slice('s:'.length);
    const row = await gateway.models.WebSession.findByPk(signed.slice(0, signed.lastIndexOf('.')));
    return row ? JSON.parse(row.data).returnTo?.path : undefined;
  }

  it('offers to try again when the callback cannot complete it', async () => {
    const agent = new BrowserAgent();
    await agent.navigate(url('/portal/login'), {}, url('/interaction/'));
    const failed = await agent.navigate(url('/portal/callback?code=forged&state=forged'));
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect(failed.html).toContain('Sign-in failed');
    expect(failed.html).toContain('<a class="button" href="/portal/login">Try signing in again</a>');
  });

  it('keeps the account page asked for through a cancelled or failed sign-in, for the next that succeeds, once', async () => {
    const agent = new BrowserAgent();
    await agent.navigate(url('/account/security?setup=authenticator'));
    // A callback that cannot complete (an old or forged one) fails, and leaves the page to the next try.
    const failed = await agent.navigate(url('/portal/callback?code=forged&state=forged'));
    expect(failed.html).toContain('Sign-in failed');
    const retry = /<a class="button" href="([^"]+)">Try signing in again<\/a>/.exec(failed.html)?.[1];
    // So does Cancel on the sign-in that "Try signing in again" starts.
    const login = await cancelFrom(agent, await agent.navigate(url(retry!)));
    expect(await rememberedPage(agent)).toBe('/account/security?setup=authenticator');
    const page = await agent.submit(login, formWithAction(login, '/login'), {
      username: 'alice',
      password: DEMO_PASSWORD,
    });
    expect(page.url).toBe(url('/account/security?setup=authenticator'));
    // Used by the sign-in that succeeded: nothing is left for a later one.
    expect(await rememberedPage(agent)).toBeUndefined();

    // Still for ten minutes from when it was asked for, not from the failed sign-in.
    const late = new BrowserAgent();
    await cancelFrom(late, await late.navigate(url('/account/security')));
    await rememberedMinutesAgo(late, RETURN_TO_MINUTES + 1);
    expect((await signInThrough(late, url('/portal/login'), 'alice', DEMO_PASSWORD)).url).toBe(url('/'));
  });

  it('when cancelled on the password page, says so and offers to sign in again', async () => {
    const agent = new BrowserAgent();
    await cancelFrom(agent, await agent.navigate(url('/')));
  });

  it('when cancelled on the code page, says so and offers to sign in again', async () => {
    const user = await addPerson(gateway, 'cody');
    const ctx = gateway.context(null);
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
    const binding = interactionBinding({ uid: 'test' });
    const { secret } = await beginTotpEnrolment(ctx, deps, user, binding);
    await confirmTotpEnrolment(ctx, deps, user, TOTP.generate({ secret: Secret.fromBase32(secret) }), binding);
    const agent = new BrowserAgent();
    const login = await agent.navigate(url('/'));
    const codePage = await agent.submit(login, formWithAction(login, '/login'), {
      username: 'cody',
      password: DEMO_PASSWORD,
    });
    expect(codePage.html).toContain('/code"');
    await cancelFrom(agent, codePage);
  });
});

describe('the portal API', () => {
  let alice: BrowserAgent;

  beforeAll(async () => {
    alice = await signedIn('alice');
  });

  it('requires the X-Atrium-Portal header on every request, and a session', async () => {
    const bare = await alice.request(url('/portal/api/me'), { headers: { accept: 'application/json' } });
    expect(bare.status).toBe(403);
    expect(((await bare.json()) as { error: { code: string } }).error.code).toBe('csrf_header_missing');
    const logout = await alice.request(url('/portal/api/logout'), {
      method: 'POST',
      headers: { accept: 'application/json' },
    });
    expect(logout.status).toBe(403);

    const anonymous = await api(new BrowserAgent(), 'me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('session_expired');
  });

  it('tells the page who is signed in and which nodes to connect to', async () => {
    const { status, body } = await api(alice, 'me');
    expect(status).toBe(200);
    expect(body.user).toMatchObject({ username: 'alice', name: 'Alice Chen', homeDomain: 'eng.campus.test' });
    expect(body.domains).toEqual([
      {
        name: 'eng.campus.test',
        title: 'College of Engineering',
        url: eng.url,
        socketUrl: `${eng.url.replace('http', 'ws')}/ws`,
        address: 'alice@eng.campus.test',
        home: true,
      },
    ]);
  });

  it('names units by the names people know them by, with their parent, and leaves out paths of no unit', async () => {
    const { status, body } = await api(alice, 'units?paths=campus/eng/cs,campus/eng,campus,campus/nowhere');
    expect(status).toBe(200);
    expect(body.units).toEqual([
      {
        path: 'campus/eng/cs',
        name: 'Department of Computer Science',
        label: 'Department of Computer Science, College of Engineering',
      },
      { path: 'campus/eng', name: 'College of Engineering', label: 'College of Engineering' },
      { path: 'campus', name: 'Atrium University', label: 'Atrium University' },
    ]);
    expect((await api(alice, 'units')).status).toBe(400);
  });

  it('names the colleges of other nodes by their titles, and leaves out names no domain is registered under', async () => {
    // Alice is not of Arts: a group hosted there is named all the same.
    const { status, body } = await api(alice, 'domains?names=arts.campus.test,nowhere.campus.test,,eng.campus.test');
    expect(status).toBe(200);
    // In no order of note: the page looks each up by name.
    expect([...body.domains].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'arts.campus.test', title: 'College of Arts' },
      { name: 'eng.campus.test', title: 'College of Engineering' },
    ]);
    expect((await api(alice, 'domains?names=nowhere.campus.test')).body).toEqual({ domains: [] });

    for (const asked of ['domains', 'domains?names=', 'domains?names=,']) {
      const refused = await api(alice, asked);
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('invalid_input');
    }
    const names = (n: number) => Array.from({ length: n }, (_, i) => `n${i}.campus.test`).join(',');
    expect((await api(alice, `domains?names=${names(50)}`)).status).toBe(200);
    expect((await api(alice, `domains?names=${names(51)}`)).status).toBe(400);

    const anonymous = await api(new BrowserAgent(), 'domains?names=arts.campus.test');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('session_expired');
    expect(anonymous.body).not.toHaveProperty('domains');
  });

  it('hands out a JWT access token for the person’s own node, which the node accepts', async () => {
    const { status, body } = await api(alice, 'token?domain=eng.campus.test');
    expect(status).toBe(200);
    const { payload } = await jwtVerify(body.token, createRemoteJWKSet(new URL(url('/jwks'))), {
      issuer: gateway.issuer,
      audience: eng.url,
    });
    expect(payload).toMatchObject({ scope: 'im', preferred_username: 'alice', im_domains: ['eng.campus.test'] });
    expect(typeof payload.sid).toBe('string');
    expect(Date.parse(body.expiresAt)).toBe(payload.exp! * 1000);
    const me = await fetch(`${eng.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${body.token}` } });
    expect(await me.json()).toMatchObject({ address: 'alice@eng.campus.test' });

    // While it is fresh, the same token comes back; no refresh token is spent.
    const again = await api(alice, 'token?domain=eng.campus.test');
    expect(again.body.token).toBe(body.token);
  });

  it('refuses a token for a domain the person is not a member of (403) or that does not exist (404)', async () => {
    const arts = await api(alice, 'token?domain=arts.campus.test');
    expect(arts.status).toBe(403);
    expect(arts.body.error.code).toBe('forbidden');
    const none = await api(alice, 'token?domain=nowhere.campus.test');
    expect(none.status).toBe(404);
    const bad = await api(alice, 'token');
    expect(bad.status).toBe(400);
  });

  it('keeps concurrent refreshes of one session in turn, so the rotating refresh token is never reused', async () => {
    const carol = await signedIn('carol');
    const tokens = await Promise.all([
      api(carol, 'token?domain=eng.campus.test'),
      api(carol, 'token?domain=arts.campus.test'),
      api(carol, 'token?domain=eng.campus.test'),
    ]);
    expect(tokens.map((t) => t.status)).toEqual([200, 200, 200]);
    expect(decodeJwt(tokens[0]!.body.token).aud).toBe(eng.url);
    expect(decodeJwt(tokens[1]!.body.token).aud).toBe(
      (await gateway.models.Domain.findOne({ where: { name: 'arts.campus.test' } }))!.url,
    );
    // Had two refreshes raced with one refresh token, the reuse would have revoked the grant and failed one of them.
    expect(tokens[2]!.body.token).toBe(tokens[0]!.body.token);
  });

  it('never shows the refresh token to the browser, and keeps it sealed at rest', async () => {
    const bodies = JSON.stringify([await api(alice, 'me'), await api(alice, 'token?domain=eng.campus.test')]);
    expect(bodies).not.toMatch(/refresh/i);
    const rows = await gateway.models.WebSession.findAll();
    const vaults = rows.filter((r) => r.sid.startsWith('portal-vault:'));
    expect(vaults.length).toBeGreaterThan(0);
    for (const vault of vaults) expect(JSON.parse(vault.data)).toEqual({ sealed: expect.stringMatching(/^v1\./) });
  });

  it('lists the workbench apps the person may see', async () => {
    const { status, body } = await api(alice, 'workbench');
    expect(status).toBe(200);
    expect(Array.isArray(body.apps)).toBe(true);
  });

  it('signs out: the session and its tokens end, and the browser is sent to end the gateway session', async () => {
    const bob = await signedIn('bob');
    const { status, body } = await api(bob, 'logout', { method: 'POST' });
    expect(status).toBe(200);
    const end = new URL(body.redirect);
    expect(end.pathname).toBe('/session/end');
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(url('/portal/signed-out'));
    expect(end.searchParams.get('id_token_hint')).toBeTruthy();
    expect((await api(bob, 'me')).status).toBe(401);
    const confirm = await bob.navigate(body.redirect);
    const done = await bob.submit(confirm, formWithAction(confirm, '/session/end/confirm'), { logout: 'yes' });
    expect(done.url.split('?')[0]).toBe(url('/portal/signed-out'));
    expect(done.html).toContain('You are signed out');
    // What ended and what did not, in words a person can follow: this browser, not their other devices.
    expect(done.html).toContain(
      'You have signed out of Atrium in this browser, and the chats open in it were closed. Other devices stay signed in.',
    );
    // The gateway session is gone too: the portal asks for the password again.
    const again = await bob.navigate(url('/'));
    expect(again.html).toContain('name="password"');
  });

  it('ends the portal session when the gateway session is ended elsewhere (back-channel logout)', async () => {
    const dave = await signedIn('dave');
    expect((await api(dave, 'me')).status).toBe(200);
    const confirm = await dave.navigate(url('/session/end'));
    await dave.submit(confirm, formWithAction(confirm, '/session/end/confirm'), { logout: 'yes' });
    await expect.poll(async () => (await api(dave, 'me')).status).toBe(401);
    expect((await api(dave, 'token?domain=eng.campus.test')).status).toBe(401);
  });
});

describe('CORS on the node for the portal', () => {
  it('answers the portal origin’s preflight and requests, and nobody else’s', async () => {
    const origin = new URL(gateway.issuer).origin;
    const preflight = await fetch(`${eng.localUrl}/api/v1/attachments?name=a.png`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();

    const directory = await fetch(`${eng.localUrl}/api/v1/directory?q=bo`, { headers: { origin } });
    expect(directory.status).toBe(401);
    expect(directory.headers.get('access-control-allow-origin')).toBe(origin);

    const evil = await fetch(`${eng.localUrl}/api/v1/attachments?name=a.png`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });
});
