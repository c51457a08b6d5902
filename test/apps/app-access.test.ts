import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { ForbiddenError } from '../../core/errors.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { rotateCallbackSecret, rotateClientSecret } from '../../gateway/apps-registry/rotate-secrets.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { ARTS_NODE, ENG_NODE, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { discover } from '../helpers/rp.ts';
import { actingAs, api, asOperator, gatewayToken, register, secretsOf } from './helpers.ts';

const REDIRECT = 'http://localhost:9/cb';
const EVERYTHING = 'openid profile email im offline_access';

let gateway: TestGateway;
let engAdminToken: string;

type Rp = { config: client.Configuration; clientId: string; clientSecret: string };
const rpOf = async (app: { clientId: string; clientSecret: string }): Promise<Rp> => ({
  ...app,
  config: await discover(gateway.issuer, app.clientId, app.clientSecret),
});

/** A browser with a gateway session of `username` (signed in through the portal), as a person opening apps from chat has. */
async function signedIn(username: string): Promise<BrowserAgent> {
  return (await gatewayToken(gateway, username)).agent;
}

/** Opens an app's authorization URL in `agent` and follows redirects up to the app or a gateway page. */
async function authorize(rp: Rp, agent: BrowserAgent, params: Record<string, string | string[]>) {
  const verifier = client.randomPKCECodeVerifier();
  const query = new URLSearchParams({
    redirect_uri: REDIRECT,
    scope: EVERYTHING,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'st',
  });
  for (const [key, value] of Object.entries(params)) {
    query.delete(key);
    for (const v of Array.isArray(value) ? value : [value]) query.append(key, v);
  }
  const page = await agent.navigate(client.buildAuthorizationUrl(rp.config, query).toString(), {}, REDIRECT);
  return { page, verifier };
}

const backAtApp = (page: Page) => (page.url.startsWith(REDIRECT) ? new URL(page.url).searchParams : null);
const text = (page: Page) =>
  page.html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

beforeAll(async () => {
  gateway = await startTestGateway('app-access', { LOGIN_IP_LIMIT: '1000' });
  engAdminToken = (await gatewayToken(gateway, 'eng-admin', undefined, 'openid profile atrium:admin')).token;
});
afterAll(async () => gateway?.stop());

describe('who may mark an app first-party', () => {
  it('refuses first-party to a unit admin through the admin API, and registers nothing', async () => {
    const refused = await api(gateway, '/api/admin/v1/apps', engAdminToken, {
      method: 'POST',
      body: {
        name: 'Eng Silent',
        slug: 'eng-silent',
        ownerUnit: 'campus/eng',
        firstParty: true,
        redirectUris: [REDIRECT],
      },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      code: 'forbidden',
      message: 'Only campus administrators may mark an app first-party',
    });
    expect(await gateway.models.App.count({ where: { slug: 'eng-silent' } })).toBe(0);

    const thirdParty = await api(gateway, '/api/admin/v1/apps', engAdminToken, {
      method: 'POST',
      body: { name: 'Eng Survey', slug: 'eng-survey', ownerUnit: 'campus/eng', redirectUris: [REDIRECT] },
    });
    expect(thirdParty.status).toBe(201);
    const marked = await api(gateway, '/api/admin/v1/apps/eng-survey', engAdminToken, {
      method: 'PATCH',
      body: { firstParty: true },
    });
    expect(marked.status).toBe(403);
    expect((await gateway.models.App.findOne({ where: { slug: 'eng-survey' } }))!.firstParty).toBe(false);
  });

  it('refuses first-party to a unit admin in the console, with a notice, and keeps the form', async () => {
    const { agent } = await signInToConsole(gateway.issuer, 'eng-admin');
    const form = await agent.navigate(`${gateway.issuer}/admin/apps/new`);
    const page = await submitFilled(agent, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Eng Quiet',
      slug: 'eng-quiet',
      redirectUris: REDIRECT,
      firstParty: 'on',
    });
    expect(page.status).toBe(403);
    expect(text(page)).toContain('Only campus administrators may mark an app first-party');
    expect(page.html).toContain('value="Eng Quiet"');
    expect(await gateway.models.App.count({ where: { slug: 'eng-quiet' } })).toBe(0);
  });

  it("lets a unit admin change a campus administrator's first-party app only by clearing the flag, and not rotate its secrets", async () => {
    await register(gateway, {
      name: 'Eng Timetable',
      slug: 'eng-timetable',
      ownerUnit: 'campus/eng',
      firstParty: true,
      redirectUris: [REDIRECT],
    });
    const engAdmin = await actingAs(gateway, 'eng-admin');
    await expect(updateApp(engAdmin, 'eng-timetable', { redirectUris: ['https://evil.example/cb'] })).rejects.toThrow(
      'Eng Timetable is first-party, which only campus administrators may keep; clear its first-party flag to change it, or ask a campus administrator',
    );
    await expect(rotateClientSecret(engAdmin, 'eng-timetable')).rejects.toBeInstanceOf(ForbiddenError);
    const before = await gateway.models.App.findOne({ where: { slug: 'eng-timetable' } });
    await expect(rotateCallbackSecret(engAdmin, 'eng-timetable', secretsOf(gateway))).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    const unchanged = await gateway.models.App.findOne({ where: { slug: 'eng-timetable' } });
    expect(unchanged!.firstParty).toBe(true);
    expect(unchanged!.callbackSecretSealed).toBe(before!.callbackSecretSealed);
    expect(
      await gateway.models.AuditEvent.count({
        where: { action: 'app.rotate_callback_secret', target: 'eng-timetable' },
      }),
    ).toBe(0);

    const cleared = await updateApp(engAdmin, 'eng-timetable', { firstParty: false, name: 'Eng Timetable 2' });
    expect(cleared).toMatchObject({ firstParty: false, name: 'Eng Timetable 2' });
  });
});

