import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { TOTP, Secret } from 'otpauth';
import {
  BrowserAgent,
  filledFormWithAction,
  formsOf,
  formWithAction,
  htmlText,
  mainText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, registerTestApp, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { SoftwarePasskey } from '../helpers/software-passkey.ts';
import { discover } from '../helpers/rp.ts';
import { storedPasskey as storedPasskeyRow } from '../helpers/stored-passkey.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { useRecoveryCode } from '../../gateway/factors/recovery-codes.ts';
import { setPasswordless } from '../../gateway/factors/passkeys/passwordless-policy.ts';
import { resetFactorsOf } from '../../gateway/factors/reset-factors.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { MFA_ACR } from '../../gateway/factors/acr.ts';
import { dropSecondFactorRequirement, requireSecondFactor } from '../../gateway/factors/policy.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { Op } from 'sequelize';

const REDIRECT = 'http://localhost:9/cb';
let gateway: TestGateway;
let rp: client.Configuration;
const url = (path: string) => `${gateway.issuer}${path}`;
const admin = () => ({ ...gateway.context(null), actor: operator('test') });
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const alert = (page: Page) => /role="alert"[^>]*>([^<]*)</.exec(page.html)?.[1];
const noticeOf = (page: Page) => /id="account-notice">([^<]*)</.exec(page.html)?.[1];
/** The HTML of one section of the account page. */
const sectionOf = (page: Page, id: string) =>
  new RegExp(`<section[^>]* id="${id}">([\\s\\S]*?)</section>`).exec(page.html)?.[1] ?? '';
const b64url = (bytes: number) => randomBytes(bytes).toString('base64url');

/** A passkey row as if registered earlier (its key is never checked by what these tests do with it). */
const storedPasskey = async (username: string, name: string) =>
  storedPasskeyRow(gateway.models, (await userNamed(username)).id, name);

async function enrolTotp(username: string) {
  const user = await userNamed(username);
  const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
  const { secret } = await beginTotpEnrolment(gateway.context(null), deps, user, interactionBinding({ uid: 'test' }));
  let step = Math.floor(Date.now() / 30_000) - 1;
  const codes = await confirmTotpEnrolment(
    gateway.context(null),
    deps,
    user,
    TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: step * 30_000 }),
    interactionBinding({ uid: 'test' }),
  );
  // Each later use takes a later step, within the gateway's window of one step either side.
  const next = () => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: ++step * 30_000 });
  return { codes, next };
}

/**
 * An app's sign-in up to the page after the password (or the login page, with no username); `claims`
 * reads the ID token the app gets at its callback.
 */
