import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { BrowserAgent, formWithAction, signInThrough, type Page } from '../helpers/browser-agent.ts';
import { addPerson, ENG_NODE, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { signOutEverywhere } from '../../gateway/accounts/end-access.ts';

const REDIRECT = 'http://localhost:9/cb';
let gateway: TestGateway;
let thirdParty: client.Configuration;
let firstParty: client.Configuration;

async function authorize(config: client.Configuration, agent: BrowserAgent, extra: Record<string, string> = {}) {
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    ...extra,
  });
  return agent.navigate(url.toString(), {}, REDIRECT);
}

beforeAll(async () => {
  gateway = await startTestGateway('consent');
  const a = await registerTestApp(gateway, { name: 'Survey <Tool>', redirectUris: [REDIRECT] });
  thirdParty = await discover(gateway.issuer, a.clientId, a.clientSecret);
  const b = await registerTestApp(gateway, { name: 'Campus Portal', redirectUris: [REDIRECT], firstParty: true });
  firstParty = await discover(gateway.issuer, b.clientId, b.clientSecret);
});
afterAll(async () => gateway?.stop());

describe('consent', () => {
  it('asks once for an ordinary app, names it escaped, and remembers the answer', async () => {
    const agent = new BrowserAgent();
    const login = await authorize(thirdParty, agent);
    const consent = await agent.submit(
      login,
      formWithAction(login, '/login'),
      { username: 'alice', password: DEMO_PASSWORD },
      REDIRECT,
    );
    expect(consent.html).toContain('Allow Survey &lt;Tool&gt;?');
    expect(consent.html).toContain('See your name and username');
    const back = await agent.submit(consent, formWithAction(consent, '/confirm'), {}, REDIRECT);
    expect(new URL(back.url).searchParams.get('code')).toBeTruthy();

    const second = await authorize(thirdParty, agent);
    expect(new URL(second.url).searchParams.get('code')).toBeTruthy();
  });

  it('remembers what a person allowed an app in every new browser, asks again for more, and forgets it when their access ends', async () => {
    await addPerson(gateway, 'erin');
    /** Signs erin in to the app in a new browser (a new gateway session): the consent page, or the way back. */
    const signInAnew = async (extra: Record<string, string> = {}) => {
      const agent = new BrowserAgent();
      const login = await authorize(thirdParty, agent, extra);
      const page = await agent.submit(
        login,
        formWithAction(login, '/login'),
        { username: 'erin', password: DEMO_PASSWORD },
        REDIRECT,
      );
      return { agent, page };
    };
    const first = await signInAnew();
    expect(first.page.html).toContain('See your name and username');
    await first.agent.submit(first.page, formWithAction(first.page, '/confirm'), {}, REDIRECT);

    const verifier = client.randomPKCECodeVerifier();
    const challenge = { code_challenge: await client.calculatePKCECodeChallenge(verifier), state: 'again' };
    const second = await signInAnew(challenge);
    expect(second.page.url.startsWith(REDIRECT)).toBe(true);
    const tokens = await client.authorizationCodeGrant(thirdParty, new URL(second.page.url), {
      pkceCodeVerifier: verifier,
      expectedState: 'again',
    });
    expect(tokens.scope?.split(' ').sort()).toEqual(['openid', 'profile']);
    expect(tokens.claims()!.preferred_username).toBe('erin');

    // Asking for more asks for just that, in this session as in a new one, and what is allowed then is kept too.
    const more = await authorize(thirdParty, second.agent, { scope: 'openid profile email' });
    expect(more.html).toContain('See your email address');
    expect(more.html).not.toContain('See your name and username');
    await second.agent.submit(more, formWithAction(more, '/confirm'), {}, REDIRECT);
    expect((await signInAnew({ scope: 'openid profile email' })).page.url.startsWith(REDIRECT)).toBe(true);
    const chats = await signInAnew({ scope: 'openid im', resource: ENG_NODE });
    expect(chats.page.html).toContain('Read your chats and send messages as you on eng.campus.test');
    await chats.agent.submit(chats.page, formWithAction(chats.page, '/confirm'), {}, REDIRECT);
    const node = await signInAnew({ scope: 'openid im', resource: ENG_NODE, ...challenge });
    const nodeTokens = await client.authorizationCodeGrant(
      thirdParty,
      new URL(node.page.url),
      { pkceCodeVerifier: verifier, expectedState: 'again' },
      { resource: ENG_NODE },
    );
    expect(nodeTokens.scope).toBe('im');

    await signOutEverywhere({ ...gateway.context(null), actor: operator('test') }, 'erin');
    expect((await signInAnew()).page.html).toContain('See your name and username');
  });

  it('returns access_denied to the app when the person declines', async () => {
    const agent = new BrowserAgent();
    const login = await authorize(thirdParty, agent);
    const consent = await agent.submit(
      login,
      formWithAction(login, '/login'),
      { username: 'bob', password: DEMO_PASSWORD },
      REDIRECT,
    );
    const back = await agent.submit(consent, formWithAction(consent, '/abort'), {}, REDIRECT);
    expect(new URL(back.url).searchParams.get('error')).toBe('access_denied');
  });

  it('never offers administering Atrium to an app that is not first-party: the app is told invalid_scope at once', async () => {
    const back = await authorize(thirdParty, new BrowserAgent(), { scope: 'openid profile atrium:admin' });
    const answer = new URL(back.url).searchParams;
    expect(back.url.startsWith(REDIRECT)).toBe(true);
    expect(answer.get('error')).toBe('invalid_scope');
    expect(answer.get('scope')).toBe('atrium:admin');
    await expect(client.clientCredentialsGrant(thirdParty, { scope: 'atrium:admin' })).rejects.toMatchObject({
      error: 'invalid_scope',
    });
    // A first-party app may ask; the person is asked (the consent page names it).
    const agent = new BrowserAgent();
    const login = await authorize(firstParty, agent, { scope: 'openid profile atrium:admin' });
    const consent = await agent.submit(
      login,
      formWithAction(login, '/login'),
      { username: 'admin', password: DEMO_PASSWORD },
      REDIRECT,
    );
    expect(consent.html).toContain('Act as an administrator of Atrium for you');
  });

  it('skips consent for a first-party app, even with prompt=consent for offline access and chat on a domain node', async () => {
    const agent = new BrowserAgent();
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(firstParty, {
      redirect_uri: REDIRECT,
      scope: 'openid profile atrium im offline_access',
      resource: ENG_NODE,
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'fp',
    });
    const login = await agent.navigate(url.toString(), {}, REDIRECT);
    const back = await agent.submit(
      login,
      formWithAction(login, '/login'),
      { username: 'carol', password: DEMO_PASSWORD },
      REDIRECT,
    );
    expect(back.url.startsWith(REDIRECT)).toBe(true);
    const tokens = await client.authorizationCodeGrant(firstParty, new URL(back.url), {
      pkceCodeVerifier: verifier,
      expectedState: 'fp',
    });
    expect(tokens.claims()!.preferred_username).toBe('carol');
    const nodeToken = await client.refreshTokenGrant(firstParty, tokens.refresh_token!, { resource: ENG_NODE });
    expect(nodeToken.scope).toContain('im');
  });

  it('opens a first-party app silently for someone already signed in (no login, no consent)', async () => {
    const agent = new BrowserAgent();
    await codeFlow(thirdParty, REDIRECT, 'dave', {}, agent);
    const silent = await authorize(firstParty, agent, { prompt: 'none' });
    expect(new URL(silent.url).searchParams.get('code')).toBeTruthy();
  });
});

