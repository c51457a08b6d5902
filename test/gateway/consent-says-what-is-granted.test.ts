import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { BrowserAgent, formWithAction, htmlText, signInThrough, type Page } from '../helpers/browser-agent.ts';
import {
  ARTS_NODE,
  addPerson,
  ENG_NODE,
  registerTestApp,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { ENG_AND_ARTS_UNITS } from '../helpers/node.ts';
import { discover } from '../helpers/rp.ts';

const REDIRECT = 'http://localhost:9/cb';
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway('consent-granted');
});
afterAll(async () => gateway?.stop());

/** Room Booking (an ordinary app, owned by `ownerUnit` when given) as its relying party. */
async function roomBooking(name: string, ownerUnit?: string) {
  const app = await registerTestApp(gateway, { name, redirectUris: [REDIRECT], ...(ownerUnit ? { ownerUnit } : {}) });
  return discover(gateway.issuer, app.clientId, app.clientSecret);
}

/** The page a browser reaches asking `rp` for `params` with prompt=consent, signing `username` in if asked. */
async function consentPage(rp: client.Configuration, agent: BrowserAgent, username: string, params: URLSearchParams) {
  params.set('redirect_uri', REDIRECT);
  params.set('prompt', 'consent');
  params.set('code_challenge', await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()));
  params.set('code_challenge_method', 'S256');
  const start = await agent.navigate(client.buildAuthorizationUrl(rp, params).toString(), {}, REDIRECT);
  if (!start.html.includes('/login"')) return start;
  return agent.submit(start, formWithAction(start, '/login'), { username, password: DEMO_PASSWORD }, REDIRECT);
}

const allow = (agent: BrowserAgent, page: Page) => agent.submit(page, formWithAction(page, '/confirm'), {}, REDIRECT);
const listed = (page: Page) => [...page.html.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1]!);

describe('the consent page', () => {
  it('asked again with prompt=consent for what the app holds, says what it already has and asks to continue', async () => {
    const rp = await roomBooking('Room Booking');
    const agent = new BrowserAgent();
    const ask = () => new URLSearchParams({ scope: 'openid profile' });
    const first = await consentPage(rp, agent, 'alice', ask());
    expect(htmlText(first.html)).toContain('Room Booking asks to:');
    expect((await allow(agent, first)).url).toContain('code=');

    const again = await consentPage(rp, agent, 'alice', ask());
    const text = htmlText(again.html);
    expect(text).toContain('Continue to Room Booking?');
    expect(text).toContain('It already has:');
    expect(text).not.toContain('asks to:');
    expect(listed(again)).toEqual(['Know who you are', 'See your name and username']);
    expect((await allow(agent, again)).url).toContain('code=');
  });
});

describe('apps you allowed, on the account page', () => {
  it('names only the chat domains an app owned by a unit may reach for the person, as the consent page did', async () => {
    await addPerson(gateway, 'noor', { units: ENG_AND_ARTS_UNITS });
    const rp = await roomBooking('Lab Booking', 'campus/eng');
    const agent = new BrowserAgent();
    const params = new URLSearchParams({ scope: 'openid im' });
    params.append('resource', ENG_NODE);
    params.append('resource', ARTS_NODE);
    const consent = await consentPage(rp, agent, 'noor', params);
    const onEng = 'Read your chats and send messages as you on eng.campus.test';
    expect(listed(consent)).toEqual(['Know who you are', onEng]);
    await allow(agent, consent);

    const account = `${gateway.issuer}/account/security`;
    await signInThrough(agent, account, 'noor', DEMO_PASSWORD);
    const page = await agent.navigate(account);
    const app = /class="allowed-app-name">Lab Booking<\/strong>\s*<ul class="allowed">([\s\S]*?)<\/ul>/.exec(page.html);
    expect(app).not.toBeNull();
    expect([...app![1]!.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1])).toEqual(['Know who you are', onEng]);
  });
});