describe('who may sign in to an app', () => {
  let engApp: Rp;
  let staffOnly: Rp;

  beforeAll(async () => {
    // The worst case: first-party (no consent page) and owned by Engineering.
    engApp = await rpOf(
      await register(gateway, {
        name: 'Eng Lab',
        slug: 'eng-lab',
        ownerUnit: 'campus/eng',
        firstParty: true,
        redirectUris: [REDIRECT],
      }),
    );
    staffOnly = await rpOf(
      await register(gateway, {
        name: 'Staff Room',
        slug: 'staff-room',
        visibility: { roles: ['staff'] },
        redirectUris: [REDIRECT],
      }),
    );
  });

  it('stops a student of another unit at a page that says why, then sends access_denied back to the app, even with prompt=consent and a node of their own', async () => {
    const bob = await signedIn('bob');
    const { page } = await authorize(engApp, bob, { resource: ARTS_NODE, prompt: 'consent' });
    expect(page.status).toBe(403);
    expect(page.url).toContain('/interaction/');
    expect(text(page)).toContain(
      'Eng Lab is for people of College of Engineering (campus/eng), and you are not one of them.',
    );
    expect(page.html).not.toContain('/confirm"');

    const back = await bob.submit(page, formWithAction(page, '/abort'), {}, REDIRECT);
    const params = backAtApp(back)!;
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toContain('Eng Lab is for people of College of Engineering');
    expect(params.get('code')).toBeNull();
    // Nothing was granted to the app for bob.
    const bobId = (await gateway.models.User.findOne({ where: { username: 'bob' } }))!.id;
    const grants = await gateway.models.OidcPayload.findAll({ where: { model: 'Grant' } });
    expect(
      grants.map((g) => JSON.parse(g.payload)).filter((g) => g.clientId === engApp.clientId && g.accountId === bobId),
    ).toEqual([]);
  });

  it('answers access_denied at once to prompt=none, and refuses an app whose roles the person lacks', async () => {
    const bob = await signedIn('bob');
    const silent = await authorize(engApp, bob, { prompt: 'none' });
    expect(backAtApp(silent.page)?.get('error')).toBe('access_denied');

    const alice = await signedIn('alice');
    const { page } = await authorize(staffOnly, alice, {});
    expect(page.status).toBe(403);
    expect(text(page)).toContain('Staff Room is only for people with the role staff, and you have none of them.');
  });

  it('signs a person of the owner unit straight in', async () => {
    const alice = await signedIn('alice');
    const { page, verifier } = await authorize(engApp, alice, { resource: ENG_NODE });
    const params = backAtApp(page)!;
    expect(params.get('code')).toBeTruthy();
    const tokens = await client.authorizationCodeGrant(
      engApp.config,
      new URL(page.url),
      { pkceCodeVerifier: verifier, expectedState: 'st' },
      { resource: ENG_NODE },
    );
    expect(tokens.scope).toBe('im');
  });
});

