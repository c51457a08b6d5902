import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { TOTP, Secret } from 'otpauth';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  formsOf,
  htmlText,
  mainText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { dropSecondFactorRequirement, requireSecondFactor } from '../../gateway/factors/policy.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { resetFactorsOf } from '../../gateway/factors/reset-factors.ts';
import { MFA_ACR, PASSWORD_ACR } from '../../gateway/factors/acr.ts';
import { PORTAL_COOKIE } from '../../gateway/portal/portal.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { knownDeviceCookieName } from '../../gateway/http/known-device-cookie.ts';

const REDIRECT = 'http://localhost:9/cb';
let gateway: TestGateway;
let rp: client.Configuration;

/** Codes as the person's authenticator app computes them; each use takes a later 30-second step. */
/**
 * The earliest TOTP step the gateway will still accept when a request sent now reaches it: it accepts one
 * step either side of its own, but in a step's last 5 s the previous step's code may arrive after the step
 * has turned (a sign-in form's password check alone can take a second on a busy machine), and be refused.
 */
function earliestStep(): number {
  const now = Date.now();
  return Math.floor(now / 30_000) - (now % 30_000 < 25_000 ? 1 : 0);
}

class Authenticator {
  private last = -Infinity;
  readonly secret: string;
  constructor(secret: string) {
    this.secret = secret;
  }
  static fromPage(page: Page): Authenticator {
    const shown = /id="totp-secret">([^<]+)</.exec(page.html)?.[1];
    if (!shown) throw new Error(`no secret on the page:\n${page.html.slice(0, 1500)}`);
    return new Authenticator(shown.replace(/\s/g, ''));
  }
  private codeAt(step: number): string {
    return TOTP.generate({ secret: Secret.fromBase32(this.secret), timestamp: step * 30_000 });
  }
  /**
   * A code the gateway accepts now (its window is one step either side) and has not seen yet. When the
   * steps it accepts now are used up (three codes, or two started in a step's last 5 s), it waits for the
   * next step, as a person would.
   */
  async next(): Promise<string> {
    const step = Math.max(this.last + 1, earliestStep());
    const wait = (step - 1) * 30_000 - Date.now();
    if (wait > 10_000) throw new Error('test used up the codes of this minute');
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 50));
    this.last = step;
    return this.codeAt(step);
  }
  /** A valid code of this step without using it up, for a request the gateway must refuse for another reason. */
  peek(): string {
    return this.codeAt(Math.max(this.last + 1, earliestStep()));
  }
  /** The code most recently used, to replay it. */
  replay(): string {
    return this.codeAt(this.last);
  }
}

async function startSignIn(params: Record<string, string> = {}, agent = new BrowserAgent()) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  });
  const page = await agent.navigate(url.toString(), {}, REDIRECT);
  const finish = async (callback: Page) => {
    expect(callback.url.startsWith(REDIRECT), `${callback.url}\n${callback.html.slice(0, 1500)}`).toBe(true);
    const tokens = await client.authorizationCodeGrant(rp, new URL(callback.url), {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    return decodeJwt(tokens.id_token!);
  };
  return { agent, page, finish };
}

async function password(username: string, params: Record<string, string> = {}, agent?: BrowserAgent) {
  const flow = await startSignIn(params, agent);
  const page = await flow.agent.submit(
    flow.page,
    formWithAction(flow.page, '/login'),
    { username, password: DEMO_PASSWORD },
    REDIRECT,
  );
  return { ...flow, page };
}

const accountUrl = (path = '') => `${gateway.issuer}/account/security${path}`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;

/** The account page in a session whose sign-in is an hour old, as if it had been left open since. */
async function accountPageSignedInLongAgo(username: string): Promise<BrowserAgent> {
  const agent = new BrowserAgent();
  await signInThrough(agent, accountUrl(), username, DEMO_PASSWORD);
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
  // A new portal session from the same gateway session: signed in silently, with the old sign-in time.
  agent.cookies.get(new URL(gateway.issuer).host)!.delete(PORTAL_COOKIE);
  await agent.navigate(accountUrl());
  return agent;
}

/** "Set up an authenticator app" on the account page (a post): the page again, with the key and its QR code. */
const beginSetup = (agent: BrowserAgent, page: Page) =>
  submitFilled(agent, page, filledFormWithAction(page, '/account/security/totp/start'));

/** The recovery codes page's "Download as a text file": the file's text and name. */
function downloadOf(page: Page): { file: string; filename: string } {
  const link = /<a href="([^"]+)" download="([^"]+)"[^>]*>Download as a text file<\/a>/.exec(page.html);
  if (!link) throw new Error(`no download link on the page:\n${page.html.slice(0, 1500)}`);
  const href = htmlText(link[1]!);
  expect(href.startsWith('data:text/plain;charset=utf-8,')).toBe(true);
  return { file: decodeURIComponent(href.slice(href.indexOf(',') + 1)), filename: htmlText(link[2]!) };
}

const submitCode = (agent: BrowserAgent, page: Page, code: string) =>
  agent.submit(page, formWithAction(page, '/code'), { code }, REDIRECT);
/** "Set up an authenticator app" at a sign-in's enrolment step (a post): the step again, with the key and its QR code. */
const startAtSignIn = (agent: BrowserAgent, page: Page) =>
  agent.submit(page, formWithAction(page, '/totp/start'), {}, REDIRECT);
const alert = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1];

