import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { workbenchFor } from '../../gateway/apps-registry/visible-apps.ts';
import { BrowserAgent } from '../helpers/browser-agent.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { discover } from '../helpers/rp.ts';
import { api, asOperator, gatewayToken, register } from './helpers.ts';

const cb = (slug: string) => `http://localhost:9/${slug}-cb`;
let gateway: TestGateway;

const slugsFor = async (username: string) => {
  const user = await gateway.models.User.findOne({ where: { username } });
  return (await workbenchFor(gateway.context(null), user!.id)).map((a) => a.slug);
};

beforeAll(async () => {
  gateway = await startTestGateway('workbench', { LOGIN_IP_LIMIT: '1000' });
  const home = (slug: string) => `https://${slug}.campus.example/`;
  const apps = [
    { name: 'Campus Mail', slug: 'mail', homeUrl: home('mail') },
    { name: 'Engineering Labs', slug: 'eng-labs', homeUrl: home('eng-labs'), ownerUnit: 'campus/eng' },
    {
      name: 'EE Workshop',
      slug: 'ee-workshop',
      homeUrl: home('ee'),
      ownerUnit: 'campus/eng',
      visibility: { units: ['campus/eng/ee'] },
    },
    { name: 'Arts Studios', slug: 'arts-studios', homeUrl: home('arts'), visibility: { units: ['campus/arts'] } },
    { name: 'Staff Payroll', slug: 'payroll', homeUrl: home('payroll'), visibility: { roles: ['staff'] } },
    {
      name: 'Eng Grading',
      slug: 'eng-grading',
      homeUrl: home('grading'),
      ownerUnit: 'campus/eng',
      visibility: { roles: ['staff'] },
    },
    { name: 'Old Portal', slug: 'old-portal', homeUrl: home('old') },
    { name: 'Bot only', slug: 'bot-only', botEnabled: true },
  ];
  for (const app of apps)
    await register(gateway, { ...app, redirectUris: [cb(app.slug)], icon: '🧪', description: `${app.name} for you` });
  await setAppDisabled(asOperator(gateway), 'old-portal', true);
});
afterAll(async () => gateway?.stop());

describe('the workbench', () => {
  it('lists for each person exactly the apps their units and roles let them see', async () => {
    expect(await slugsFor('alice')).toEqual(['mail', 'eng-labs']); // Engineering student (CS)
    expect(await slugsFor('dave')).toEqual(['mail', 'ee-workshop', 'eng-labs']); // Engineering student (EE)
    expect(await slugsFor('bob')).toEqual(['arts-studios', 'mail']); // Arts student
    // Carol is staff in Arts (Music) and in Engineering (EE).
    expect(await slugsFor('carol')).toEqual([
      'arts-studios',
      'mail',
      'ee-workshop',
      'eng-grading',
      'eng-labs',
      'payroll',
    ]);
  });

  it('is served to a person holding a gateway access token, with what opening each app needs', async () => {
    const { token } = await gatewayToken(gateway, 'bob');
    const response = await api(gateway, '/api/v1/workbench', token);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body.apps).toEqual([
      {
        slug: 'arts-studios',
        name: 'Arts Studios',
        icon: '🧪',
        description: 'Arts Studios for you',
        openUrl: 'https://arts.campus.example/',
        ownerUnit: null,
      },
      {
        slug: 'mail',
        name: 'Campus Mail',
        icon: '🧪',
        description: 'Campus Mail for you',
        openUrl: 'https://mail.campus.example/',
        ownerUnit: null,
      },
    ]);
    expect(JSON.stringify(response.body)).not.toContain('eng-labs');

    // RFC 6750: a bare challenge without a token, invalid_token for a token refused.
    const none = await api(gateway, '/api/v1/workbench', undefined);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="atrium"');
    const bad = await api(gateway, '/api/v1/workbench', 'not-a-token');
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({
      error: { code: 'unauthenticated', message: expect.stringContaining('get a new one') },
    });
    expect(bad.headers.get('www-authenticate')).toBe(
      'Bearer realm="atrium", error="invalid_token", error_description="The access token is not valid"',
    );
  });
});

describe('opening an app', () => {
  it('signs someone already signed in to the portal into a first-party app with no login form and no consent page', async () => {
    const wiki = await register(gateway, {
      name: 'Wiki',
      slug: 'wiki',
      homeUrl: 'https://wiki.campus.example/',
      redirectUris: [cb('wiki')],
      firstParty: true,
    });
    const rp = await discover(gateway.issuer, wiki.clientId, wiki.clientSecret);
    const { agent } = await gatewayToken(gateway, 'alice');

    // What the app's login route does: an ordinary authorization request (no prompt), with PKCE.
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(rp, {
      redirect_uri: cb('wiki'),
      scope: 'openid profile email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'open-wiki',
    });
    // The agent follows redirects but fills in no form: arriving back at the app means none was shown.
    let page = await agent.navigate(url.toString(), {}, cb('wiki'));
    expect(page.url.startsWith(cb('wiki'))).toBe(true);
    const tokens = await client.authorizationCodeGrant(rp, new URL(page.url), {
      pkceCodeVerifier: verifier,
      expectedState: 'open-wiki',
    });
    expect(tokens.claims()).toMatchObject({ preferred_username: 'alice' });

    // A third-party app still asks: a fresh person's session meets its consent page.
    const survey = await register(gateway, { name: 'Survey', slug: 'survey', redirectUris: [cb('survey')] });
    const surveyRp = await discover(gateway.issuer, survey.clientId, survey.clientSecret);
    const other = await client.buildAuthorizationUrl(surveyRp, {
      redirect_uri: cb('survey'),
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    page = await agent.navigate(other.toString(), {}, cb('survey'));
    expect(page.url).toContain('/interaction/');
    expect(page.html).toContain('/confirm"');
    expect(page.html).not.toContain('name="password"');
  });

  it('does not sign anyone into a disabled app', async () => {
    const app = await gateway.models.App.findOne({ where: { slug: 'wiki' } });
    await setAppDisabled(asOperator(gateway), 'wiki', true);
    const agent = new BrowserAgent();
    const response = await agent.request(
      `${gateway.issuer}/auth?${new URLSearchParams({ client_id: app!.clientId, redirect_uri: cb('wiki'), response_type: 'code', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`,
    );
    // People are told the app is turned off, not "client is invalid" (answers-to-developers.test.ts).
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('has been turned off by your campus administrators');
    await setAppDisabled(asOperator(gateway), 'wiki', false);
  });
});
