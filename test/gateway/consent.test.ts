import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { BrowserAgent, formWithAction } from '../helpers/browser-agent.ts';
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