/** Enrols a person directly through the use-cases, as if done earlier on the account page. */
async function enrolled(username: string): Promise<{ authenticator: Authenticator; recoveryCodes: string[] }> {
  const ctx = gateway.context(null);
  const user = (await gateway.models.User.findOne({ where: { username } }))!;
  const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
  const authenticator = new Authenticator(
    (await beginTotpEnrolment(ctx, deps, user, interactionBinding({ uid: 'test' }))).secret,
  );
  const recoveryCodes = await confirmTotpEnrolment(
    ctx,
    deps,
    user,
    await authenticator.next(),
    interactionBinding({ uid: 'test' }),
  );
  return { authenticator, recoveryCodes };
}

beforeAll(async () => {
  // All of a file's sign-ins come from one address: its limit is not what these tests are about.
  gateway = await startTestGateway('second-factor', {
    LOGIN_MAX_FAILURES: '4',
    LOGIN_LOCKOUT_MINUTES: '10',
    LOGIN_IP_LIMIT: '1000',
  });
  for (const [username, displayName] of [
    ['frank', 'Frank Li'],
    ['ivy', 'Ivy Ito'],
    ['jay', 'Jay Jones'],
    ['kay', 'Kay King'],
    ['enid', 'Enid Ek'],
  ] as const) {
    await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username,
        displayName,
        email: `${username}@campus.test`,
        units: ['campus/eng/cs'],
        roles: ['student'],
        password: DEMO_PASSWORD,
      },
    );
  }
  const app = await registerTestApp(gateway, { name: 'Grades', redirectUris: [REDIRECT], firstParty: true });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => gateway?.stop());