describe('an app that is no longer for a person', () => {
  it('gives them no new tokens at refresh, while the people it is still for refresh on', async () => {
    const desk = await rpOf(
      await register(gateway, { name: 'Campus Desk', slug: 'campus-desk', firstParty: true, redirectUris: [REDIRECT] }),
    );
    const tokensOf = async (username: string) => {
      const { page, verifier } = await authorize(desk, await signedIn(username), { prompt: 'consent' });
      return client.authorizationCodeGrant(desk.config, new URL(page.url), {
        pkceCodeVerifier: verifier,
        expectedState: 'st',
      });
    };
    const alice = await tokensOf('alice');
    const carol = await tokensOf('carol');
    const aliceAgain = await client.refreshTokenGrant(desk.config, alice.refresh_token!);

    // The campus narrows the app to Arts: alice (Engineering) may no longer sign in to it, carol (Arts too) may.
    const admin = await actingAs(gateway, 'admin');
    await updateApp(admin, 'campus-desk', { visibility: { units: ['campus/arts'], roles: [] } });
    await expect(client.refreshTokenGrant(desk.config, aliceAgain.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect((await client.refreshTokenGrant(desk.config, carol.refresh_token!)).access_token).toBeTruthy();
  });
});

describe('which chat nodes an app may get tokens for', () => {
  let engApp: Rp;
  let campusApp: Rp;

  beforeAll(async () => {
    engApp = await rpOf(
      await register(gateway, {
        name: 'Eng Notes',
        slug: 'eng-notes',
        ownerUnit: 'campus/eng',
        firstParty: true,
        botEnabled: true,
        redirectUris: [REDIRECT],
      }),
    );
    campusApp = await rpOf(
      await register(gateway, {
        name: 'Campus Notes',
        slug: 'campus-notes',
        firstParty: true,
        redirectUris: [REDIRECT],
      }),
    );
  });

  /** Signs `username` in to the app naming `resource`, and exchanges the code for tokens with `resource`. */
  async function tokensFor(rp: Rp, username: string, resource: string) {
    const agent = await signedIn(username);
    const { page, verifier } = await authorize(rp, agent, { resource, prompt: 'consent' });
    return client.authorizationCodeGrant(
      rp.config,
      new URL(page.url),
      { pkceCodeVerifier: verifier, expectedState: 'st' },
      { resource },
    );
  }

  it('refuses a node the person does not belong to, even for a campus-wide app', async () => {
    await expect(tokensFor(campusApp, 'alice', ARTS_NODE)).rejects.toMatchObject({ error: 'invalid_target' });
    expect((await tokensFor(campusApp, 'alice', ENG_NODE)).scope).toBe('im');
  });

  it("gives an Engineering app a person's Engineering node only, not their Arts one, at sign-in and at refresh", async () => {
    await expect(tokensFor(engApp, 'carol', ARTS_NODE)).rejects.toMatchObject({ error: 'invalid_target' });
    const tokens = await tokensFor(engApp, 'carol', ENG_NODE);
    expect(tokens.scope).toBe('im');
    await expect(
      client.refreshTokenGrant(engApp.config, tokens.refresh_token!, { resource: ARTS_NODE }),
    ).rejects.toMatchObject({ error: 'invalid_target' });
    // A campus-wide app reaches both of carol's nodes.
    expect((await tokensFor(campusApp, 'carol', ARTS_NODE)).scope).toBe('im');
  });

  it("gives an Engineering app's bot tokens for Engineering's node only", async () => {
    expect(
      (await client.clientCredentialsGrant(engApp.config, { resource: ENG_NODE, scope: 'im' })).access_token,
    ).toBeTruthy();
    await expect(
      client.clientCredentialsGrant(engApp.config, { resource: ARTS_NODE, scope: 'im' }),
    ).rejects.toMatchObject({ error: 'invalid_target' });
  });
});

describe('consent for a third-party app', () => {
  let survey: Rp;

  beforeAll(async () => {
    survey = await rpOf(
      await register(gateway, { name: 'Course Survey', slug: 'course-survey-x', redirectUris: [REDIRECT] }),
    );
  });

  it('lists in plain words what it will read before its first tokens, and asks again only for more', async () => {
    const dave = await signedIn('dave');
    const first = await authorize(survey, dave, { resource: [ENG_NODE, ARTS_NODE], prompt: 'consent' });
    expect(first.page.html).toContain('/confirm"');
    const listed = text(first.page);
    for (const line of [
      'See your name and username',
      'See your email address',
      'Read your chats and send messages as you on eng.campus.test',
      'Stay signed in while you are away (offline access)',
    ]) {
      expect(listed).toContain(line);
    }
    // dave belongs to Engineering only: the Arts node is not offered, since no token for it would be issued.
    expect(listed).not.toContain('arts.campus.test');
    const allowed = await dave.submit(first.page, formWithAction(first.page, '/confirm'), {}, REDIRECT);
    expect(backAtApp(allowed)?.get('code')).toBeTruthy();

    const again = await authorize(survey, dave, { scope: 'openid profile email im', resource: ENG_NODE });
    expect(backAtApp(again.page)?.get('code')).toBeTruthy();

    const more = await authorize(survey, dave, { scope: 'openid profile email im atrium', resource: ENG_NODE });
    expect(more.page.html).toContain('/confirm"');
    expect(text(more.page)).toContain('See your roles, units and chat domains');
    expect(text(more.page)).not.toContain('See your email address');
  });

  it('is asked for even when the person signs in afresh with prompt=login and no prompt=consent', async () => {
    const agent = new BrowserAgent();
    const { page } = await authorize(survey, agent, { prompt: 'login' });
    const consent = await agent.submit(
      page,
      formWithAction(page, '/login'),
      { username: 'alice', password: DEMO_PASSWORD },
      REDIRECT,
    );
    expect(consent.url).toContain('/interaction/');
    expect(consent.html).toContain('/confirm"');
  });
});

describe("the console's pages of an app with a bot", () => {
  /** The page's words, as read: a comma or parenthesis after an address set in code sits against it. */
  const words = (page: Page) => text(page).replace(/ ([,)])/g, '$1');

  it('name its bot at the chat domains that may host it, right after registering and on the app page', async () => {
    const { agent } = await signInToConsole(gateway.issuer, 'eng-admin');
    const form = await agent.navigate(`${gateway.issuer}/admin/apps/new`);
    const secrets = await submitFilled(agent, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Lab Bookings',
      slug: 'lab-bookings',
      redirectUris: REDIRECT,
      ownerUnit: 'campus/eng',
      visibilityUnits: ['campus/eng/ee'],
      botEnabled: 'on',
    });
    expect(secrets.url).toContain('/admin/apps/lab-bookings/secrets');
    expect(words(secrets)).toContain('Slug (bot address lab-bookings@eng.campus.test)');
    expect(secrets.html).not.toContain('&lt;domain&gt;');
    const page = await agent.navigate(`${gateway.issuer}/admin/apps/lab-bookings`);
    expect(words(page)).toContain('· bot lab-bookings@eng.campus.test');
    expect(page.html).not.toContain('&lt;domain&gt;');
  });

  it("list every campus domain for a campus-wide app's bot, and say when no chat domain hosts it", async () => {
    await register(gateway, { name: 'Campus Bell', slug: 'campus-bell', botEnabled: true, redirectUris: [REDIRECT] });
    await createUnit(asOperator(gateway), { path: 'campus/law', name: 'School of Law' });
    await register(gateway, {
      name: 'Law Clinic',
      slug: 'law-clinic',
      ownerUnit: 'campus/law',
      botEnabled: true,
      redirectUris: [REDIRECT],
    });
    const { agent } = await signInToConsole(gateway.issuer, 'admin');
    const bell = words(await agent.navigate(`${gateway.issuer}/admin/apps/campus-bell`));
    expect(bell).toContain('· bot campus-bell@arts.campus.test, campus-bell@eng.campus.test');
    const bellSecrets = words(await agent.navigate(`${gateway.issuer}/admin/apps/campus-bell/secrets`));
    expect(bellSecrets).toContain('Slug (bot addresses campus-bell@arts.campus.test, campus-bell@eng.campus.test)');
    const law = words(await agent.navigate(`${gateway.issuer}/admin/apps/law-clinic`));
    expect(law).toContain("· bot: no chat domain hosts this app's bot yet");
    const lawSecrets = words(await agent.navigate(`${gateway.issuer}/admin/apps/law-clinic/secrets`));
    expect(lawSecrets).toContain("Slug (no chat domain hosts this app's bot yet)");
  });
});