describe('apps you allowed, on the account page', () => {
  let notes: client.Configuration;
  const idOf = (config: client.Configuration) => config.clientMetadata().client_id;
  const account = () => `${gateway.issuer}/account/security`;
  const REMOVE = '/account/security/apps/remove';

  const logoutTokens: string[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token');
      if (token) logoutTokens.push(token);
      res.writeHead(200).end();
    });
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, 'localhost', resolve));
    const { port } = receiver.address() as AddressInfo;
    const n = await registerTestApp(gateway, {
      name: 'Notes',
      redirectUris: [REDIRECT],
      backchannelLogoutUri: `http://localhost:${port}/backchannel-logout`,
    });
    notes = await discover(gateway.issuer, n.clientId, n.clientSecret);
  });

  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  /** Allows the app what it asks, signing in first if need be; its tokens, when `exchange`. */
  async function allow(
    config: client.Configuration,
    agent: BrowserAgent,
    username: string,
    extra: Record<string, string>,
    exchange = true,
  ) {
    const verifier = client.randomPKCECodeVerifier();
    const challenge = await client.calculatePKCECodeChallenge(verifier);
    const start = await authorize(config, agent, {
      prompt: 'consent',
      state: 's',
      code_challenge: challenge,
      ...extra,
    });
    const consent = start.html.includes('/login"')
      ? await agent.submit(start, formWithAction(start, '/login'), { username, password: DEMO_PASSWORD }, REDIRECT)
      : start;
    const back = await agent.submit(consent, formWithAction(consent, '/confirm'), {}, REDIRECT);
    if (!exchange) return undefined;
    return client.authorizationCodeGrant(config, new URL(back.url), { pkceCodeVerifier: verifier, expectedState: 's' });
  }

  /** The apps the page lists, by name, each with what it was allowed. */
  const appsOn = (page: Page) =>
    Object.fromEntries(
      [...page.html.matchAll(/class="allowed-app-name">([^<]*)<\/strong>\s*<ul class="allowed">([\s\S]*?)<\/ul>/g)].map(
        (m) => [m[1]!, [...m[2]!.matchAll(/<li>([^<]*)<\/li>/g)].map((li) => li[1]!)],
      ),
    );

  async function accountPage(agent: BrowserAgent, username: string) {
    await signInThrough(agent, account(), username, DEMO_PASSWORD);
    const page = await agent.navigate(account());
    expect(page.html).toContain(`Signed in as <strong>${username}</strong>`);
    return page;
  }

  /** Whether a sign-in in a new browser goes straight back to the app (no consent page). */
  async function allowedInNewBrowser(config: client.Configuration, username: string) {
    const agent = new BrowserAgent();
    const login = await authorize(config, agent);
    const next = await agent.submit(
      login,
      formWithAction(login, '/login'),
      { username, password: DEMO_PASSWORD },
      REDIRECT,
    );
    return next.url.startsWith(REDIRECT);
  }

  it('lists each app allowed with what it was allowed; Remove access ends its tokens, tells it, asks again, other apps kept', async () => {
    await addPerson(gateway, 'gil');
    const agent = new BrowserAgent();
    const kept = await allow(thirdParty, agent, 'gil', { scope: 'openid profile email offline_access' });
    await allow(thirdParty, agent, 'gil', { scope: 'openid im', resource: ENG_NODE }, false);
    const removedTokens = await allow(notes, agent, 'gil', { scope: 'openid profile offline_access' });
    expect((await authorize(firstParty, agent)).url.startsWith(REDIRECT)).toBe(true);

    const page = await accountPage(agent, 'gil');
    const listed = appsOn(page);
    // A first-party app, which never asks, is not listed.
    expect(Object.keys(listed)).toEqual(['Notes', 'Survey &lt;Tool&gt;']);
    expect(listed['Survey &lt;Tool&gt;']).toEqual(
      expect.arrayContaining([
        'See your name and username',
        'See your email address',
        'Stay signed in while you are away (offline access), until you sign out or revoke it',
        'Read your chats and send messages as you on eng.campus.test',
      ]),
    );
    expect(listed.Notes).toContain('See your name and username');
    expect(listed.Notes).not.toContain('See your email address');

    const removed = await agent.submit(page, formWithAction(page, REMOVE), { client: idOf(notes) });
    // Back on the account page, opened at its notice.
    expect(removed.url).toBe(`${account()}#account-notice`);
    expect(removed.html).toContain('Notes no longer has access to your account');
    expect(Object.keys(appsOn(removed))).toEqual(['Survey &lt;Tool&gt;']);
    await expect(client.refreshTokenGrant(notes, removedTokens!.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    // The app is told over its back-channel logout URI, for the gateway session it was signed in through.
    await expect.poll(() => logoutTokens.length, { timeout: 8_000 }).toBe(1);
    const logout = decodeJwt(logoutTokens[0]!);
    const idToken = removedTokens!.claims()!;
    expect([logout.sub, logout.sid]).toEqual([idToken.sub, idToken.sid]);
    // Asked again, in this browser (whose gateway session named the grant removed) as in a new one.
    expect((await authorize(notes, agent)).html).toContain('See your name and username');
    expect(await allowedInNewBrowser(notes, 'gil')).toBe(false);

    expect((await client.refreshTokenGrant(thirdParty, kept!.refresh_token!)).access_token).toBeTruthy();
    expect(await allowedInNewBrowser(thirdParty, 'gil')).toBe(true);
    const audited = await gateway.models.AuditEvent.findAll({
      where: { action: 'consent.revoke', target: idOf(notes) },
    });
    expect(audited.map((a) => a.actorName)).toEqual(['gil']);
  });

  it('removes nothing with a forged or missing CSRF token, nor an app only someone else allowed', async () => {
    await addPerson(gateway, 'hal');
    await addPerson(gateway, 'ivy');
    const agent = new BrowserAgent();
    const hal = await allow(notes, agent, 'hal', { scope: 'openid profile offline_access' });
    await allow(thirdParty, new BrowserAgent(), 'ivy', { scope: 'openid profile' });
    const page = await accountPage(agent, 'hal');
    const form = formWithAction(page, REMOVE);

    const forged = await agent.submit(page, form, { _csrf: 'forged' });
    expect(forged.status).toBe(403);
    const missing = await agent.navigate(new URL(REMOVE, page.url).toString(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client: idOf(notes) }).toString(),
    });
    expect(missing.status).toBe(403);
    const someoneElses = await agent.submit(page, form, { client: idOf(thirdParty) });
    expect(someoneElses.html).toContain('That app is not among the apps you allowed');

    expect(Object.keys(appsOn(await agent.navigate(account())))).toEqual(['Notes']);
    expect((await client.refreshTokenGrant(notes, hal!.refresh_token!)).access_token).toBeTruthy();
    expect(await allowedInNewBrowser(thirdParty, 'ivy')).toBe(true);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'consent.revoke', actorName: 'hal' } })).toBe(0);
  });
});