describe('signing in with an authenticator app', () => {
  it('asks for a code after the password, and the ID token says both were used', async () => {
    const { authenticator } = await enrolled('alice');
    const { agent, page, finish } = await password('alice');
    expect(page.url).toContain('/interaction/');
    expect(page.html).toContain('Enter your code');
    const claims = await finish(await submitCode(agent, page, await authenticator.next()));
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(claims.acr).toBe(MFA_ACR);
    expect(
      await gateway.models.AuditEvent.count({
        where: { action: 'login.second_factor', target: 'alice', outcome: 'success' },
      }),
    ).toBe(1);
  });

  it('refuses a wrong code and a replayed one, and lets the person try again', async () => {
    const { authenticator } = await enrolled('dave');
    const first = await password('dave');
    await first.finish(await submitCode(first.agent, first.page, await authenticator.next()));

    const second = await password('dave');
    const wrong = await submitCode(
      second.agent,
      second.page,
      '000000' === authenticator.replay() ? '111111' : '000000',
    );
    expect(wrong.status).toBe(401);
    expect(alert(wrong)).toContain('That code is not valid');
    const replayed = await submitCode(second.agent, wrong, authenticator.replay());
    expect(replayed.status).toBe(401);
    expect(replayed.url).toContain('/interaction/');
    const claims = await second.finish(await submitCode(second.agent, replayed, await authenticator.next()));
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(
      await gateway.models.AuditEvent.count({
        where: { action: 'login.second_factor', target: 'dave', outcome: 'failure' },
      }),
    ).toBe(2);
  });

  it('accepts a recovery code once, in place of a code from the app', async () => {
    const { recoveryCodes } = await enrolled('bob');
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    const stored = await gateway.models.RecoveryCode.findAll({
      where: { userId: (await gateway.models.User.findOne({ where: { username: 'bob' } }))!.id },
    });
    expect(stored.map((r) => r.codeHash)).not.toContain(recoveryCodes[0]);

    const first = await password('bob');
    // A recovery code has letters: it has a field of its own, which a phone does not give a number pad.
    const fields = [...first.page.html.matchAll(/<input id="([^"]+)" name="code"([^>]*)>/g)].map((m) => [
      m[1],
      m[2]!.includes('inputmode="numeric"'),
    ]);
    expect(fields).toEqual([
      ['code', true],
      ['recovery-code', false],
    ]);
    expect(mainText(first.page)).toContain('Lost your phone? Enter one of your recovery codes instead. Recovery code');
    const recoveryForm = formsOf(first.page.html).filter((f) => f.action.includes('/code'))[1]!;
    const used = await first.agent.submit(
      first.page,
      recoveryForm,
      { code: recoveryCodes[0]!.toUpperCase() },
      REDIRECT,
    );
    const claims = await first.finish(used);
    expect(claims.amr).toEqual(['pwd', 'otp']);

    const again = await password('bob');
    const refused = await submitCode(again.agent, again.page, recoveryCodes[0]!);
    expect(refused.status).toBe(401);
    expect(alert(refused)).toContain('That code is not valid');
    await again.finish(await submitCode(again.agent, refused, recoveryCodes[1]!));
  });

  it('counts wrong codes toward the lockout, after which even a right code is refused', async () => {
    const { authenticator } = await enrolled('carol');
    const { agent, page } = await password('carol');
    let current = page;
    for (let i = 0; i < 3; i++) {
      current = await submitCode(agent, current, `12345${i}`);
      expect(current.status).toBe(401);
    }
    const codeForm = formWithAction(current, '/code');
    current = await submitCode(agent, current, '999999');
    expect(current.status).toBe(429);
    // For how long; not a password reset, which is not what went wrong.
    const paused =
      'Too many failed attempts (wrong passwords or codes): signing in to this account is paused. Try again in 10 minutes.';
    expect(alert(current)).toBe(paused);
    // No code box or passkey button that could only be refused: what to do once the time is up.
    expect(current.html).not.toContain('id="code"');
    expect(current.html).not.toContain('Use a passkey');
    expect(mainText(current)).toContain('Once the time is up, reload this page to enter a code');
    expect(current.headers.get('retry-after')).toBe('600');
    // The step's page, opened again: still paused.
    const reloaded = await agent.navigate(current.url.replace(/\/code$/, ''));
    expect(alert(reloaded)).toBe(paused);
    expect(reloaded.html).not.toContain('id="code"');
    // A code posted all the same is refused, right or not.
    const locked = await agent.submit(current, codeForm, { code: await authenticator.next() }, REDIRECT);
    expect(locked.status).toBe(429);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'account.locked', target: 'carol' } })).toBe(1);
    // The password form is locked as well, and does not say the password was wrong.
    const retry = await startSignIn();
    const refused = await retry.agent.submit(
      retry.page,
      formWithAction(retry.page, '/login'),
      { username: 'carol', password: DEMO_PASSWORD },
      REDIRECT,
    );
    expect(refused.status).toBe(429);
    expect(alert(refused)).toMatch(new RegExp(`^${paused.replace(/[().]/g, '\\$&')}`));
    expect(refused.html).not.toContain('Forgotten your password?');
  });

  it('does not let a right password wipe out the wrong codes before it', async () => {
    const { authenticator } = await enrolled('frank');
    for (const wrongCodes of [3, 1]) {
      const { agent, page } = await password('frank');
      expect(page.html).toContain('Enter your code');
      let current = page;
      for (let i = 0; i < wrongCodes; i++)
        current = await submitCode(agent, current, `00000${i}` === authenticator.peek() ? '999999' : `00000${i}`);
      if (wrongCodes === 1) expect(current.status).toBe(429);
    }
    expect(await gateway.models.AuditEvent.count({ where: { action: 'account.locked', target: 'frank' } })).toBe(1);
  });

  it('lets a teacher finish, code and all, at a browser they signed in with before while others keep them locked', async () => {
    await addPerson(gateway, 'tess', { roles: ['staff'] });
    const { authenticator } = await enrolled('tess');
    const first = await password('tess');
    await first.finish(await submitCode(first.agent, first.page, await authenticator.next()));
    // Signed out since: the browser keeps only its known-device cookie.
    const host = new URL(gateway.issuer).host;
    const DEVICE = knownDeviceCookieName(false);
    const device = first.agent.cookies.get(host)!.get(DEVICE)!;
    const known = () => {
      const browser = new BrowserAgent();
      browser.cookies.set(host, new Map([[DEVICE, device]]));
      return browser;
    };

    // Someone else's wrong passwords lock the account (four here), for every browser it does not know.
    const guess = async (agent = new BrowserAgent(), pw = 'not-her-password') => {
      const flow = await startSignIn({}, agent);
      return flow.agent.submit(
        flow.page,
        formWithAction(flow.page, '/login'),
        { username: 'tess', password: pw },
        REDIRECT,
      );
    };
    for (let i = 0; i < 4; i++) expect((await guess()).status).toBe(401);
    expect((await password('tess')).page.status).toBe(429);

    const { agent, page, finish } = await password('tess', {}, known());
    expect(page.status).toBe(200);
    expect(page.html).toContain('id="code"');
    const claims = await finish(await submitCode(agent, page, await authenticator.next()));
    expect(claims.acr).toBe(MFA_ACR);
    const entry = await gateway.models.AuditEvent.findOne({
      where: { action: 'login.second_factor', target: 'tess', outcome: 'success' },
      order: [['id', 'DESC']],
    });
    expect(JSON.parse(entry!.details!)).toEqual({ method: 'totp', lockedAccount: 'known device let through' });
    // Still locked for the rest.
    expect((await password('tess')).page.status).toBe(429);

    // Wrong codes at the known browser lock that browser too, after as many as lock an account.
    const again = await password('tess', {}, known());
    let current = again.page;
    for (let i = 0; i < 4; i++)
      current = await submitCode(again.agent, current, `00000${i}` === authenticator.peek() ? '999999' : `00000${i}`);
    expect(current.status).toBe(429);
    expect(current.html).not.toContain('id="code"');
    expect((await password('tess', {}, known())).page.status).toBe(429);
  });

  it('keeps the TOTP secret sealed at rest', async () => {
    const { authenticator } = await enrolled('eng-admin');
    const user = (await gateway.models.User.findOne({ where: { username: 'eng-admin' } }))!;
    const row = (await gateway.models.TotpFactor.findByPk(user.id))!;
    expect(row.secret).not.toContain(authenticator.secret);
    expect(row.secret.startsWith('v1.')).toBe(true);
    await resetFactorsOf({ ...gateway.context(null), actor: operator('test') }, 'eng-admin');
  });
});

