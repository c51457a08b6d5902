import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, ENG_NODE, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { unusedUrl } from '../helpers/ports.ts';
import { inspectDatabase, jsonOf, runAtrium } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD, seedDemo } from '../../gateway/seed/demo.ts';
import { migrate } from '../../core/migrator.ts';
import { api, gatewayToken, register } from './helpers.ts';

/** Where the app of the CLI test would live, and the nodes it names: addresses nothing listens on. */
const LEAVE = await unusedUrl('localhost');
const NODES = { eng: await unusedUrl('localhost'), arts: await unusedUrl('localhost') };

const REDIRECT = 'http://localhost:9/admin-test-cb';
let gateway: TestGateway;
let adminToken: string;
let engAdminToken: string;

const url = (path: string) => `${gateway.issuer}${path}`;
/** What a person reads on the page's main part: tags stripped, entities decoded, spaces collapsed. */
const mainText = (page: Page) =>
  (/<main[^>]*>([\s\S]*)<\/main>/.exec(page.html)?.[1] ?? page.html)
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** Starts signing in to an app and stops at the page the login form leads to (a consent page, or the way back). */
async function codeFlowUntilConsent(config: client.Configuration, username: string, scope: string): Promise<Page> {
  const agent = new BrowserAgent();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    state: client.randomState(),
  });
  const login = await agent.navigate(url.toString(), {}, REDIRECT);
  return agent.submit(login, formWithAction(login, '/login'), { username, password: DEMO_PASSWORD }, REDIRECT);
}

/** The app's client secret as its OIDC client stores it (sealed): it changes whenever the secret is rotated. */
async function clientSecretSealed(slug: string): Promise<string> {
  const app = await gateway.models.App.findOne({ where: { slug } });
  const row = await gateway.models.OidcPayload.findOne({ where: { model: 'Client', id: app!.clientId } });
  return (JSON.parse(row!.payload) as { client_secret_sealed: string }).client_secret_sealed;
}

beforeAll(async () => {
  gateway = await startTestGateway('apps-admin', { LOGIN_IP_LIMIT: '1000' });
  // Tokens for the admin API carry atrium:admin, which the person allows on the consent page.
  adminToken = (await gatewayToken(gateway, 'admin', undefined, 'openid profile atrium:admin')).token;
  engAdminToken = (await gatewayToken(gateway, 'eng-admin', undefined, 'openid profile atrium:admin')).token;
});
afterAll(async () => gateway?.stop());