async function signInAtApp(username: string | null, agent = new BrowserAgent(), params: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorize = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    prompt: 'login',
    ...params,
  });
  const claims = async (callback: Page) => {
    expect(callback.url.startsWith(REDIRECT), `${callback.url}\n${callback.html.slice(0, 1500)}`).toBe(true);
    const tokens = await client.authorizationCodeGrant(rp, new URL(callback.url), {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    return tokens.claims()!;
  };
  const login = await agent.navigate(authorize.toString(), {}, REDIRECT);
  if (!username) return { agent, page: login, claims };
  const page = await agent.submit(
    login,
    formWithAction(login, '/login'),
    { username, password: DEMO_PASSWORD },
    REDIRECT,
  );
  return { agent, page, claims };
}

/**
 * The options request the passkey script makes, with the CSRF token of the page (unless `fields` gives
 * another) and, to add a passkey, the name typed for it.
 */
function askOptions(agent: BrowserAgent, page: Page, path: string, fields: { _csrf?: string; name?: string } = {}) {
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
  return agent.request(new URL(path, page.url).toString(), {
    method: 'POST',
    body: JSON.stringify({ _csrf: csrf, ...fields }),
    headers: { 'content-type': 'application/json', accept: 'application/json' },
  });
}

/** A well-formed answer that no authenticator made: a credential id nobody registered. */
function forgedAssertion() {
  const clientData = Buffer.from(
    JSON.stringify({ type: 'webauthn.get', challenge: b64url(32), origin: 'http://localhost' }),
  ).toString('base64url');
  const id = b64url(32);
  return JSON.stringify({
    id,
    rawId: id,
    type: 'public-key',
    clientExtensionResults: {},
    response: { clientDataJSON: clientData, authenticatorData: b64url(37), signature: b64url(70) },
  });
}

/** The portal session of someone who signed in an hour ago: their gateway session is made an hour old first. */
async function portalSignedInLongAgo(username: string, code: () => string): Promise<BrowserAgent> {
  const { agent, page } = await signInAtApp(username);
  const done = await agent.submit(page, formWithAction(page, '/code'), { code: code() }, REDIRECT);
  expect(done.url.startsWith(REDIRECT), done.html.slice(0, 1500)).toBe(true);
  const user = await userNamed(username);
  for (const row of await gateway.models.OidcPayload.findAll({ where: { model: 'Session' } })) {
    const payload = JSON.parse(row.payload) as { accountId?: string; loginTs?: number };
    if (payload.accountId !== user.id) continue;
    payload.loginTs = Math.floor(Date.now() / 1000) - 3600;
    await gateway.models.OidcPayload.update(
      { payload: JSON.stringify(payload) },
      { where: { model: 'Session', id: row.id } },
    );
  }
  // Through the portal's sign-in, which lands on the portal, then the account page itself.
  await agent.navigate(url('/account/security'));
  const account = await agent.navigate(url('/account/security'));
  expect(account.html, account.html.slice(0, 1500)).toContain('Sign-in security');
  return agent;
}

beforeAll(async () => {
  // All of a file's sign-ins come from one address: its limit is not what these tests are about.
  gateway = await startTestGateway('passkeys', { LOGIN_MAX_FAILURES: '5', LOGIN_IP_LIMIT: '1000' });
  const app = await registerTestApp(gateway, { name: 'Grades', redirectUris: [REDIRECT], firstParty: true });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => gateway?.stop());

describe('passkey answers that are not what they claim', () => {
  it('gives garbage at the second step a clear error and changes nothing', async () => {
    await storedPasskey('dave', 'Desk');
    const { agent, page } = await signInAtApp('dave');
    expect(page.html).toContain('id="passkey-second-factor"');
    const before = await userNamed('dave');
    for (const response of [
      'not json',
      '{"id":"x"}',
      JSON.stringify({ id: '***', rawId: '***', type: 'public-key', response: {} }),
      'x'.repeat(40_000),
    ]) {
      const refused = await agent.submit(page, formWithAction(page, '/passkey'), { response }, REDIRECT);
      expect(refused.status, response.slice(0, 20)).toBe(400);
      expect(alert(refused)).toBe('The answer from your browser or security key was not understood. Try again.');
    }
    const after = await userNamed('dave');
    expect(after.failedLogins).toBe(before.failedLogins);
    expect(await gateway.models.Passkey.count({ where: { userId: after.id } })).toBe(1);
  });

  it('refuses a well-formed answer from a passkey nobody registered, counting it toward the lockout', async () => {
    const { agent, page } = await signInAtApp('dave');
    const options = await askOptions(agent, page, `${new URL(page.url).pathname}/passkey/options`);
    expect(options.status).toBe(200);
    const body = (await options.json()) as {
      options: { challenge: string; allowCredentials: unknown[]; userVerification: string };
    };
    expect(body.options.allowCredentials).toHaveLength(1);
    expect(body.options.userVerification).toBe('preferred');
    const before = (await userNamed('dave')).failedLogins;
    const refused = await agent.submit(
      page,
      formWithAction(page, '/passkey'),
      { response: forgedAssertion() },
      REDIRECT,
    );
    expect(refused.status).toBe(401);
    expect(alert(refused)).toContain('That passkey was not accepted');
    expect((await userNamed('dave')).failedLogins).toBe(before + 1);
    // The challenge was spent: the same answer again finds none.
    const again = await agent.submit(
      refused,
      formWithAction(refused, '/passkey'),
      { response: forgedAssertion() },
      REDIRECT,
    );
    expect(again.status).toBe(400);
    expect(alert(again)).toContain('expired or was already used');
  });

  it('refuses the options and the answer of a sign-in without a password while it is off', async () => {
    const { agent, page } = await signInAtApp(null);
    expect(page.html).not.toContain('passkey-sign-in');
    const options = await askOptions(agent, page, `${new URL(page.url).pathname}/passkey/options`);
    expect(options.status).toBe(403);
    expect(((await options.json()) as { error: { code: string } }).error.code).toBe('passwordless_off');
    const posted = await agent.request(`${page.url}/passkey-login`, {
      method: 'POST',
      body: new URLSearchParams({ ...formWithAction(page, '/login').fields, response: forgedAssertion() }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    // Answered as a refused password is: a redirect to the login page, which says why once (Back and Reload
    // then post nothing again).
    expect(posted.status).toBe(303);
    expect(new URL(posted.headers.get('location')!, page.url).toString()).toBe(page.url);
    const said = await agent.navigate(page.url);
    expect(said.status).toBe(403);
    expect(said.html).toContain('not enabled here');
    expect(said.html).toContain('form method="post" action="/interaction/');
    const reloaded = await agent.navigate(page.url);
    expect(reloaded.status).toBe(200);
    expect(reloaded.html).not.toContain('not enabled here');
  });

  it('refuses garbage and unknown passkeys without a password, under the per-address limit', async () => {
    await setPasswordless(admin(), 'on');
    const { agent, page } = await signInAtApp(null);
    expect(page.html).toContain('id="passkey-sign-in"');
    const form = formWithAction(page, '/passkey-login');
    const garbage = await agent.submit(page, form, { response: '{' }, REDIRECT);
    expect(garbage.status).toBe(400);
    // Without the CSRF token of the page, not even the options are given.
    expect(
      (await askOptions(agent, page, `${new URL(page.url).pathname}/passkey/options`, { _csrf: 'forged' })).status,
    ).toBe(403);
    const options = await askOptions(agent, page, `${new URL(page.url).pathname}/passkey/options`);
    const body = (await options.json()) as { options: { allowCredentials?: unknown[]; userVerification: string } };
    expect(body.options.allowCredentials ?? []).toEqual([]);
    expect(body.options.userVerification).toBe('required');
    const unknown = await agent.submit(page, form, { response: forgedAssertion() }, REDIRECT);
    expect(unknown.status).toBe(401);
    expect(alert(unknown)).toContain('That passkey was not accepted');
    const entry = (
      await gateway.models.AuditEvent.findAll({
        where: { action: 'login', outcome: 'failure' },
        order: [['id', 'ASC']],
      })
    ).at(-1)!;
    expect(JSON.parse(entry.details!)).toMatchObject({ method: 'passkey', reason: 'unknown_passkey' });
    await setPasswordless(admin(), 'off');
  });

  it('gives garbage at the account page a clear notice and stores nothing', async () => {
    const agent = new BrowserAgent();
    const page = await signInThrough(agent, url('/account/security'), 'carol', DEMO_PASSWORD);
    const account = page.url.endsWith('/account/security') ? page : await agent.navigate(url('/account/security'));
    const form = formWithAction(account, '/account/security/passkeys');
    expect(form.fields.response).toBe('');
    const options = await askOptions(agent, account, '/account/security/passkeys/options', { name: 'Broken' });
    expect(options.status).toBe(200);
    const created = (await options.json()) as {
      options: { authenticatorSelection: { residentKey: string }; rp: { id: string } };
    };
    expect(created.options.authenticatorSelection.residentKey).toBe('required');
    expect(created.options.rp.id).toBe('localhost');
    const refused = await agent.submit(account, form, {
      name: 'Broken',
      response:
        '{"id":"abc","rawId":"abc","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"AAAA"}}',
    });
    expect(noticeOf(refused)).toBe('That passkey was not accepted. Try again, or sign in another way.');
    const garbage = await agent.submit(refused, formWithAction(refused, '/account/security/passkeys'), {
      name: 'Broken',
      response: 'garbage',
    });
    expect(noticeOf(garbage)).toBe('The answer from your browser or security key was not understood. Try again.');
    const nameless = await agent.submit(garbage, formWithAction(garbage, '/account/security/passkeys'), {
      name: '   ',
      response: 'garbage',
    });
    expect(noticeOf(nameless)).toBe('Give the passkey a name.');
    expect(await gateway.models.Passkey.count({ where: { userId: (await userNamed('carol')).id } })).toBe(0);
  });
});

/** The options the page's script would get for a passkey ceremony (adding one: named `name`), as JSON. */
async function optionsFrom(agent: BrowserAgent, page: Page, path: string, name?: string) {
  const answer = await askOptions(agent, page, path, { name });
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { options: { challenge: string; rp: { id?: string }; rpId?: string } }).options;
}

/** Registers a software passkey on the account page, as the page's script does; returns the page it leads to. */
async function addPasskeyOnAccountPage(agent: BrowserAgent, key: SoftwarePasskey, name: string) {
  const account = await agent.navigate(url('/account/security'));
  const options = await optionsFrom(agent, account, '/account/security/passkeys/options', name);
  const form = formsOf(account.html).find((f) => f.action === '/account/security/passkeys')!;
  return agent.submit(account, form, {
    name,
    response: key.register(options),
  });
}

const codesOn = (page: Page) => [...page.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
const textOf = (page: Page, id: string) =>
  new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</p>`)
    .exec(page.html)?.[1]
    ?.replace(/<[^>]+>/g, '')
    .replace(/\s+/g, ' ');

describe('a person whose first second factor is a passkey', () => {
  it('is shown ten recovery codes once, sees the passkey named as the second factor, and can sign in with either', async () => {
    await addPerson(gateway, 'pia');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'pia', DEMO_PASSWORD);
    const before = await agent.navigate(url('/account/security'));
    expect(textOf(before, 'factor-status')).toContain('No second factor yet');

    const key = new SoftwarePasskey(gateway.issuer);
    const added = await addPasskeyOnAccountPage(agent, key, 'Laptop');
    expect(added.status).toBe(200);
    expect(added.headers.get('cache-control')).toBe('no-store');
    expect(added.html).toContain('Added the passkey “Laptop”.');
    expect(added.html).toContain('shown only now');
    const codes = codesOn(added);
    expect(codes).toHaveLength(10);

    const page = await agent.navigate(url('/account/security'));
    const status = textOf(page, 'factor-status');
    expect(status).toContain('passkey “Laptop”');
    expect(status).not.toContain('No second factor yet');
    expect(/id="codes-left">(\d+)</.exec(page.html)?.[1]).toBe('10');
    expect(page.html).not.toContain('id="no-recovery-codes"');

    // A second passkey is one more way in: no new codes, the earlier ones still work.
    const second = await addPasskeyOnAccountPage(agent, new SoftwarePasskey(gateway.issuer), 'Phone');
    expect(noticeOf(second)).toBe('Added the passkey “Phone”.');
    // Said in the Passkeys section, under its heading, not above it among the authenticator app's.
    expect(sectionOf(second, 'passkeys')).toMatch(
      /id="passkeys-heading">Passkeys<\/h2>\s*<p[^>]* id="account-notice">/,
    );
    expect(codesOn(second)).toHaveLength(0);
    expect(textOf(second, 'factor-status')).toContain('“Laptop”, “Phone”');

    // At sign-in: the passkey, or (the device lost) a recovery code.
    const withKey = await signInAtApp('pia');
    expect(withKey.page.html).toContain('id="passkey-second-factor"');
    const assertion = await optionsFrom(
      withKey.agent,
      withKey.page,
      `${new URL(withKey.page.url).pathname}/passkey/options`,
    );
    const done = await withKey.agent.submit(
      withKey.page,
      formWithAction(withKey.page, '/passkey'),
      { response: key.assert(assertion) },
      REDIRECT,
    );
    expect(done.url.startsWith(REDIRECT), done.html.slice(0, 1500)).toBe(true);
    const withCode = await signInAtApp('pia');
    expect(withCode.page.html).toContain('Enter one of your recovery codes');
    const viaCode = await withCode.agent.submit(
      withCode.page,
      formWithAction(withCode.page, '/code'),
      { code: codes[0]! },
      REDIRECT,
    );
    expect(viaCode.url.startsWith(REDIRECT), viaCode.html.slice(0, 1500)).toBe(true);
    const entry = await gateway.models.AuditEvent.findOne({
      where: { action: 'passkey.register', target: 'pia', outcome: 'success' },
      order: [['id', 'ASC']],
    });
    expect(JSON.parse(entry!.details!)).toMatchObject({ name: 'Laptop', recoveryCodes: 10 });
  });

  it('warns a person with passkeys and no recovery codes left', async () => {
    await addPerson(gateway, 'quin');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'quin', DEMO_PASSWORD);
    // Added before recovery codes came with a first passkey.
    await storedPasskey('quin', 'Only key');
    const page = await agent.navigate(url('/account/security'));
    expect(textOf(page, 'factor-status')).toContain('passkey “Only key”');
    expect(textOf(page, 'no-recovery-codes')).toContain('no recovery codes');
    const fresh = await agent.submit(page, formWithAction(page, '/account/security/recovery-codes'));
    expect(codesOn(fresh)).toHaveLength(10);
    expect((await agent.navigate(url('/account/security'))).html).not.toContain('id="no-recovery-codes"');
  });
});

describe('a passkey while the account is locked', () => {
  it("signs its owner in, alone or after the password, as nobody's wrong passwords can stop a passkey", async () => {
    await addPerson(gateway, 'lou');
    const account = new BrowserAgent();
    await signInThrough(account, url('/account/security'), 'lou', DEMO_PASSWORD);
    const key = new SoftwarePasskey(gateway.issuer);
    expect((await addPasskeyOnAccountPage(account, key, 'Laptop')).status).toBe(200);
    // Lou starts signing in at an app: the password, then the step that asks for the passkey.
    const pending = await signInAtApp('lou');
    expect(pending.page.html).toContain('id="passkey-second-factor"');

    // Meanwhile someone else's wrong passwords lock the account (five here).
    const wrong = async (password: string) => {
      const { agent, page } = await signInAtApp(null);
      return agent.submit(page, formWithAction(page, '/login'), { username: 'lou', password }, REDIRECT);
    };
    for (let i = 0; i < 5; i++) expect((await wrong(`guess-${i}-password`)).status).toBe(401);
    await setPasswordless(admin(), 'on');
    try {
      const locked = await wrong(DEMO_PASSWORD);
      expect(locked.status).toBe(429);
      expect(alert(locked)).toContain(
        'You can still sign in on a browser or device you have signed in with before, or with a passkey.',
      );

      // The pending step, reloaded, is paused for codes only, and takes the passkey.
      const step = await pending.agent.navigate(pending.page.url);
      expect(step.html).toContain('A passkey still works');
      const options = await optionsFrom(pending.agent, step, `${new URL(step.url).pathname}/passkey/options`);
      const done = await pending.agent.submit(
        step,
        formWithAction(step, '/passkey'),
        { response: key.assert(options) },
        REDIRECT,
      );
      expect((await pending.claims(done)).acr).toBe(MFA_ACR);

      // A sign-in with the passkey alone.
      const alone = await signInAtApp(null);
      const login = await optionsFrom(alone.agent, alone.page, `${new URL(alone.page.url).pathname}/passkey/options`);
      const signedIn = await alone.agent.submit(
        alone.page,
        formWithAction(alone.page, '/passkey-login'),
        { response: key.assert(login) },
        REDIRECT,
      );
      expect((await alone.claims(signedIn)).sub).toBe((await userNamed('lou')).id);
      // The lock stays for passwords.
      expect((await wrong(DEMO_PASSWORD)).status).toBe(429);
    } finally {
      await setPasswordless(admin(), 'off');
    }
  });
});

describe('new recovery codes made on the account page', () => {
  it('are shown once: reloading their page makes no new ones, shows none and says so', async () => {
    await addPerson(gateway, 'rae');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'rae', DEMO_PASSWORD);
    await storedPasskey('rae', 'Laptop');
    const rae = await userNamed('rae');
    const kept = async () =>
      (await gateway.models.RecoveryCode.findAll({ where: { userId: rae.id }, order: [['id', 'ASC']] })).map(
        (code) => code.codeHash,
      );
    const page = await agent.navigate(url('/account/security'));
    const shown = await agent.submit(page, formWithAction(page, '/account/security/recovery-codes'));
    expect(shown.url).toBe(url('/account/security/recovery-codes'));
    expect(shown.headers.get('cache-control')).toBe('no-store');
    const codes = codesOn(shown);
    expect(codes).toHaveLength(10);
    const made = await kept();

    // Reloaded (or the address opened again): the page itself, saying so beside "Make new recovery codes".
    const reloaded = await agent.navigate(shown.url);
    expect(reloaded.url).toBe(url('/account/security#account-notice'));
    expect(codesOn(reloaded)).toEqual([]);
    expect(htmlText(/id="account-notice">([^<]*)</.exec(sectionOf(reloaded, 'recovery'))?.[1] ?? '')).toBe(
      'Those recovery codes were shown once and are not shown again. If you did not keep them, make new ones: they replace all the old ones.',
    );
    expect(sectionOf(reloaded, 'recovery')).toContain('id="new-recovery-codes"');
    expect(codesOn(await agent.navigate(shown.url))).toEqual([]);
    // The codes shown and saved still work.
    expect(await kept()).toEqual(made);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'factor.recovery_codes', target: 'rae' } })).toBe(
      1,
    );
    expect(await useRecoveryCode(gateway.context(null), rae.id, codes[0]!)).toBe(true);
  });
});

describe('a passkey’s name', () => {
  it('refuses control characters, such as those that show the name reversed, on adding and renaming', async () => {
    await addPerson(gateway, 'ren');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'ren', DEMO_PASSWORD);
    const key = await storedPasskey('ren', 'Laptop');
    const refused =
      'A name cannot contain control characters, such as those that turn text around. Type it as plain text.';
    const names = {
      reversed: 'USB \u202Eyek',
      embedded: '\u202BPhone\u202C',
      isolated: '\u2067Phone\u2069',
      tab: 'My\tphone',
      lineBreak: 'My\nphone',
      c1: 'Phone\u0085',
      lineSeparator: 'My\u2028phone',
    };
    const said: Record<string, string | undefined> = {};
    for (const [kind, name] of Object.entries(names)) {
      const page = await agent.navigate(url('/account/security'));
      said[kind] = noticeOf(await agent.submit(page, formWithAction(page, `/passkeys/${key.id}/rename`), { name }));
    }
    expect(said).toEqual(Object.fromEntries(Object.keys(names).map((kind) => [kind, refused])));
    expect((await gateway.models.Passkey.findByPk(key.id))!.name).toBe('Laptop');

    // Adding one is refused alike, before anything else is looked at.
    const page = await agent.navigate(url('/account/security'));
    const added = await agent.submit(page, formWithAction(page, '/account/security/passkeys'), {
      name: 'Desk \u202Eyek',
      response: 'garbage',
    });
    expect(noticeOf(added)).toBe(refused);

    // Other scripts, emoji and their joiners stay names.
    for (const name of ['Телефон', 'هاتف العمل', '👩‍💻 Laptop', 'Ноутбук · home']) {
      const again = await agent.navigate(url('/account/security'));
      const done = await agent.submit(again, formWithAction(again, `/passkeys/${key.id}/rename`), { name });
      expect(noticeOf(done)).toBe(`Renamed the passkey to “${name}”.`);
    }
  });

  it('is checked when the options are asked for: a name refused starts no ceremony, at the account page and a sign-in', async () => {
    await addPerson(gateway, 'nell', { roles: ['staff'] });
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'nell', DEMO_PASSWORD);
    const account = await agent.navigate(url('/account/security'));
    const controls =
      'A name cannot contain control characters, such as those that turn text around. Type it as plain text.';
    const refusals = async (page: Page, path: string) => {
      const said: unknown[] = [];
      for (const name of [undefined, '   ', 'x'.repeat(65), 'Desk \u202Eyek', 42]) {
        const answer = await askOptions(agent, page, path, { name } as { name?: string });
        said.push({ status: answer.status, body: await answer.json() });
      }
      return said;
    };
    const refused = (message: string) => ({
      status: 400,
      body: { error: { code: 'invalid_input', message, fields: { name: message } } },
    });
    const expected = [
      refused('Give the passkey a name.'),
      refused('Give the passkey a name.'),
      refused('A name has at most 64 characters.'),
      refused(controls),
      refused('Give the passkey a name.'),
    ];
    expect(await refusals(account, '/account/security/passkeys/options')).toEqual(expected);

    // The setup step of a sign-in that needs a second factor refuses alike.
    await requireSecondFactor(admin(), { kind: 'role', value: 'staff' });
    try {
      const { page } = await signInAtApp('nell', agent);
      expect(page.html).toContain('id="enrol-passkey"');
      expect(await refusals(page, `${new URL(page.url).pathname}/passkey/register-options`)).toEqual(expected);
      const nell = await userNamed('nell');
      expect(await gateway.models.PasskeyChallenge.count({ where: { userId: nell.id } })).toBe(0);
      expect(await gateway.models.AuditEvent.count({ where: { action: 'passkey.register', target: 'nell' } })).toBe(0);

      // A name it may have (64 characters, spaces around it trimmed) gets its options.
      const named = await askOptions(agent, page, `${new URL(page.url).pathname}/passkey/register-options`, {
        name: ` ${'x'.repeat(64)} `,
      });
      expect(named.status).toBe(200);
      expect(await gateway.models.PasskeyChallenge.count({ where: { userId: nell.id } })).toBe(1);
    } finally {
      await dropSecondFactorRequirement(admin(), { kind: 'role', value: 'staff' });
    }
  });

  it('is shown without the control characters a name stored before that rule holds, and stored so when renamed', async () => {
    await addPerson(gateway, 'rhea');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'rhea', DEMO_PASSWORD);
    // As an earlier version stored it: an override that shows "yek" reversed, its end, and a tab.
    const key = await storedPasskey('rhea', 'USB \u202Eyek\u202C\tblue');
    const page = await agent.navigate(url('/account/security'));
    const passkeys = sectionOf(page, 'passkeys');
    expect(passkeys).toContain('<strong class="passkey-name">USB yek blue</strong>');
    expect(passkeys).toContain(`id="rename-${key.id}" name="name" type="text" value="USB yek blue"`);
    expect(htmlText(passkeys)).toContain('I understand: “USB yek blue” will no longer sign me in');
    expect(mainText(page)).toContain('Your second factor is your passkey “USB yek blue”');
    expect(page.html).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);

    // Renamed as the page shows it, it is stored so.
    const renamed = await agent.submit(page, formWithAction(page, `/passkeys/${key.id}/rename`));
    expect(noticeOf(renamed)).toBe('Renamed the passkey to “USB yek blue”.');
    expect((await gateway.models.Passkey.findByPk(key.id))!.name).toBe('USB yek blue');

    // The audit log keeps the name as it was stored, each such character shown as its code point.
    const { agent: adminAgent } = await signInToConsole(gateway.issuer, 'admin');
    const log = await adminAgent.navigate(url('/admin/audit?action=passkey.rename'));
    expect(mainText(log)).toContain('from: USB ⟨U+202E⟩yek⟨U+202C⟩⟨U+0009⟩blue');
    expect(log.html).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);
  });
});

describe('a sign-in that needs a second factor the person does not have yet', () => {
  it('offers a passkey beside an authenticator app, shows its recovery codes once and counts it', async () => {
    await addPerson(gateway, 'rex');
    const asked = { acr_values: MFA_ACR };
    const { agent, page, claims } = await signInAtApp('rex', new BrowserAgent(), asked);
    expect(page.html).toContain('Set up an authenticator app or add a passkey to continue.');
    expect(page.html).toContain('id="enrol-passkey"');
    // A second sign-in left at the same step, to try again once a factor exists.
    const other = await signInAtApp('rex', new BrowserAgent(), asked);

    const path = new URL(page.url).pathname;
    const key = new SoftwarePasskey(gateway.issuer);
    const options = await optionsFrom(agent, page, `${path}/passkey/register-options`, 'Phone');
    // A post that names it otherwise than the options did (no page of ours): the name is checked again.
    const nameless = await agent.submit(
      page,
      formWithAction(page, '/passkey/register'),
      { name: '', response: key.register(options) },
      REDIRECT,
    );
    expect(nameless.status).toBe(400);
    expect(alert(nameless)).toContain('Give the passkey a name');
    const again = await optionsFrom(agent, nameless, `${path}/passkey/register-options`, 'Phone');
    const added = await agent.submit(
      nameless,
      formWithAction(nameless, '/passkey/register'),
      { name: 'Phone', response: key.register(again) },
      REDIRECT,
    );
    expect(added.html).toContain('Your passkey is added');
    expect(codesOn(added)).toHaveLength(10);
    const token = await claims(await agent.submit(added, formWithAction(added, '/continue'), {}, REDIRECT));
    expect(token.amr).toEqual(['pwd', 'hwk', 'user']);
    expect(token.acr).toBe(MFA_ACR);

    // The other sign-in, on a password alone, cannot add one more.
    const late = await optionsFrom(
      other.agent,
      other.page,
      `${new URL(other.page.url).pathname}/passkey/register-options`,
      'Not mine',
    );
    const refused = await other.agent.submit(
      other.page,
      formWithAction(other.page, '/passkey/register'),
      { name: 'Not mine', response: new SoftwarePasskey(gateway.issuer).register(late) },
      REDIRECT,
    );
    expect(refused.status).toBe(409);
    expect(alert(refused)).toContain('has been set up for this account since this sign-in started');
    expect(
      (await gateway.models.Passkey.findAll({ where: { userId: (await userNamed('rex')).id } })).map((p) => p.name),
    ).toEqual(['Phone']);

    // From now on the passkey is asked for.
    const next = await signInAtApp('rex');
    expect(next.page.html).toContain('id="passkey-second-factor"');
    // Options for a registration are given only at the step that sets a factor up.
    const wrongStep = await askOptions(
      next.agent,
      next.page,
      `${new URL(next.page.url).pathname}/passkey/register-options`,
      { name: 'Phone' },
    );
    expect(wrongStep.status).toBe(400);
  });
});

describe("a passkey ceremony's pending challenge", () => {
  it('is kept under a digest of the account page session, never its id, and still answers that session', async () => {
    const agent = new BrowserAgent();
    const page = await signInThrough(agent, url('/account/security'), 'carol', DEMO_PASSWORD);
    const account = page.url.endsWith('/account/security') ? page : await agent.navigate(url('/account/security'));
    expect((await askOptions(agent, account, '/account/security/passkeys/options', { name: 'Broken' })).status).toBe(
      200,
    );
    const carol = await userNamed('carol');
    const challenges = await gateway.models.PasskeyChallenge.findAll({ where: { userId: carol.id } });
    expect(challenges).toHaveLength(1);
    const sessionIds = (await gateway.models.WebSession.findAll({ attributes: ['sid'] })).map((row) => row.sid);
    expect(sessionIds.length).toBeGreaterThan(0);
    for (const sid of sessionIds) expect(challenges[0]!.binding).not.toContain(sid);
    // The answer still finds its challenge: a forged one is refused as a passkey, not as a lost ceremony.
    const refused = await agent.submit(account, formWithAction(account, '/account/security/passkeys'), {
      name: 'Broken',
      response:
        '{"id":"abc","rawId":"abc","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"AAAA"}}',
    });
    expect(noticeOf(refused)).toBe('That passkey was not accepted. Try again, or sign in another way.');
  });
});

describe('changing how one signs in needs a recent sign-in or a confirmation', () => {
  it('refuses to add or remove a passkey or make new codes an hour after sign-in, until confirmed', async () => {
    const { codes: oldCodes, next } = await enrolTotp('eng-admin');
    const key = await storedPasskey('eng-admin', 'Old key');
    const agent = await portalSignedInLongAgo('eng-admin', next);
    let page = await agent.navigate(url('/account/security'));
    expect(page.html).toContain('Confirm it is you');
    expect(page.html).not.toContain('id="add-passkey"');
    expect(page.html).not.toContain('/remove"');

    // A post that skips the page changes nothing either.
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!;
    const post = (path: string, fields: Record<string, string> = {}) =>
      agent.navigate(url(path), {
        method: 'POST',
        body: new URLSearchParams({ _csrf: csrf, ...fields }),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    expect(noticeOf(await post(`/account/security/passkeys/${key.id}/remove`))).toContain('Confirm it is you first');
    expect(noticeOf(await post('/account/security/recovery-codes'))).toContain('Confirm it is you first');
    expect(noticeOf(await post('/account/security/totp/remove', { understood: 'yes' }))).toContain(
      'Confirm it is you first',
    );
    expect((await askOptions(agent, page, '/account/security/passkeys/options', { name: 'Desk' })).status).toBe(403);
    expect(await gateway.models.Passkey.count({ where: { id: key.id } })).toBe(1);
    // Renaming needs only the session.
    expect(noticeOf(await post(`/account/security/passkeys/${key.id}/rename`, { name: 'Drawer key' }))).toBe(
      'Renamed the passkey to “Drawer key”.',
    );

    // A refused passkey says so beside the confirmation, on its button, not at the top of the page.
    page = await agent.navigate(url('/account/security'));
    const refused = await agent.submit(page, formWithAction(page, '/account/security/confirm/passkey'), {
      response: 'garbage',
    });
    expect(/id="confirm-error" role="alert">([^<]*)</.exec(refused.html)?.[1]).toBe(
      'The answer from your browser or security key was not understood. Try again.',
    );
    expect(refused.html).toMatch(/aria-describedby="confirm-error" autofocus>Confirm with a passkey</);
    expect(noticeOf(refused)).toBeUndefined();

    // A wrong password counts toward the lockout; a current code confirms.
    const wrong = await agent.submit(page, formWithAction(page, '/account/security/confirm'), { password: 'not-it' });
    expect(/id="confirm-error" role="alert">([^<]*)</.exec(wrong.html)?.[1]).toBe(
      'That is not your current password or a current code from your authenticator app.',
    );
    expect((await userNamed('eng-admin')).failedLogins).toBe(1);
    const confirmed = await agent.submit(wrong, formWithAction(wrong, '/account/security/confirm'), { code: next() });
    expect(noticeOf(confirmed)).toContain('Confirmed.');
    expect(confirmed.html).toContain('id="add-passkey"');

    const fresh = await agent.submit(confirmed, formWithAction(confirmed, '/account/security/recovery-codes'));
    const newCodes = [...fresh.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(newCodes).toHaveLength(10);
    const userId = (await userNamed('eng-admin')).id;
    expect(await useRecoveryCode(gateway.context(null), userId, oldCodes[0]!)).toBe(false);
    expect(await useRecoveryCode(gateway.context(null), userId, newCodes[0]!)).toBe(true);
    const entry = await gateway.models.AuditEvent.findOne({
      where: { action: 'factor.recovery_codes', target: 'eng-admin' },
    });
    expect(JSON.parse(entry!.details!)).toEqual({ issued: 10, replacedUnused: 10 });

    page = await agent.navigate(url('/account/security'));
    const removed = await agent.submit(page, formWithAction(page, `/passkeys/${key.id}/remove`));
    expect(noticeOf(removed)).toBe('Removed the passkey “Drawer key”.');
    // The refused passkey, the wrong password and the code: each confirmation tried is audited.
    expect(await gateway.models.AuditEvent.count({ where: { action: 'account.confirm', target: 'eng-admin' } })).toBe(
      3,
    );
    await resetFactorsOf(admin(), 'eng-admin');
  });

  it('keeps the last passkey of someone without a password, whom it signs in', async () => {
    await addPerson(gateway, 'quinn');
    const quinn = await userNamed('quinn');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'quinn', DEMO_PASSWORD);
    await addPasskeyOnAccountPage(agent, new SoftwarePasskey(gateway.issuer), 'Only key');
    // As an account made for passkey sign-in alone: no password.
    await gateway.models.User.update({ passwordHash: null }, { where: { id: quinn.id } });
    const page = await agent.navigate(url('/account/security'));
    const key = (await gateway.models.Passkey.findOne({ where: { userId: quinn.id } }))!;
    const refused = await agent.submit(
      page,
      { action: `/account/security/passkeys/${key.id}/remove`, method: 'post', fields: {} },
      { _csrf: /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!, understood: 'yes' },
    );
    expect(noticeOf(refused)).toBe(
      'This passkey is how you sign in: your account has no password. Add another passkey first, then remove this one.',
    );
    expect(await gateway.models.Passkey.count({ where: { userId: quinn.id } })).toBe(1);
    expect(await gateway.models.RecoveryCode.count({ where: { userId: quinn.id, usedAt: null } })).toBe(10);
  });

  it('asks for a ticked box before a removal, and keeps the last factor the policy requires', async () => {
    await createUnit(admin(), { path: 'campus/eng/lab', name: 'Laboratory' });
    await addPerson(gateway, 'sam', { units: ['campus/eng/lab'] });
    const sam = await userNamed('sam');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'sam', DEMO_PASSWORD);
    expect(codesOn(await addPasskeyOnAccountPage(agent, new SoftwarePasskey(gateway.issuer), 'Laptop'))).toHaveLength(
      10,
    );
    let page = await agent.navigate(url('/account/security'));
    expect(page.html).toContain('“Laptop” will no longer sign me in, and my sign-in will ask for my password alone.');
    const unticked = await submitFilled(agent, page, filledFormWithAction(page, '/remove'));
    expect(noticeOf(unticked)).toBe('Tick “I understand” to remove the passkey. Nothing was removed.');
    expect(await gateway.models.Passkey.count({ where: { userId: sam.id } })).toBe(1);

    // Required of the unit now: the last factor stays, said on the page and refused to a post.
    await requireSecondFactor(admin(), { kind: 'unit', value: 'campus/eng/lab' });
    page = await agent.navigate(url('/account/security'));
    expect(page.html).toContain('id="last-factor-kept"');
    expect(page.html).not.toContain('/remove"');
    const laptop = (await gateway.models.Passkey.findOne({ where: { userId: sam.id } }))!;
    const refused = await agent.submit(
      page,
      { action: `/account/security/passkeys/${laptop.id}/remove`, method: 'post', fields: {} },
      { _csrf: /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!, understood: 'yes' },
    );
    expect(noticeOf(refused)).toBe(
      'Your campus requires a second factor for your account, and this is your last one. Add a passkey or an authenticator app first, then remove this one.',
    );
    expect(await gateway.models.Passkey.count({ where: { userId: sam.id } })).toBe(1);
    expect(await gateway.models.RecoveryCode.count({ where: { userId: sam.id, usedAt: null } })).toBe(10);

    // With another beside it, it goes; then the other is the last.
    await addPasskeyOnAccountPage(agent, new SoftwarePasskey(gateway.issuer), 'Phone');
    page = await agent.navigate(url('/account/security'));
    page = await agent.submit(page, formWithAction(page, `/passkeys/${laptop.id}/remove`));
    expect(noticeOf(page)).toBe('Removed the passkey “Laptop”.');
    expect(page.html).toContain('id="last-factor-kept"');

    // No longer required: the last one goes, and the recovery codes that stood in for it.
    await dropSecondFactorRequirement(admin(), { kind: 'unit', value: 'campus/eng/lab' });
    page = await agent.navigate(url('/account/security'));
    page = await agent.submit(page, formWithAction(page, '/remove'));
    expect(noticeOf(page)).toBe(
      'Removed the passkey “Phone”. You have no second factor now: your sign-in asks for your password alone.',
    );
    expect(textOf(page, 'factor-status')).toContain('No second factor yet');
    expect(await gateway.models.RecoveryCode.count({ where: { userId: sam.id } })).toBe(0);
    const entry = (await gateway.models.AuditEvent.findAll({ where: { action: 'passkey.remove', target: 'sam' } })).at(
      -1,
    )!;
    expect(JSON.parse(entry.details!)).toMatchObject({ name: 'Phone', recoveryCodes: 10 });
  });

  it('lets a person remove their own authenticator app, once they tick the box', async () => {
    await addPerson(gateway, 'tia');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'tia', DEMO_PASSWORD);
    await enrolTotp('tia');
    const tia = await userNamed('tia');
    let page = await agent.navigate(url('/account/security'));
    expect(page.html).toContain('id="remove-totp"');
    page = await submitFilled(agent, page, filledFormWithAction(page, '/account/security/totp/remove'));
    expect(noticeOf(page)).toBe('Tick “I understand” to remove the authenticator app. Nothing was removed.');
    expect(await gateway.models.TotpFactor.count({ where: { userId: tia.id } })).toBe(1);

    page = await agent.submit(page, formWithAction(page, '/account/security/totp/remove'));
    expect(noticeOf(page)).toBe(
      'Removed the authenticator app: its codes no longer work. You have no second factor now: your sign-in asks for your password alone.',
    );
    // Said in the app's section, beside the way to set it up again at once (a new phone), which shows a new key.
    expect(sectionOf(page, 'authenticator')).toContain('id="account-notice"');
    page = await submitFilled(agent, page, filledFormWithAction(page, '/account/security/totp/start'));
    expect(page.html).toContain('id="totp-secret"');
    expect(await gateway.models.TotpFactor.count({ where: { userId: tia.id, confirmedAt: { [Op.ne]: null } } })).toBe(
      0,
    );
    expect(await gateway.models.RecoveryCode.count({ where: { userId: tia.id } })).toBe(0);
    const entry = await gateway.models.AuditEvent.findOne({ where: { action: 'factor.remove', target: 'tia' } });
    expect(JSON.parse(entry!.details!)).toEqual({ factor: 'totp', recoveryCodes: 10 });
  });

  it('keeps one person away from another’s passkeys', async () => {
    const bobs = await storedPasskey('bob', 'Bob’s key');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'alice', DEMO_PASSWORD);
    const page = await agent.navigate(url('/account/security'));
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!;
    for (const action of ['rename', 'remove']) {
      const tried = await agent.navigate(url(`/account/security/passkeys/${bobs.id}/${action}`), {
        method: 'POST',
        body: new URLSearchParams({ _csrf: csrf, name: 'Mine now', understood: 'yes' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(noticeOf(tried)).toBe('No such passkey on your account');
    }
    expect((await gateway.models.Passkey.findByPk(bobs.id))!.name).toBe('Bob’s key');
  });
});

describe('the console', () => {
  it('shows who has which factor, resets passkeys with the rest, and switches passwordless sign-in', async () => {
    await storedPasskey('carol', 'Phone');
    await storedPasskey('carol', 'YubiKey');
    await enrolTotp('carol');
    const { agent, page: signedIn } = await signInToConsole(gateway.issuer, 'admin');
    expect(signedIn.url.startsWith(url('/admin/'))).toBe(true);
    const list = await agent.navigate(url('/admin/users?q=carol'));
    const row = /carol<\/a><\/td>[\s\S]*?<\/tr>/.exec(list.html)![0];
    expect(row).toContain('authenticator app');
    expect(row).toContain('2 passkeys');
    expect(row).toContain('10 codes left');
    const carol = await userNamed('carol');
    let page = await agent.navigate(url(`/admin/users/${carol.id}`));
    expect(page.html).toContain('An authenticator app is set up; 2 passkeys; 10 recovery codes left.');
    // One of each is said in the singular.
    await gateway.models.Passkey.destroy({ where: { userId: carol.id, name: 'YubiKey' } });
    const codes = await gateway.models.RecoveryCode.findAll({ where: { userId: carol.id } });
    for (const code of codes.slice(1)) await code.update({ usedAt: new Date() });
    const one = /carol<\/a><\/td>[\s\S]*?<\/tr>/.exec((await agent.navigate(url('/admin/users?q=carol'))).html)![0];
    expect(one).toContain('>1 passkey<');
    expect(one).toContain('1 code left');
    page = await agent.navigate(url(`/admin/users/${carol.id}`));
    expect(page.html).toContain('An authenticator app is set up; 1 passkey; 1 recovery code left.');
    page = await agent.submit(page, formWithAction(page, '/reset-factors'));
    expect(page.html).toContain('None set up.');
    expect(await gateway.models.Passkey.count({ where: { userId: carol.id } })).toBe(0);
    const reset = await gateway.models.AuditEvent.findOne({ where: { action: 'user.reset_factors', target: 'carol' } });
    expect(JSON.parse(reset!.details!)).toEqual({
      totp: true,
      recoveryCodes: 10,
      passkeys: 1,
      signedOutEverywhere: true,
      endedArtefacts: expect.any(Number),
      wasLockedUntil: null,
      secondFactorRequired: false,
    });

    page = await agent.navigate(url('/admin/second-factor'));
    expect(page.html).toContain('<strong>Off:</strong>');
    page = await agent.submit(page, formWithAction(page, '/admin/second-factor/passwordless'));
    expect(page.html).toContain('People may now sign in with a passkey alone.');
    expect(page.html).toContain('<strong>On:</strong>');
    const { page: login } = await signInAtApp(null);
    expect(login.html).toContain('Sign in with a passkey');
    page = await agent.submit(page, formWithAction(page, '/admin/second-factor/passwordless'));
    expect(page.html).toContain('<strong>Off:</strong>');
    expect(await gateway.models.AuditEvent.count({ where: { action: 'mfa.passwordless', actorName: 'admin' } })).toBe(
      2,
    );
  });

  it('keeps the passwordless switch and the rest of the policy from a unit admin, naming who may change them', async () => {
    const { agent } = await signInToConsole(gateway.issuer, 'eng-admin');
    const own = await agent.navigate(url('/admin/users'));
    const csrf = /name="_csrf" value="([^"]+)"/.exec(own.html)?.[1] ?? '';
    const posted = await agent.request(url('/admin/second-factor/passwordless'), {
      method: 'POST',
      body: new URLSearchParams({ _csrf: csrf, passwordless: 'on' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(posted.status).toBe(403);
    expect((await gateway.models.FactorSetting.findByPk('passwordless'))?.value).toBe('off');

    const engAdmin = await gateway.models.User.findOne({ where: { username: 'eng-admin' } });
    const asEngAdmin = {
      ...gateway.context(null),
      actor: {
        kind: 'user' as const,
        id: engAdmin!.id,
        name: 'eng-admin',
        roles: engAdmin!.roles,
        unitPaths: ['campus/eng'],
      },
    };
    const refusal = 'Only campus administrators may change the second-factor policy';
    await expect(setPasswordless(asEngAdmin, 'on')).rejects.toThrow(refusal);
    await expect(requireSecondFactor(asEngAdmin, { kind: 'role', value: 'staff' })).rejects.toThrow(refusal);
  });

  it('asks before switching passwordless sign-in, saying whom turning it off leaves without a way in', async () => {
    const setting = async () => (await gateway.models.FactorSetting.findByPk('passwordless'))?.value ?? 'off';
    const { agent } = await signInToConsole(gateway.issuer, 'admin');
    let page = await agent.navigate(url('/admin/second-factor'));
    expect(mainText(page)).toContain(
      'Allowing it changes how everyone signs in: the sign-in page offers “Sign in with a passkey”, and anyone with a passkey that checks their PIN or biometrics may sign in with it alone, without their password.',
    );
    const unticked = await submitFilled(agent, page, filledFormWithAction(page, '/admin/second-factor/passwordless'));
    expect(unticked.status).toBe(400);
    expect(/id="passwordless-error">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to allow passwordless sign-in. Nothing was changed.',
    );
    expect(unticked.html).toMatch(/id="passwordless-understood"[^>]* aria-invalid="true" autofocus>/);
    expect(await setting()).toBe('off');

    // On, the page counts whom turning it off would leave without a way in: people with a passkey alone.
    await setPasswordless(admin(), 'on');
    const passkeyOnly = (text: string) => Number(/(\d+) (?:person has|people have) no password/.exec(text)?.[1] ?? 0);
    const before = passkeyOnly(mainText(await agent.navigate(url('/admin/second-factor'))));
    await addPerson(gateway, 'pax');
    await gateway.models.User.update({ passwordHash: null }, { where: { username: 'pax' } });
    await storedPasskey('pax', 'Only key');
    page = await agent.navigate(url('/admin/second-factor'));
    expect(passkeyOnly(mainText(page))).toBe(before + 1);
    // One person is said in the singular (when this test runs alone), several in the plural.
    expect(mainText(page)).toMatch(
      /(1 person has no password and signs|\d+ people have no password and sign) in with a passkey alone: they cannot sign in at all until they get a password \(set on their page here, or with “Forgot your password\?” where the gateway sends mail\)\. Sessions already open stay open\./,
    );
    const off = filledFormWithAction(page, '/admin/second-factor/passwordless');
    const refused = await submitFilled(agent, page, off);
    expect(/id="passwordless-error">([^<]*)</.exec(refused.html)?.[1]).toBe(
      'Tick “I understand” to turn off passwordless sign-in. Nothing was changed.',
    );
    expect(await setting()).toBe('on');
    const done = await submitFilled(agent, page, off, { understood: 'yes' });
    expect(mainText(done)).toContain('A passkey now serves only as the second factor after a password.');
    expect(await setting()).toBe('off');
  });
});