describe('the account page', () => {
  it('lets a person who just signed in set up an authenticator with a QR code, then shows ten recovery codes once', async () => {
    const agent = new BrowserAgent();
    const first = await agent.navigate(accountUrl());
    // Not signed in: through the portal's sign-in at this gateway.
    expect(first.html).toContain('/login"');
    await agent.submit(first, formWithAction(first, '/login'), { username: 'eng-admin', password: DEMO_PASSWORD });
    const start = await agent.navigate(accountUrl());
    expect(start.status).toBe(200);
    expect(start.html).toContain('No second factor yet');
    // Under its own heading, nothing begun until the person asks: no key shown, none kept.
    expect(mainText(start)).toContain(
      'Authenticator app An app on your phone shows a new six-digit code every 30 seconds; once it is set up, signing in asks for that code after your password. Set up an authenticator app',
    );
    expect(start.html).not.toContain('totp-secret');
    const person = await gateway.models.User.findOne({ where: { username: 'eng-admin' } });
    expect(await gateway.models.TotpFactor.count({ where: { userId: person!.id } })).toBe(0);
    // The recovery codes have a section of their own, which says where they come from.
    expect(mainText(start)).toContain(
      'Recovery codes You get ten recovery codes when you set up an authenticator app or add a passkey, for when you lose your phone or security key.',
    );
    const page = await beginSetup(agent, start);
    expect(page.status).toBe(200);
    expect(mainText(page)).toContain('Authenticator app Set up an authenticator app Scan this code');
    expect(page.html).toMatch(/<img class="qr" src="data:image\/png;base64,/);
    const authenticator = Authenticator.fromPage(page);
    // On the phone that holds the app, a link hands it the same key.
    const appLink = /Is this page open on the phone with the app\? <a id="totp-app-link" href="([^"]+)">/.exec(
      page.html,
    );
    expect(appLink?.[1]?.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&')).toMatch(
      new RegExp(`^otpauth://totp/[^?]+\\?(?:[^&]*&)*secret=${authenticator.secret}(?:&|$)`),
    );
    // The session the key is bound to is kept as a digest: the table holds no session's id.
    const pending = await gateway.models.TotpFactor.findByPk(person!.id);
    expect(pending!.binding).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // A form from elsewhere (no CSRF token) changes nothing.
    const forged = await agent.request(`${gateway.issuer}/account/security/totp`, {
      method: 'POST',
      body: new URLSearchParams({ code: authenticator.peek() }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(forged.status).toBe(403);
    const wrong = await agent.submit(page, formWithAction(page, '/account/security/totp'), { code: 'abcdef' });
    expect(wrong.status).toBe(401);
    expect(Authenticator.fromPage(wrong).secret).toBe(authenticator.secret);

    const done = await agent.submit(wrong, formWithAction(wrong, '/account/security/totp'), {
      code: await authenticator.next(),
    });
    expect(done.html).toContain('shown only now');
    expect(done.headers.get('cache-control')).toBe('no-store');
    expect(downloadOf(done).filename).toBe('atrium-recovery-codes-eng-admin.txt');
    // Said as on the page of new codes: the codes are kept away from every device that signs in.
    expect(done.html).toContain('somewhere safe, away from your phone and security keys.');
    expect([...done.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)]).toHaveLength(10);
    const after = await agent.navigate(accountUrl());
    expect(after.html).toContain('An authenticator app is set up');
    // The count of codes left is said once, in its own section.
    expect(/id="codes-left">(\d+)</.exec(after.html)?.[1]).toBe('10');
    expect(mainText(after)).toContain(
      'Each works once, after your password, in place of a code from an authenticator app or a passkey. New ones replace all the old ones. Make new recovery codes',
    );
    // (Beside the signed-in devices, whose times and addresses may hold a 10 of their own, and the password's
    // rules, which may name 10 characters.)
    const withoutDevices = after.html
      .replace(/<section aria-labelledby="devices-heading"[\s\S]*?<\/section>/, '')
      .replace(/<section aria-labelledby="password-heading"[\s\S]*?<\/section>/, '');
    expect(withoutDevices.replace(/<[^>]*>/g, '').match(/\b10\b/g)).toHaveLength(1);
    expect(after.html).not.toContain('totp-secret');

    const signIn = await password('eng-admin');
    const claims = await signIn.finish(await submitCode(signIn.agent, signIn.page, await authenticator.next()));
    expect(claims.amr).toEqual(['pwd', 'otp']);
    await resetFactorsOf({ ...gateway.context(null), actor: operator('test') }, 'eng-admin');
  });

  it('shows no key to a session signed in long ago, until the person confirms it is them', async () => {
    const agent = await accountPageSignedInLongAgo('ivy');
    let page = await agent.navigate(accountUrl());
    expect(page.html).toContain('To set one up, confirm it is you first');
    expect(page.html).not.toContain('totp-secret');
    expect(await gateway.models.TotpFactor.count({ where: { userId: (await userNamed('ivy')).id } })).toBe(0);
    // A post that skips the page binds nothing.
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!;
    const skipped = await agent.navigate(accountUrl('/totp'), {
      method: 'POST',
      body: new URLSearchParams({ _csrf: csrf, code: '123456' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(skipped.status).toBe(403);
    expect(alert(skipped)).toContain('Confirm it is you first');

    // A wrong password counts toward the lockout; the right one opens the setup.
    const wrong = await agent.submit(page, formWithAction(page, '/account/security/confirm'), { password: 'not-it' });
    expect((await userNamed('ivy')).failedLogins).toBe(1);
    // Said beside its form, on the field to type again, which has the focus (no fragment in the address).
    expect(wrong.status).toBe(401);
    expect(wrong.url).toBe(accountUrl('/confirm'));
    expect(/id="confirm-error" role="alert">([^<]*)</.exec(wrong.html)?.[1]).toBe(
      'That is not your current password or a current code from your authenticator app.',
    );
    const [heading, error, form] = ['id="confirm-heading"', 'id="confirm-error"', 'id="confirm-secret"'].map((m) =>
      wrong.html.indexOf(m),
    );
    expect(heading).toBeGreaterThan(-1);
    expect(heading!).toBeLessThan(error!);
    expect(error!).toBeLessThan(form!);
    expect(wrong.html).toMatch(
      /<input id="confirm-password"[^>]*autocomplete="current-password" aria-invalid="true" aria-describedby="confirm-error" autofocus>/,
    );
    expect(wrong.html).not.toContain('id="account-notice"');
    page = await agent.submit(wrong, formWithAction(wrong, '/account/security/confirm'), { password: DEMO_PASSWORD });
    expect(page.html).not.toContain('totp-secret');
    page = await beginSetup(agent, page);
    const authenticator = Authenticator.fromPage(page);
    const done = await agent.submit(page, formWithAction(page, '/account/security/totp'), {
      code: await authenticator.next(),
    });
    expect(done.html).toContain('shown only now');
  });

  it('counts nothing toward the lockout when Confirm is pressed with nothing typed, or a password far too long', async () => {
    await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username: 'max',
        displayName: 'Max Moe',
        email: 'max@campus.test',
        units: ['campus/eng/cs'],
        roles: ['student'],
        password: DEMO_PASSWORD,
      },
    );
    const agent = await accountPageSignedInLongAgo('max');
    const confirm = async (values: Record<string, string>) => {
      const page = await agent.navigate(accountUrl());
      const answer = await agent.submit(page, formWithAction(page, '/account/security/confirm'), values);
      expect(answer.html).not.toContain('invalid_body');
      return {
        status: answer.status,
        said: htmlText(/id="confirm-error" role="alert">([^<]*)</.exec(answer.html)?.[1] ?? ''),
        focused:
          /<input id="confirm-password"[^>]* aria-invalid="true" aria-describedby="confirm-error" autofocus>/.test(
            answer.html,
          ),
      };
    };
    // More stray clicks than the lockout allows (four here): each says what to type, none is counted.
    for (let click = 0; click < 5; click++)
      expect(await confirm({ password: '' })).toEqual({
        status: 400,
        said: 'Enter your current password.',
        focused: true,
      });
    // With an authenticator app, the form asks for either.
    const { authenticator } = await enrolled('max');
    expect(await confirm({ password: '', code: '  ' })).toEqual({
      status: 400,
      said: 'Enter your current password or a code from your authenticator app.',
      focused: true,
    });
    // 5,000 characters, of letters or of a script of several bytes each: no password is that long.
    const farTooLong = { said: 'That is not your current password: it is far too long.', focused: true };
    expect(await confirm({ password: 'y'.repeat(5000) })).toEqual({ status: 400, ...farTooLong });
    expect(await confirm({ password: '密'.repeat(5000) })).toEqual({ status: 413, ...farTooLong });
    const max = await userNamed('max');
    expect({ failures: max.failedLogins, locked: max.lockedUntil }).toEqual({ failures: 0, locked: null });

    const page = await agent.navigate(accountUrl());
    const confirmed = await agent.submit(page, formWithAction(page, '/account/security/confirm'), {
      code: await authenticator.next(),
    });
    expect(alert(confirmed)).toBeUndefined();
    expect(confirmed.html).toContain('Confirmed. For the next 10 minutes you can change how you sign in.');
  });

  it('gives the person a key of their own, never one a session left open elsewhere was shown', async () => {
    // A session left signed in on a shared computer: someone opens the account page and notes the key.
    const borrowed = new BrowserAgent();
    await signInThrough(borrowed, accountUrl(), 'jay', DEMO_PASSWORD);
    const seen = Authenticator.fromPage(await beginSetup(borrowed, await borrowed.navigate(accountUrl())));

    // Later, on their own computer, the person sets up their authenticator.
    const own = new BrowserAgent();
    await signInThrough(own, accountUrl(), 'jay', DEMO_PASSWORD);
    const page = await beginSetup(own, await own.navigate(accountUrl()));
    const theirs = Authenticator.fromPage(page);
    expect(theirs.secret).not.toBe(seen.secret);
    const done = await own.submit(page, formWithAction(page, '/account/security/totp'), {
      code: await theirs.next(),
    });
    expect(done.html).toContain('shown only now');

    // The noted key confirms nothing.
    const account = await borrowed.navigate(accountUrl());
    const csrf = /name="_csrf" value="([^"]+)"/.exec(account.html)![1]!;
    const confirmed = await borrowed.navigate(accountUrl('/confirm'), {
      method: 'POST',
      body: new URLSearchParams({ _csrf: csrf, code: await seen.next() }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(/id="confirm-error" role="alert">([^<]*)</.exec(confirmed.html)?.[1]).toBe(
      'That is not your current password or a current code from your authenticator app.',
    );
    expect(confirmed.html).toMatch(/<input id="confirm-code"[^>]* aria-describedby="confirm-error" autofocus>/);
  });

  it('closes a setup left open for ten minutes, and shows a new key', async () => {
    const agent = new BrowserAgent();
    await signInThrough(agent, accountUrl(), 'kay', DEMO_PASSWORD);
    const page = await beginSetup(agent, await agent.navigate(accountUrl()));
    const stale = Authenticator.fromPage(page);
    await gateway.models.TotpFactor.update(
      { createdAt: new Date(Date.now() - 11 * 60_000) },
      { where: { userId: (await userNamed('kay')).id } },
    );
    const closed = await agent.submit(page, formWithAction(page, '/account/security/totp'), {
      code: await stale.next(),
    });
    expect(closed.status).toBe(409);
    expect(alert(closed)).toContain('has expired');
    const fresh = Authenticator.fromPage(closed);
    expect(fresh.secret).not.toBe(stale.secret);
    const done = await agent.submit(closed, formWithAction(closed, '/account/security/totp'), {
      code: await fresh.next(),
    });
    expect(done.html).toContain('shown only now');
  });
});

describe('starting to set up an authenticator app', () => {
  it('is a post from the page: opening or reloading the setup page starts none, and shows the key a post started', async () => {
    await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username: 'lou',
        displayName: 'Lou Lund',
        email: 'lou@campus.test',
        units: ['campus/eng/cs'],
        roles: ['student'],
        password: DEMO_PASSWORD,
      },
    );
    const agent = new BrowserAgent();
    await signInThrough(agent, accountUrl(), 'lou', DEMO_PASSWORD);
    const lou = await userNamed('lou');
    const kept = () => gateway.models.TotpFactor.findByPk(lou.id);

    // What a link prefetcher, a crawler or another site's link asks: the setup's addresses by GET.
    const opened = await agent.navigate(accountUrl('?setup=authenticator'));
    expect(opened.status).toBe(200);
    expect(opened.html).not.toContain('totp-secret');
    expect(opened.html).toContain('id="begin-totp"');
    expect((await agent.request(accountUrl('/totp/start'))).status).toBe(404);
    // Nor does another site's form, which has no CSRF token.
    const forged = await agent.request(accountUrl('/totp/start'), {
      method: 'POST',
      body: new URLSearchParams({}),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(forged.status).toBe(403);
    expect(await kept()).toBeNull();

    // The button posts, and leads to the page with the key, the QR code and the code box.
    const page = await beginSetup(agent, opened);
    expect(page.url).toBe(accountUrl('?setup=authenticator'));
    expect(page.html).toMatch(/<img class="qr" src="data:image\/png;base64,/);
    expect(page.html).toContain('id="totp-form"');
    const key = Authenticator.fromPage(page);
    const started = (await kept())!;
    // A reload shows the same key and writes nothing.
    expect(Authenticator.fromPage(await agent.navigate(page.url)).secret).toBe(key.secret);
    expect((await kept())!.secret).toBe(started.secret);
    expect((await kept())!.createdAt.getTime()).toBe(started.createdAt.getTime());

    // Past its ten minutes, a reload shows no key and says to start again, still writing nothing.
    const longAgo = new Date(Date.now() - 11 * 60_000);
    await gateway.models.TotpFactor.update({ createdAt: longAgo }, { where: { userId: lou.id } });
    const ended = await agent.navigate(page.url);
    expect(ended.html).not.toContain('totp-secret');
    expect(htmlText(/id="totp-setup-ended">([^<]*)</.exec(ended.html)?.[1] ?? '')).toBe(
      'This setup is no longer open: a key is good for ten minutes, in the browser it was shown in. Start again to get a new one.',
    );
    expect((await kept())!.createdAt.getTime()).toBe(longAgo.getTime());
    const again = await beginSetup(agent, ended);
    const fresh = Authenticator.fromPage(again);
    expect(fresh.secret).not.toBe(key.secret);
    const done = await agent.submit(again, formWithAction(again, '/account/security/totp'), {
      code: await fresh.next(),
    });
    expect(done.html).toContain('shown only now');
  });
});

describe('moving the authenticator app to a new phone', () => {
  it('is offered as a replacement whatever the policy, and removing the app only where it may go', async () => {
    const admin = { ...gateway.context(null), actor: operator('test') };
    await createUser(admin, {
      username: 'noor',
      displayName: 'Noor Nasser',
      email: 'noor@campus.test',
      units: ['campus/eng/cs'],
      roles: ['staff'],
      password: DEMO_PASSWORD,
    });
    const agent = new BrowserAgent();
    await signInThrough(agent, accountUrl(), 'noor', DEMO_PASSWORD);
    await enrolled('noor');
    // The app is the only factor, and not required: it may be replaced, or go, and the page says what that means.
    const replace =
      'A new phone, or lost the old one? Replace the app: scan a new code with the new phone and enter a code it shows. The old phone’s codes stop working only once the new one is confirmed, so you are never left without your app.';
    let page = await agent.navigate(accountUrl());
    expect(mainText(page)).toContain(replace);
    expect(mainText(page)).toContain(
      'No longer want an app? Remove it: until you set one up again your sign-in asks for your password alone, and your recovery codes stop working.',
    );
    expect(page.html).toContain('id="begin-replace-totp"');
    expect(page.html).toContain('id="remove-totp"');

    // Required now: the page no longer tells the person to remove what it will not let them remove.
    await requireSecondFactor(admin, { kind: 'role', value: 'staff' });
    try {
      page = await agent.navigate(accountUrl());
      expect(page.html).not.toContain('id="remove-totp"');
      expect(mainText(page)).not.toContain('No longer want an app?');
      expect(mainText(page)).toContain(
        `Your campus requires a second factor, and this app is your only one, so it cannot be removed; but you can replace it. ${replace}`,
      );
      expect(page.html).toContain('id="begin-replace-totp"');
    } finally {
      await dropSecondFactorRequirement(admin, { kind: 'role', value: 'staff' });
    }
  });
});

describe('a second factor required by policy or asked for by an app', () => {
  it('makes a person the policy covers enrol at sign-in, without a way to skip it', async () => {
    await requireSecondFactor({ ...gateway.context(null), actor: operator('test') }, { kind: 'role', value: 'admin' });
    const { agent, page, finish } = await password('admin');
    expect(page.html).toContain('Set up an authenticator app');
    expect(page.html).toContain(
      'Your campus requires a second factor for your account. Set up an authenticator app or add a passkey to continue.',
    );
    // A passkey will do as well (the form shows where the browser can make one).
    expect(page.html).toContain('id="enrol-passkey"');
    // The step's page, opened or reloaded (a GET), starts nothing until the person asks: no key shown, none kept.
    const admin = await userNamed('admin');
    for (const shown of [page, await agent.navigate(page.url)]) {
      expect(shown.html).not.toContain('totp-secret');
      expect(shown.html).not.toContain('/enrol"');
    }
    expect(await gateway.models.TotpFactor.count({ where: { userId: admin.id } })).toBe(0);
    // Skipping ahead to the end of the step goes back to the enrolment page.
    const start = formWithAction(page, '/totp/start');
    const skipped = await agent.submit(
      page,
      { ...start, action: start.action.replace('/totp/start', '/continue') },
      {},
      REDIRECT,
    );
    expect(skipped.url).toContain('/interaction/');
    expect(skipped.html).toContain('Set up an authenticator app');
    // A password alone never finishes it: the code step is not open either.
    const guessed = await agent.submit(
      page,
      { ...start, action: start.action.replace('/totp/start', '/code') },
      { code: '123456' },
      REDIRECT,
    );
    expect(guessed.html).toContain('Set up an authenticator app');
    // "Set up an authenticator app" is a form of the page: a post without its CSRF token starts nothing.
    const forged = await agent.submit(skipped, start, { _csrf: 'forged' }, REDIRECT);
    expect(forged.status).toBe(403);
    expect(await gateway.models.TotpFactor.count({ where: { userId: admin.id } })).toBe(0);

    const started = await startAtSignIn(agent, skipped);
    expect(started.url).toMatch(/\/interaction\/[^/]+$/);
    expect(started.html).toMatch(/<img class="qr" src="data:image\/png;base64,/);
    const authenticator = Authenticator.fromPage(started);
    // A reload shows the same key.
    const reloadedKey = await agent.navigate(started.url);
    expect(Authenticator.fromPage(reloadedKey).secret).toBe(authenticator.secret);
    expect(await gateway.models.TotpFactor.count({ where: { userId: admin.id } })).toBe(1);
    const wrong = await agent.submit(
      reloadedKey,
      formWithAction(reloadedKey, '/enrol'),
      { code: '000000' === authenticator.replay() ? '111111' : '000000' },
      REDIRECT,
    );
    expect(wrong.status).toBe(401);
    // Setting up, the person has no recovery codes yet: the page does not offer one.
    expect(wrong.html).toContain('That code is not right.');
    expect(wrong.html).not.toContain('recovery code');
    expect(
      await gateway.models.AuditEvent.count({ where: { action: 'factor.enrol', target: 'admin', outcome: 'failure' } }),
    ).toBe(1);
    const codes = await agent.submit(
      wrong,
      formWithAction(wrong, '/enrol'),
      { code: await authenticator.next() },
      REDIRECT,
    );
    expect(codes.html).toContain('shown only now');
    const shown = [...codes.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(shown).toHaveLength(10);
    // What they are for, said as on Sign-in security: at the second step, whatever the factor.
    expect(mainText(codes)).toContain(
      'Each works once, after your password, in place of a code from an authenticator app or a passkey.',
    );
    // To keep them: a text file of the codes on the page (nothing the gateway could serve again), and a
    // copy button that only the page's script shows.
    expect(codes.headers.get('cache-control')).toBe('no-store');
    const { file, filename } = downloadOf(codes);
    expect(filename).toBe('atrium-recovery-codes-admin.txt');
    // Made when, in UTC and saying so: the page's script writes the browser's own zone instead, where it runs.
    expect(file).toMatch(/^Atrium recovery codes for admin, made \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC\n/);
    expect(file.trim().split('\n').slice(-10)).toEqual(shown);
    expect(codes.html).toMatch(
      /<button type="button" class="secondary" id="copy-codes" hidden>Copy the codes<\/button>/,
    );
    // The step opened again (a reload): the codes are not, and the page says where to make new ones.
    const reloaded = await agent.navigate(codes.url.replace(/\/enrol$/, ''));
    expect(reloaded.html).not.toContain('<li><code>');
    expect(mainText(reloaded)).toContain(
      'Your recovery codes were shown once, when you set it up, and are not shown again. If you did not keep them, make new ones on Sign-in security once you are signed in: new ones replace them. Continue',
    );
    expect(reloaded.html).toContain('<a href="/account/security#recovery">Sign-in security</a>');
    const claims = await finish(await agent.submit(reloaded, formWithAction(reloaded, '/continue'), {}, REDIRECT));
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(claims.acr).toBe(MFA_ACR);

    // Next time the code is asked for, not a new enrolment.
    const next = await password('admin');
    expect(next.page.html).toContain('Enter your code');
  });

  it('shows each sign-in a key of its own, which that sign-in alone can confirm', async () => {
    const first = await password('enid', { acr_values: MFA_ACR });
    const firstPage = await startAtSignIn(first.agent, first.page);
    const firstKey = Authenticator.fromPage(firstPage);
    const second = await password('enid', { acr_values: MFA_ACR });
    const secondKey = Authenticator.fromPage(await startAtSignIn(second.agent, second.page));
    expect(secondKey.secret).not.toBe(firstKey.secret);

    // The first sign-in's key was replaced: it is refused there, and a new one shown.
    const closed = await first.agent.submit(
      firstPage,
      formWithAction(firstPage, '/enrol'),
      { code: await firstKey.next() },
      REDIRECT,
    );
    expect(closed.status).toBe(409);
    const again = Authenticator.fromPage(closed);
    expect([firstKey.secret, secondKey.secret]).not.toContain(again.secret);
    const codes = await first.agent.submit(
      closed,
      formWithAction(closed, '/enrol'),
      { code: await again.next() },
      REDIRECT,
    );
    expect(codes.html).toContain('shown only now');
    await resetFactorsOf({ ...gateway.context(null), actor: operator('test') }, 'enid');
  });

  it('gives a person outside the policy a password-only token that says so', async () => {
    await resetFactorsOf({ ...gateway.context(null), actor: operator('test') }, 'alice');
    const { page, finish } = await password('alice');
    const claims = await finish(page);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBe(PASSWORD_ACR);
  });

  it('asks for a second factor when the app sends acr_values, even within a password-only session', async () => {
    const agent = new BrowserAgent();
    const plain = await password('alice', {}, agent);
    expect((await plain.finish(plain.page)).acr).toBe(PASSWORD_ACR);

    const asked = await startSignIn({ acr_values: MFA_ACR }, agent);
    // The existing session is not enough: the login form is shown again.
    expect(asked.page.html).toContain('/login"');
    const enrol = await asked.agent.submit(
      asked.page,
      formWithAction(asked.page, '/login'),
      { username: 'alice', password: DEMO_PASSWORD },
      REDIRECT,
    );
    expect(enrol.html).toContain('This app asks for a second factor');
    const started = await startAtSignIn(agent, enrol);
    const authenticator = Authenticator.fromPage(started);
    const codes = await agent.submit(
      started,
      formWithAction(started, '/enrol'),
      { code: await authenticator.next() },
      REDIRECT,
    );
    const claims = await asked.finish(await agent.submit(codes, formWithAction(codes, '/continue'), {}, REDIRECT));
    expect(claims.acr).toBe(MFA_ACR);
    expect(claims.amr).toEqual(['pwd', 'otp']);

    // The session now has the second factor: the same request passes without a new sign-in.
    const again = await startSignIn({ acr_values: MFA_ACR }, agent);
    expect((await again.finish(again.page)).acr).toBe(MFA_ACR);
  });

  it('advertises the acr values in discovery', async () => {
    const metadata = (await (await fetch(`${gateway.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata.acr_values_supported).toEqual([PASSWORD_ACR, MFA_ACR]);
  });
});