describe('the admin REST API', () => {
  it('registers, shows, edits, disables, rotates and deletes an app for an administrator', async () => {
    const created = await api(gateway, '/api/admin/v1/apps', adminToken, {
      method: 'POST',
      body: {
        name: 'Course Catalogue',
        slug: 'catalogue',
        redirectUris: [REDIRECT],
        homeUrl: 'https://catalogue.campus.example/',
        firstParty: true,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      app: { slug: 'catalogue', firstParty: true },
      clientSecret: expect.any(String),
      callbackSecret: expect.any(String),
    });
    const rp = await discover(gateway.issuer, created.body.app.clientId, created.body.clientSecret);
    expect((await codeFlow(rp, REDIRECT, 'alice')).tokens.claims()!.preferred_username).toBe('alice');

    expect(
      (await api(gateway, '/api/admin/v1/apps', adminToken)).body.apps.map((a: { slug: string }) => a.slug),
    ).toContain('catalogue');
    const shown = await api(gateway, '/api/admin/v1/apps/catalogue', adminToken);
    expect(shown.body.app).toMatchObject({ name: 'Course Catalogue', redirectUris: [REDIRECT] });
    expect(JSON.stringify(shown.body)).not.toContain(created.body.clientSecret);

    const edited = await api(gateway, '/api/admin/v1/apps/catalogue', adminToken, {
      method: 'PATCH',
      body: { description: 'Every course', visibility: { roles: ['student'] } },
    });
    expect(edited.body.app).toMatchObject({
      description: 'Every course',
      visibility: { units: [], roles: ['student'] },
    });

    expect(
      (await api(gateway, '/api/admin/v1/apps/catalogue/disable', adminToken, { method: 'POST' })).body.app.disabled,
    ).toBe(true);
    expect(
      (await api(gateway, '/api/admin/v1/apps/catalogue/enable', adminToken, { method: 'POST' })).body.app.disabled,
    ).toBe(false);
    const rotated = await api(gateway, '/api/admin/v1/apps/catalogue/rotate-secret', adminToken, { method: 'POST' });
    expect(rotated.body).toMatchObject({ slug: 'catalogue', clientSecret: expect.any(String) });
    const callback = await api(gateway, '/api/admin/v1/apps/catalogue/rotate-callback-secret', adminToken, {
      method: 'POST',
    });
    expect(callback.body.callbackSecret).not.toBe(created.body.callbackSecret);

    expect((await api(gateway, '/api/admin/v1/apps/catalogue', adminToken, { method: 'DELETE' })).status).toBe(204);
    expect((await api(gateway, '/api/admin/v1/apps/catalogue', adminToken)).status).toBe(404);
  });

  it('answers bad input with field errors and stores nothing', async () => {
    const before = await gateway.models.App.count();
    const refused = await api(gateway, '/api/admin/v1/apps', adminToken, {
      method: 'POST',
      body: {
        name: 'Bad',
        redirectUris: ['https://*.campus.example/cb'],
        homeUrl: 'http://bad.campus.example',
        visibility: { roles: ['king'] },
      },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: 'invalid_input',
      fields: {
        'redirectUris.0': 'wildcards are not allowed',
        homeUrl: 'must use https (http is allowed only for localhost)',
        'visibility.roles.0': expect.any(String),
      },
    });
    const broken = await fetch(url('/api/admin/v1/apps'), {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(broken.status).toBe(400);
    // A misspelt field is named, as a socket names a frame's, beside the other problems; nothing is stored.
    const misspelt = await api(gateway, '/api/admin/v1/apps', adminToken, {
      method: 'POST',
      body: { name: 'Typo', nmae: 'Typo', redirectUris: [REDIRECT], homeUrl: 'ftp://x', visibility: { role: [] } },
    });
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.error).toEqual({
      code: 'invalid_input',
      message: 'Unknown fields: visibility.role, nmae',
      fields: { nmae: 'unknown field', 'visibility.role': 'unknown field', homeUrl: expect.any(String) },
    });
    expect(await gateway.models.App.count()).toBe(before);

    await register(gateway, { name: 'Typo Check', slug: 'typo-check', redirectUris: [REDIRECT] });
    const shown = (await api(gateway, '/api/admin/v1/apps/typo-check', adminToken)).body;
    for (const body of [{ nmae: 'typo' }, { name: 'Renamed', visibility: { roles: ['staff'], unit: [] } }]) {
      const edited = await api(gateway, '/api/admin/v1/apps/typo-check', adminToken, { method: 'PATCH', body });
      expect(edited.status).toBe(400);
      expect(edited.body.error.code).toBe('invalid_input');
      expect(Object.values(edited.body.error.fields)).toEqual(['unknown field']);
    }
    expect((await api(gateway, '/api/admin/v1/apps/typo-check', adminToken)).body).toEqual(shown);
  });

  it('refuses a name a control character would turn around, or one that shows nothing, on registering and renaming', async () => {
    const before = await gateway.models.App.count();
    for (const [name, why] of [
      ['Grades \u202Eevil', 'cannot contain control characters'],
      ['\u200B\u3000', 'needs a visible character'],
    ]) {
      const refused = await api(gateway, '/api/admin/v1/apps', adminToken, {
        method: 'POST',
        body: { name, redirectUris: [REDIRECT] },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({
        code: 'invalid_input',
        fields: { name: expect.stringContaining(why!) },
      });
    }
    expect(await gateway.models.App.count()).toBe(before);
    await register(gateway, { name: 'Plain Name', slug: 'plain-name', redirectUris: [REDIRECT] });
    const renamed = await api(gateway, '/api/admin/v1/apps/plain-name', adminToken, {
      method: 'PATCH',
      body: { name: 'Plain \u2066Name\u2069' },
    });
    expect(renamed.status).toBe(400);
    expect(renamed.body.error.fields).toEqual({ name: expect.stringContaining('cannot contain control characters') });
    expect((await api(gateway, '/api/admin/v1/apps/plain-name', adminToken)).body.app.name).toBe('Plain Name');
  });

  it('limits a unit admin to their own unit, and refuses people who are not administrators', async () => {
    const own = await api(gateway, '/api/admin/v1/apps', engAdminToken, {
      method: 'POST',
      body: { name: 'Robotics Lab', redirectUris: [REDIRECT] },
    });
    expect(own).toMatchObject({ status: 201, body: { app: { ownerUnit: 'campus/eng' } } });
    const elsewhere = await api(gateway, '/api/admin/v1/apps', engAdminToken, {
      method: 'POST',
      body: { name: 'Theatre', ownerUnit: 'campus/arts', redirectUris: [REDIRECT] },
    });
    expect(elsewhere).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    await register(gateway, {
      name: 'Music Rooms',
      slug: 'music-rooms',
      ownerUnit: 'campus/arts',
      redirectUris: [REDIRECT],
    });
    expect((await api(gateway, '/api/admin/v1/apps/music-rooms', engAdminToken)).status).toBe(404);
    expect(
      (await api(gateway, '/api/admin/v1/apps', engAdminToken)).body.apps.map((a: { slug: string }) => a.slug),
    ).toEqual(['robotics-lab']);

    const student = (await gatewayToken(gateway, 'alice')).token;
    expect((await api(gateway, '/api/admin/v1/apps', student)).status).toBe(403);
    expect((await api(gateway, '/api/admin/v1/apps', undefined)).status).toBe(401);
  });

  it("takes an administrator's token only from a first-party client, and only with the atrium:admin scope they allowed", async () => {
    const thirdParty = await register(gateway, { name: 'Some survey', redirectUris: [REDIRECT] });
    const rp = await discover(gateway.issuer, thirdParty.clientId, thirdParty.clientSecret);
    const { tokens } = await codeFlow(rp, REDIRECT, 'admin', { scope: 'openid profile' });
    const refused = await api(gateway, '/api/admin/v1/apps', tokens.access_token);
    expect(refused).toMatchObject({
      status: 403,
      body: { error: { message: expect.stringContaining('first-party') } },
    });
    // The same person's token still opens their workbench.
    expect((await api(gateway, '/api/v1/workbench', tokens.access_token)).status).toBe(200);
    // Nor from a first-party app the administrator merely signed in to: without atrium:admin, no admin API.
    const firstParty = await register(gateway, { name: 'Room booking', redirectUris: [REDIRECT], firstParty: true });
    const own = await discover(gateway.issuer, firstParty.clientId, firstParty.clientSecret);
    const signedIn = await codeFlow(own, REDIRECT, 'admin', { scope: 'openid profile atrium' });
    const withoutScope = await api(gateway, '/api/admin/v1/apps', signedIn.tokens.access_token);
    expect(withoutScope).toMatchObject({
      status: 403,
      body: { error: { message: expect.stringContaining('atrium:admin') } },
    });
    // RFC 6750: the challenge names the scope to ask for.
    expect(withoutScope.headers.get('www-authenticate')).toBe(
      'Bearer realm="atrium", error="insufficient_scope", scope="atrium:admin"',
    );
    // A first-party app gets its other scopes without a consent page, but atrium:admin only when the person allows it there.
    const asking = await codeFlowUntilConsent(own, 'admin', 'openid profile atrium:admin');
    expect(asking.html).toContain('Act as an administrator of Atrium for you');
    // Someone who is no administrator is not even asked: the app hears access_denied.
    const student = await codeFlowUntilConsent(own, 'alice', 'openid profile atrium:admin');
    expect(new URL(student.url).searchParams.get('error')).toBe('access_denied');
    expect(new URL(student.url).searchParams.get('error_description')).toContain('Only administrators');
    // And a token stops working when its client's app is disabled.
    await api(gateway, `/api/admin/v1/apps/${thirdParty.slug}/disable`, adminToken, { method: 'POST' });
    expect((await api(gateway, '/api/v1/workbench', tokens.access_token)).status).toBe(401);
  });
});

describe("the admin console's Apps pages", () => {
  let admin: BrowserAgent;
  beforeAll(async () => {
    ({ agent: admin } = await signInToConsole(gateway.issuer, 'admin'));
  });

  it('registers an app through the form, shows its secrets once, and lists it', async () => {
    const form = await admin.navigate(url('/admin/apps/new'));
    expect(form.html).toContain('href="/admin/apps" aria-current="page">Apps</a>');
    const done = await submitFilled(admin, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Leave <Requests>',
      slug: 'leave-requests',
      icon: '🌴',
      homeUrl: 'https://leave.campus.example/',
      redirectUris: `https://leave.campus.example/cb\n${LEAVE}/auth/callback`,
      interactionCallbackUrl: 'https://leave.campus.example/atrium/callback',
      ownerUnit: 'campus/eng',
      visibilityRoles: ['student', 'staff'],
      firstParty: 'on',
      botEnabled: 'on',
    });
    expect(done.status).toBe(200);
    expect(done.url).toBe(url('/admin/apps/leave-requests/secrets'));
    expect(mainText(done)).toContain('shown only this once');
    const secret = /data-secret="client">([\w-]{43})</.exec(done.html)?.[1];
    const callbackSecret = /data-secret="callback">([\w-]{43})</.exec(done.html)?.[1];
    expect(secret && callbackSecret).toBeTruthy();
    expect(done.html).toContain('Leave &lt;Requests&gt;');
    expect(mainText(done)).toMatch(/Slug \(bot address leave-requests@eng\.campus\.test ?\) leave-requests Client id/);

    // A reload asks for the page again, registers nothing, and does not show the secrets again.
    const reloaded = await admin.navigate(done.url);
    expect(reloaded.status).toBe(200);
    expect(reloaded.html).not.toContain(secret!);
    expect(reloaded.html).not.toContain(callbackSecret!);
    expect(mainText(reloaded)).toContain('were shown once, on this page right after they were made');
    expect(mainText(reloaded)).toContain("make a new one under Secrets on the app's page");
    expect(await gateway.models.App.count({ where: { name: 'Leave <Requests>' } })).toBe(1);
    // On their way to the page the secrets waited in the session store, sealed.
    for (const row of await gateway.models.WebSession.findAll()) {
      expect(row.data).not.toContain(secret!);
      expect(row.data).not.toContain(callbackSecret!);
    }
    const app = await gateway.models.App.findOne({ where: { slug: 'leave-requests' } });
    expect(app).toMatchObject({
      ownerUnit: 'campus/eng',
      visibilityRoles: ['student', 'staff'],
      firstParty: true,
      botEnabled: true,
    });
    const rp = await discover(gateway.issuer, app!.clientId, secret!);
    expect((await client.clientCredentialsGrant(rp, { resource: ENG_NODE, scope: 'im' })).access_token).toBeTruthy();

    const list = await admin.navigate(url('/admin/apps'));
    expect(mainText(list)).toContain('🌴 Leave <Requests>');
    const page = await admin.navigate(url('/admin/apps/leave-requests'));
    expect(page.html).not.toContain(secret!);
    expect(page.html).not.toContain(callbackSecret!);
  });

  it("keeps each app's new secrets for its own page, when another is registered before that page is open", async () => {
    const form = await admin.navigate(url('/admin/apps/new'));
    const fields = (slug: string) => ({ name: slug, slug, redirectUris: `https://${slug}.campus.example/cb` });
    // The first registration's redirect is not followed yet (a slow tab) when the second one is made.
    const first = await admin.submit(form, formWithAction(form, '/admin/apps'), fields('tab-one'), url('/admin/apps/'));
    expect(first.url).toBe(url('/admin/apps/tab-one/secrets'));
    const second = await submitFilled(admin, form, filledFormWithAction(form, '/admin/apps'), fields('tab-two'));
    expect(second.html).toMatch(/data-secret="client">[\w-]{43}</);
    // An app without a bot (the box left unticked) has no bot address to show.
    expect(mainText(second)).toMatch(/Slug tab-two Client id/);
    expect(mainText(second)).not.toContain('bot address');
    const opened = await admin.navigate(first.url);
    expect(mainText(opened)).toContain('Registered tab-one');
    expect(opened.html).toMatch(/data-secret="client">[\w-]{43}</);
    expect(mainText(await admin.navigate(first.url))).toContain('were shown once');
  });

  it('shows field errors beside the fields and keeps the input', async () => {
    const form = await admin.navigate(url('/admin/apps/new'));
    const refused = await submitFilled(admin, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Broken',
      redirectUris: 'https://*.campus.example/cb',
      homeUrl: 'http://broken.campus.example',
    });
    expect(refused.status).toBe(400);
    for (const field of ['redirectUris', 'homeUrl']) expect(refused.html).toContain(`id="${field}-error"`);
    expect(refused.html).toContain('value="Broken"');
    expect(await gateway.models.App.count({ where: { name: 'Broken' } })).toBe(0);
  });

  it('refuses a name a control character would turn around, beside the field', async () => {
    const form = await admin.navigate(url('/admin/apps/new'));
    const refused = await submitFilled(admin, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Exam \u202Eresults',
      redirectUris: 'https://exams.campus.example/cb',
    });
    expect(refused.status).toBe(400);
    expect(/id="name-error">([^<]*)</.exec(refused.html)?.[1]).toContain('cannot contain control characters');
    expect(await gateway.models.App.count({ where: { name: 'Exam \u202Eresults' } })).toBe(0);
  });

  it('refuses a name an app shown to the same people has, beside the field, and says why a slug is not the name’s', async () => {
    const form = await admin.navigate(url('/admin/apps/new'));
    const register = (name: string) =>
      submitFilled(admin, form, filledFormWithAction(form, '/admin/apps'), {
        name,
        redirectUris: 'https://named.campus.example/cb',
      });
    const refused = await register('Leave <Requests>');
    expect(refused.status).toBe(400);
    expect(/id="name-error">([^<]*)</.exec(refused.html)?.[1]).toBe(
      'app leave-requests has this name and is shown to some of the same people; choose another name',
    );
    const alice = await register('Alice');
    expect(alice.url).toBe(url('/admin/apps/alice-2/secrets'));
    expect(alice.html).toContain(
      '<p id="slug-taken">Its slug is <code>alice-2</code>: <code>alice</code>, made from its name, is taken (a person has this username).',
    );
  });

  it('names every refused URI by the line it is on, with all that is wrong with it, and keeps the lines as typed', async () => {
    const form = await admin.navigate(url('/admin/apps/new'));
    const typed = 'https://ok.campus.example/cb\nhttp://labs.campus.example/cb\n\nhttps://*.campus.example/cb#x';
    const refused = await submitFilled(admin, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Lines',
      redirectUris: typed,
      postLogoutRedirectUris: 'https://ok.campus.example/bye, http://x.campus.example/bye',
    });
    expect(refused.status).toBe(400);
    const text = mainText(refused);
    expect(text).toContain(
      '2 lines are not acceptable: ' +
        'Line 2: http://labs.campus.example/cb: must use https (http is allowed only for localhost) ' +
        'Line 4: https://*.campus.example/cb#x: wildcards are not allowed; must not contain a #fragment',
    );
    expect(text).toContain('1 line is not acceptable: Line 1: http://x.campus.example/bye: must use https');
    expect(refused.html).toContain('aria-describedby="redirectUris-hint redirectUris-error" aria-invalid="true"');
    const again = filledFormWithAction(refused, '/admin/apps');
    expect(again.entries.find(([name]) => name === 'redirectUris')?.[1]).toBe(typed);
    expect(await gateway.models.App.count({ where: { name: 'Lines' } })).toBe(0);
  });

  it('edits, disables (asking first) and deletes an app (deletion needs its slug typed)', async () => {
    const page = await admin.navigate(url('/admin/apps/leave-requests'));
    const saved = await submitFilled(admin, page, filledFormWithAction(page, '/admin/apps/leave-requests'), {
      description: 'Ask for leave',
    });
    expect(mainText(saved)).toContain('Saved Leave <Requests>.');
    expect((await gateway.models.App.findOne({ where: { slug: 'leave-requests' } }))!.description).toBe(
      'Ask for leave',
    );

    // Disabling ends everyone's use of it at once: the page says so, and asks first.
    expect(mainText(saved)).toContain(
      'Disabling Leave <Requests> stops it for everyone at once: nobody can sign in to it, it gets no new or refreshed tokens',
    );
    const disableForm = filledFormWithAction(saved, '/admin/apps/leave-requests/disable');
    const unticked = await submitFilled(admin, saved, disableForm);
    expect(unticked.status).toBe(400);
    expect(/id="disable-error">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to disable Leave &lt;Requests&gt;. It was not disabled.',
    );
    expect(unticked.html).toMatch(/id="disable-understood"[^>]* aria-invalid="true" autofocus>/);
    expect((await gateway.models.App.findOne({ where: { slug: 'leave-requests' } }))!.disabled).toBe(false);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'app.disable', target: 'leave-requests' } })).toBe(
      0,
    );
    const disabled = await submitFilled(admin, saved, disableForm, { understood: 'yes' });
    expect(mainText(disabled)).toContain('Disabled Leave <Requests>');
    expect((await gateway.models.App.findOne({ where: { slug: 'leave-requests' } }))!.disabled).toBe(true);
    // A new secret ends the one the live app holds at once: each button asks first, and unticked changes nothing.
    const sealedAtFirst = await clientSecretSealed('leave-requests');
    const rotateForm = filledFormWithAction(disabled, '/admin/apps/leave-requests/rotate-secret');
    const untickedRotate = await submitFilled(admin, disabled, rotateForm);
    expect(untickedRotate.status).toBe(400);
    expect(/id="rotate-error">([^<]*)</.exec(untickedRotate.html)?.[1]).toBe(
      'Tick “I understand” to make Leave &lt;Requests&gt; a new client secret. The secret was not changed.',
    );
    expect(untickedRotate.html).toMatch(/id="rotate-understood"[^>]* aria-invalid="true" autofocus>/);
    expect(mainText(untickedRotate)).toContain(
      'I understand: Leave <Requests> stops working when the old client secret ends, unless it has the new one by then.',
    );
    const callbackForm = filledFormWithAction(disabled, '/admin/apps/leave-requests/rotate-callback-secret');
    const callbackBefore = (await gateway.models.App.findOne({ where: { slug: 'leave-requests' } }))!
      .callbackSecretSealed;
    const untickedCallback = await submitFilled(admin, disabled, callbackForm);
    expect(untickedCallback.status).toBe(400);
    expect(/id="rotate-callback-error">([^<]*)</.exec(untickedCallback.html)?.[1]).toBe(
      'Tick “I understand” to make Leave &lt;Requests&gt; a new callback secret. The secret was not changed.',
    );
    expect(await clientSecretSealed('leave-requests')).toBe(sealedAtFirst);
    expect((await gateway.models.App.findOne({ where: { slug: 'leave-requests' } }))!.callbackSecretSealed).toBe(
      callbackBefore,
    );
    expect(
      await gateway.models.AuditEvent.count({
        where: { action: ['app.rotate_client_secret', 'app.rotate_callback_secret'], target: 'leave-requests' },
      }),
    ).toBe(0);
    const rotated = await submitFilled(admin, disabled, rotateForm, { understood: 'yes' });
    expect(rotated.url).toBe(url('/admin/apps/leave-requests/secrets'));
    const rotatedSecret = /data-secret="client">([\w-]{43})</.exec(rotated.html)?.[1];
    expect(rotatedSecret).toBeTruthy();
    // A reload neither rotates it again under the one just copied nor shows it again.
    const sealedBefore = await clientSecretSealed('leave-requests');
    const reloaded = await admin.navigate(rotated.url);
    expect(reloaded.html).not.toContain(rotatedSecret!);
    expect(mainText(reloaded)).toContain('were shown once');
    expect(await clientSecretSealed('leave-requests')).toBe(sealedBefore);
    expect(
      await gateway.models.AuditEvent.count({
        where: { action: 'app.rotate_client_secret', target: 'leave-requests' },
      }),
    ).toBe(1);

    const edit = await admin.navigate(url('/admin/apps/leave-requests'));
    const unconfirmed = await submitFilled(
      admin,
      edit,
      filledFormWithAction(edit, '/admin/apps/leave-requests/delete'),
      { confirm: 'nope' },
    );
    expect(unconfirmed.html).toContain('id="confirm-error"');
    const deleted = await submitFilled(admin, edit, filledFormWithAction(edit, '/admin/apps/leave-requests/delete'), {
      confirm: 'leave-requests',
    });
    expect(deleted.url).toBe(url('/admin/apps'));
    expect(mainText(deleted)).toContain('Deleted Leave <Requests>');
  });

  it('saves only what was changed on a page opened before another change, and refuses a field changed twice', async () => {
    const appNow = () => gateway.models.App.findOne({ where: { slug: 'tab-two' } });
    const redirectUris = async () => {
      const row = await gateway.models.OidcPayload.findOne({
        where: { model: 'Client', id: (await appNow())!.clientId },
      });
      return (JSON.parse(row!.payload) as { redirect_uris: string[] }).redirect_uris;
    };
    const stale = await admin.navigate(url('/admin/apps/tab-two'));
    const other = await admin.navigate(url('/admin/apps/tab-two'));
    const changed = await submitFilled(admin, other, filledFormWithAction(other, '/admin/apps/tab-two'), {
      redirectUris: 'https://tab-two.campus.example/new-cb',
      firstParty: 'on',
    });
    expect(mainText(changed)).toContain('Saved tab-two.');

    const saved = await submitFilled(admin, stale, filledFormWithAction(stale, '/admin/apps/tab-two'), {
      description: 'Opened in two tabs',
    });
    expect(mainText(saved)).toContain('Saved tab-two.');
    expect(await appNow()).toMatchObject({ description: 'Opened in two tabs', firstParty: true });
    expect(await redirectUris()).toEqual(['https://tab-two.campus.example/new-cb']);

    const updates = () => gateway.models.AuditEvent.count({ where: { action: 'app.update', target: 'tab-two' } });
    const before = await updates();
    const refused = await submitFilled(admin, stale, filledFormWithAction(stale, '/admin/apps/tab-two'), {
      redirectUris: 'https://tab-two.campus.example/other-cb',
      botEnabled: 'on',
    });
    expect(refused.status).toBe(409);
    expect(mainText(refused)).toContain(
      'tab-two was changed since you opened this page (redirect URIs): nothing was saved.',
    );
    expect(/id="redirectUris-error">\s*<p>([^<]*)</.exec(refused.html)?.[1]).toContain(
      'you had chosen: https://tab-two.campus.example/other-cb.',
    );
    expect(refused.html).toContain('https://tab-two.campus.example/new-cb</textarea>');
    expect((await appNow())!.botEnabled).toBe(false);
    expect(await redirectUris()).toEqual(['https://tab-two.campus.example/new-cb']);
    expect((await appNow())!.firstParty).toBe(true);

    const again = await submitFilled(admin, refused, filledFormWithAction(refused, '/admin/apps/tab-two'));
    expect(mainText(again)).toContain('Nothing changed for tab-two.');
    expect(await updates()).toBe(before);
  });

  it('gives a unit admin only their own units to choose from', async () => {
    const { agent: engAdmin } = await signInToConsole(gateway.issuer, 'eng-admin');
    const form = await engAdmin.navigate(url('/admin/apps/new'));
    expect(form.html).not.toContain('Campus-wide');
    expect(form.html).not.toContain('value="campus/arts"');
    const list = await engAdmin.navigate(url('/admin/apps'));
    expect(mainText(list)).toContain('Robotics Lab');
    expect(mainText(list)).not.toContain('Music Rooms');
    expect(mainText(list)).toContain('These are the apps of your units. Campus-wide apps, and those of other units');
    expect((await engAdmin.navigate(url('/admin/apps/music-rooms'))).status).toBe(404);
  });

  it('tells a unit admin without apps of their own where the others are', async () => {
    await addPerson(gateway, 'history-admin', { units: ['campus/arts/history'], roles: ['unit-admin', 'staff'] });
    const { agent: historyAdmin } = await signInToConsole(gateway.issuer, 'history-admin');
    const text = mainText(await historyAdmin.navigate(url('/admin/apps')));
    expect(text).toContain('No apps of your units yet.');
    expect(text).toContain('Campus-wide apps, and those of other units, are managed by campus administrators.');
    expect(text).not.toContain('No apps yet.');
  });

  it('does not offer a unit admin the first-party flag, except to clear it on an app a campus admin set it on', async () => {
    const { agent: engAdmin } = await signInToConsole(gateway.issuer, 'eng-admin');
    const form = await engAdmin.navigate(url('/admin/apps/new'));
    expect(form.html).not.toContain('name="firstParty"');
    const registered = await submitFilled(engAdmin, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Drone Lab',
      slug: 'drone-lab',
      redirectUris: 'https://drones.campus.example/cb',
    });
    expect(registered.url).toBe(url('/admin/apps/drone-lab/secrets'));

    // Saving leaves the flag alone: made first-party meanwhile, the app is refused to them, not cleared.
    const page = await engAdmin.navigate(url('/admin/apps/drone-lab'));
    expect(page.html).not.toContain('name="firstParty"');
    await gateway.models.App.update({ firstParty: true }, { where: { slug: 'drone-lab' } });
    const edit = filledFormWithAction(page, '/admin/apps/drone-lab');
    const refused = await submitFilled(engAdmin, page, edit, { description: 'Flying things' });
    expect(refused.status).toBe(403);
    expect(mainText(refused)).toContain('Drone Lab is first-party, which only campus administrators may keep');
    expect((await gateway.models.App.findOne({ where: { slug: 'drone-lab' } }))!.firstParty).toBe(true);

    // On a first-party app they see the flag ticked, and may clear it.
    const firstParty = await engAdmin.navigate(url('/admin/apps/drone-lab'));
    expect(firstParty.html).toMatch(/name="firstParty" value="on" checked/);
    expect(mainText(firstParty)).toContain('set by a campus administrator, and only they may keep it');
    const cleared = await submitFilled(
      engAdmin,
      firstParty,
      filledFormWithAction(firstParty, '/admin/apps/drone-lab'),
      { firstParty: [], description: 'Flying things' },
    );
    expect(mainText(cleared)).toContain('Saved Drone Lab.');
    expect((await gateway.models.App.findOne({ where: { slug: 'drone-lab' } }))!).toMatchObject({
      firstParty: false,
      description: 'Flying things',
    });
  });

  it('refuses a first-party flag a unit admin posts on an edit, as on registering, rather than ignoring it', async () => {
    const { agent: engAdmin } = await signInToConsole(gateway.issuer, 'eng-admin');
    const form = await engAdmin.navigate(url('/admin/apps/new'));
    await submitFilled(engAdmin, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Wind Tunnel',
      slug: 'wind-tunnel',
      redirectUris: 'https://wind.campus.example/cb',
    });
    const page = await engAdmin.navigate(url('/admin/apps/wind-tunnel'));
    const refused = await submitFilled(engAdmin, page, filledFormWithAction(page, '/admin/apps/wind-tunnel'), {
      firstParty: 'on',
    });
    expect(refused.status).toBe(403);
    expect(mainText(refused)).toContain('Only campus administrators may mark an app first-party');
    expect((await gateway.models.App.findOne({ where: { slug: 'wind-tunnel' } }))!.firstParty).toBe(false);
  });

  it('names the unit a unit admin may not show an app to, and the field, on registering and on editing', async () => {
    const { agent: engAdmin } = await signInToConsole(gateway.issuer, 'eng-admin');
    const words = 'You may make apps visible only to your own units: campus/arts is not one of them';
    const form = await engAdmin.navigate(url('/admin/apps/new'));
    const refused = await submitFilled(engAdmin, form, filledFormWithAction(form, '/admin/apps'), {
      name: 'Wave Tank',
      slug: 'wave-tank',
      redirectUris: 'https://waves.campus.example/cb',
      visibilityUnits: ['campus/arts'],
    });
    expect(refused.status).toBe(400);
    expect(/<p class="notice[^"]*"[^>]*>([^<]*)</.exec(refused.html)?.[1]).toContain(words);
    expect(/id="visibility-error">([^<]*)</.exec(refused.html)?.[1]).toBe(words);
    expect(await gateway.models.App.findOne({ where: { slug: 'wave-tank' } })).toBeNull();

    const again = await submitFilled(engAdmin, refused, filledFormWithAction(refused, '/admin/apps'), {
      visibilityUnits: ['campus/eng/cs'],
    });
    expect(again.url).toBe(url('/admin/apps/wave-tank/secrets'));
    const page = await engAdmin.navigate(url('/admin/apps/wave-tank'));
    const edited = await submitFilled(engAdmin, page, filledFormWithAction(page, '/admin/apps/wave-tank'), {
      visibilityUnits: ['campus/eng/cs', 'campus/arts'],
    });
    expect(edited.status).toBe(400);
    expect(mainText(edited)).toContain(words);
    expect(mainText(edited)).not.toContain('Some units are not acceptable');
    expect((await gateway.models.App.findOne({ where: { slug: 'wave-tank' } }))!.visibilityUnits).toEqual([
      'campus/eng/cs',
    ]);
  });
});

describe('atrium apps', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('cli-apps');
    const inspect = await inspectDatabase(db);
    await migrate(inspect.sequelize, 'gateway');
    await seedDemo(inspect.ctx, NODES);
    await inspect.close();
  });
  afterAll(async () => db?.drop());

  it('reports every problem of a new app at once', async () => {
    const args = ['apps', 'add', '--name', 'Lab', '--redirect-uri', `${LEAVE}/cb`, '--owner-unit', 'campus/eng'];
    const units = ['campus/nope', 'campus/nope2', 'campus/arts'].flatMap((u) => ['--visible-unit', u]);
    const refused = await runAtrium(db, [...args, ...units, '--visible-role', 'wizard', '--slug', 'alice']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      [
        'atrium: Some fields are invalid',
        '  visibility role 1: one of student, staff, admin, unit-admin',
        '  visibility.units: unknown unit campus/nope, campus/nope2; must lie within the owner unit campus/eng: campus/arts',
        '  slug: a person has this username',
        '',
      ].join('\n'),
    );
  });

  it('refuses a name a control character would turn around', async () => {
    const refused = await runAtrium(db, ['apps', 'add', '--name', 'Lab \u202Eevil', '--redirect-uri', `${LEAVE}/cb`]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('  name: cannot contain control characters');
  });

  it('refuses a name another app shown to the same people has, and says why a slug is not the name’s', async () => {
    const add = (...more: string[]) =>
      runAtrium(db, ['apps', 'add', '--name', 'Lab', '--redirect-uri', `${LEAVE}/cb`, ...more]);
    expect((await add('--owner-unit', 'campus/eng')).stdout).toContain('  slug:            lab\n');
    const [campusWide, arts] = await Promise.all([add(), add('--owner-unit', 'campus/arts')]);
    expect(campusWide.code).toBe(2);
    expect(campusWide.stderr).toMatch(
      /^atrium: Some fields are invalid\n {2}name: app lab(-2)? has this name and is shown to some of the same people; choose another name\n$/,
    );
    expect(arts.stdout).toContain('  slug:            lab-2 (lab is taken: another app has this slug)\n');
  });

  it('adds, lists, shows, updates, disables, enables, rotates and deletes apps', async () => {
    const added = await runAtrium(db, [
      'apps',
      'add',
      '--name',
      'Leave Approval',
      '--slug',
      'leave-approval',
      '--redirect-uri',
      `${LEAVE}/auth/callback`,
      '--home-url',
      `${LEAVE}/`,
      '--callback-url',
      `${LEAVE}/atrium/callback`,
      '--post-logout-redirect-uri',
      `${LEAVE}/`,
      '--post-logout-redirect-uri',
      `${LEAVE}/bye`,
      '--backchannel-logout-uri',
      `${LEAVE}/backchannel-logout`,
      '--owner-unit',
      'campus/eng',
      '--visible-role',
      'student',
      '--visible-role',
      'staff',
      '--first-party',
      '--bot',
      '--icon',
      '🌴',
      '--json',
    ]);
    expect(added.code).toBe(0);
    expect(jsonOf(added)).toMatchObject({
      slug: 'leave-approval',
      clientSecret: expect.any(String),
      callbackSecret: expect.any(String),
      app: { botEnabled: true, ownerUnit: 'campus/eng' },
    });

    const listed = await runAtrium(db, ['apps', 'list']);
    expect(listed.stdout).toMatch(/^SLUG\s+NAME\s+CLIENT ID\s+OWNER UNIT\s+VISIBLE TO\s+STATUS$/m);
    expect(listed.stdout).toMatch(
      /leave-approval\s+Leave Approval\s+app-[0-9a-f]{8}\s+campus\/eng\s+student,staff\s+enabled,first-party,bot/,
    );

    const updated = jsonOf(
      await runAtrium(db, [
        'apps',
        'update',
        'leave-approval',
        '--description',
        'Ask for leave',
        '--bot',
        'no',
        '--home-url',
        '',
        '--visible-to-all',
        '--json',
      ]),
    );
    expect(updated).toMatchObject({ description: 'Ask for leave', botEnabled: false, homeUrl: null });
    // Shown to everyone of its owner unit, as the console's list says it, not to everyone on campus.
    expect((await runAtrium(db, ['apps', 'list'])).stdout).toMatch(
      /leave-approval\s+Leave Approval\s+app-[0-9a-f]{8}\s+campus\/eng\s+everyone in campus\/eng\s+enabled,first-party$/m,
    );
    const wrong = await runAtrium(db, [
      'apps',
      'update',
      'leave-approval',
      '--home-url',
      'http://leave.campus.example',
    ]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('must use https');

    expect(jsonOf(await runAtrium(db, ['apps', 'disable', 'leave-approval', '--json'])).disabled).toBe(true);
    expect((await runAtrium(db, ['apps', 'enable', 'leave-approval'])).stdout).toContain('Enabled Leave Approval');
    const shown = (await runAtrium(db, ['apps', 'show', 'leave-approval'])).stdout;
    expect(shown).toMatch(/^ {2}visible to: +everyone in campus\/eng$/m);
    // What the workbench shows of it, too.
    expect(shown).toMatch(/^ {2}icon: +🌴$/m);
    expect(shown).toMatch(/^ {2}description: +Ask for leave$/m);
    // Every URI the app was registered with, as --json gives them.
    expect(shown).toMatch(new RegExp(`^ {2}post-logout URIs: +${LEAVE}/, ${LEAVE}/bye$`, 'm'));
    expect(shown).toMatch(new RegExp(`^ {2}back-channel logout: +${LEAVE}/backchannel-logout$`, 'm'));
    const rotated = await runAtrium(db, ['apps', 'rotate-secret', 'leave-approval']);
    expect(rotated.stdout).toMatch(/New client secret for leave-approval \(client id app-[0-9a-f]{8}\): [\w-]{43}/);
    expect(
      jsonOf(await runAtrium(db, ['apps', 'rotate-secret', 'leave-approval', '--callback', '--json'])).callbackSecret,
    ).toMatch(/^[\w-]{43}$/);

    expect((await runAtrium(db, ['apps', 'delete', 'leave-approval'])).code).toBe(2);
    const deleted = await runAtrium(db, ['apps', 'delete', 'leave-approval', '--yes']);
    expect(deleted.stdout).toContain('Deleted leave-approval');
    expect((await runAtrium(db, ['apps', 'show', 'leave-approval'])).code).not.toBe(0);

    const inspect = await inspectDatabase(db);
    const actions = (await inspect.ctx.models.AuditEvent.findAll({ where: { target: 'leave-approval' } })).map(
      (e) => e.action,
    );
    await inspect.close();
    expect(actions).toEqual([
      'app.register',
      'app.update',
      'app.disable',
      'app.enable',
      'app.rotate_client_secret',
      'app.rotate_callback_secret',
      'app.delete',
    ]);
    // Thirteen CLI processes one after another, each starting Node and opening the database.
  }, 60_000);

  it('says an app was already disabled or enabled, and keeps at least one redirect URI', async () => {
    const added = await runAtrium(db, [
      'apps',
      'add',
      '--name',
      'Library',
      '--slug',
      'library',
      '--redirect-uri',
      `${LEAVE}/library/cb`,
      '--post-logout-redirect-uri',
      `${LEAVE}/library/bye`,
      '--backchannel-logout-uri',
      `${LEAVE}/library/logout`,
    ]);
    expect(added.code).toBe(0);
    const apps = (...words: string[]) => runAtrium(db, ['apps', ...words]);
    const [enabledAlready, refused, cleared] = await Promise.all([
      apps('enable', 'library'),
      apps('update', 'library', '--redirect-uri', ''),
      apps(
        'update',
        'library',
        '--post-logout-redirect-uri',
        '',
        '--description',
        'Books\u001b[2J and\nrooms \u202Eskoob',
      ),
    ]);
    expect(enabledAlready).toMatchObject({
      code: 0,
      stdout: 'Library (library) was already enabled; nothing changed.\n',
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'atrium: an app keeps at least one redirect URI, so --redirect-uri "" cannot clear them; give the ones it should have instead',
    );
    expect(cleared.stdout).toMatch(new RegExp(`^ {2}redirect URIs: +${LEAVE}/library/cb$`, 'm'));
    expect(cleared.stdout).toMatch(/^ {2}post-logout URIs: +-$/m);
    // Its description on one line, an escape sequence or a text-reversing character shown rather than sent.
    expect(cleared.stdout).toMatch(/^ {2}description: +Books⟨U\+001B⟩\[2J and rooms ⟨U\+202E⟩skoob$/m);
    expect(cleared.stdout).toMatch(/^ {2}icon: +-$/m);
    expect(cleared.stdout).toMatch(new RegExp(`^ {2}back-channel logout: +${LEAVE}/library/logout$`, 'm'));
    expect(await apps('disable', 'library')).toMatchObject({ code: 0, stdout: 'Disabled Library (library).\n' });
    expect(await apps('disable', 'library')).toMatchObject({
      code: 0,
      stdout: 'Library (library) was already disabled; nothing changed.\n',
    });

    const inspect = await inspectDatabase(db);
    const actions = (await inspect.ctx.models.AuditEvent.findAll({ where: { target: 'library' } })).map(
      (e) => e.action,
    );
    await inspect.close();
    // Each status written once; the runs that found it so wrote nothing.
    expect(actions).toEqual(['app.register', 'app.update', 'app.disable']);
  }, 30_000);
});
