import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret, TOTP } from 'otpauth';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  formsOf,
  mainText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { AuthenticatorApp as App } from '../helpers/authenticator-app.ts';
import { passkeyWithCodes } from '../helpers/stored-passkey.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import {
  beginTotpEnrolment,
  checkTotpCode,
  checkTotpCodeOutcome,
  confirmTotpEnrolment,
  totpDeps,
} from '../../gateway/factors/totp.ts';

let gateway: TestGateway;

const accountUrl = (path = '') => `${gateway.issuer}/account/security${path}`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const deps = () => totpDeps(gateway.config.secretKey, gateway.issuer);
const unusedCodes = async (userId: string) =>
  (await gateway.models.RecoveryCode.findAll({ where: { userId, usedAt: null } })).map((r) => r.codeHash).sort();

/** A person with an authenticator app set up earlier, as through the use-cases. */
async function withApp(username: string): Promise<App> {
  await addPerson(gateway, username, { roles: ['staff'] });
  const user = await userNamed(username);
  const binding = interactionBinding({ uid: `setup-${username}` });
  const app = new App((await beginTotpEnrolment(gateway.context(null), deps(), user, binding)).secret);
  await confirmTotpEnrolment(gateway.context(null), deps(), user, await app.next(), binding);
  return app;
}

beforeAll(async () => {
  gateway = await startTestGateway('totp-walkthrough', { LOGIN_IP_LIMIT: '1000' });
});
afterAll(async () => gateway?.stop());

describe('adding an authenticator app beside a passkey', () => {
  it('keeps the recovery codes the person saved, and says so', { timeout: 120_000 }, async () => {
    await addPerson(gateway, 'hana', { roles: ['staff'] });
    const hana = await userNamed('hana');
    // A passkey added earlier, and the recovery codes it came with, kept safe.
    const saved = await passkeyWithCodes(gateway.context(null), hana.id);
    const agent = new BrowserAgent();
    const step = await signInThrough(agent, accountUrl(), 'hana', DEMO_PASSWORD);
    const recoveryForm = formsOf(step.html)
      .filter((f) => f.action.includes('/code'))
      .at(-1)!;
    const start = await agent.submit(step, recoveryForm, { code: saved[0]! });
    expect(start.url).toBe(accountUrl());
    const before = await unusedCodes(hana.id);
    expect(before).toHaveLength(9);

    const shown = await submitFilled(agent, start, filledFormWithAction(start, '/account/security/totp/start'));
    const app = App.fromPage(shown);
    const done = await agent.submit(shown, formWithAction(shown, '/account/security/totp'), {
      code: await app.next(),
    });
    expect(mainText(done)).toContain(
      'Your recovery codes are unchanged: the ones you already keep still work, and no new ones were made.',
    );
    expect(done.html).not.toContain('shown only now');
    expect(done.html).not.toMatch(/<li><code>[a-z0-9-]+<\/code><\/li>/);
    expect(await unusedCodes(hana.id)).toEqual(before);
    const entry = await gateway.models.AuditEvent.findOne({
      where: { action: 'factor.enrol', target: 'hana', outcome: 'success' },
    });
    expect(JSON.parse(entry!.details!)).toEqual({ factor: 'totp', recoveryCodesKept: true });

    // A saved code still signs in.
    const again = new BrowserAgent();
    const next = await signInThrough(again, accountUrl(), 'hana', DEMO_PASSWORD);
    const form = formsOf(next.html)
      .filter((f) => f.action.includes('/code'))
      .at(-1)!;
    expect((await again.submit(next, form, { code: saved[1]! })).url).toBe(accountUrl());
  });

  it('still gives ten recovery codes with a first factor', async () => {
    await addPerson(gateway, 'ines', { roles: ['staff'] });
    const ines = await userNamed('ines');
    const binding = interactionBinding({ uid: 'first-ines' });
    const app = new App((await beginTotpEnrolment(gateway.context(null), deps(), ines, binding)).secret);
    const codes = await confirmTotpEnrolment(gateway.context(null), deps(), ines, await app.next(), binding);
    expect(codes).toHaveLength(10);
    expect(await unusedCodes(ines.id)).toHaveLength(10);
  });
});

describe('codes typed with separators or of the wrong length', () => {
  it('accepts six digits with a dash, a space or a dot, at setup and at sign-in', { timeout: 120_000 }, async () => {
    await addPerson(gateway, 'jon', { roles: ['staff'] });
    const jon = await userNamed('jon');
    const binding = interactionBinding({ uid: 'setup-jon' });
    const app = new App((await beginTotpEnrolment(gateway.context(null), deps(), jon, binding)).secret);
    const code = await app.next();
    const codes = await confirmTotpEnrolment(
      gateway.context(null),
      deps(),
      jon,
      `${code.slice(0, 3)}-${code.slice(3)}`,
      binding,
    );
    expect(codes).toHaveLength(10);

    // The same code again, typed otherwise: read as that code (just used), not as a wrong one.
    for (const typed of [`${code.slice(0, 3)} ${code.slice(3)}`, `${code.slice(0, 3)}.${code.slice(3)}`, ` ${code} `]) {
      expect(await checkTotpCodeOutcome(gateway.context(null), deps(), jon, typed)).toBe('just_used');
    }
    const agent = new BrowserAgent();
    const step = await signInThrough(agent, accountUrl(), 'jon', DEMO_PASSWORD);
    const next = await app.next();
    const signedIn = await agent.submit(step, formWithAction(step, '/code'), {
      code: `${next.slice(0, 3)}-${next.slice(3)}`,
    });
    expect(signedIn.url).toBe(accountUrl());
  });

  it('says six digits for a code cut short, and tells it from a wrong code', async () => {
    await addPerson(gateway, 'kim', { roles: ['staff'] });
    const kim = await userNamed('kim');
    const agent = new BrowserAgent();
    const start = await signInThrough(agent, accountUrl(), 'kim', DEMO_PASSWORD);
    const shown = await submitFilled(agent, start, filledFormWithAction(start, '/account/security/totp/start'));
    const refused = await agent.submit(shown, formWithAction(shown, '/account/security/totp'), { code: '12 34' });
    expect(refused.status).toBe(401);
    expect(mainText(refused)).toContain(
      'A code from your authenticator app has six digits. Enter all six digits it shows now.',
    );
    expect(App.fromPage(refused).secret).toBe(App.fromPage(shown).secret);
    expect((await gateway.models.TotpFactor.findByPk(kim.id))!.confirmedAt).toBeNull();

    const app = await withApp('lena');
    const lena = await userNamed('lena');
    expect(await checkTotpCodeOutcome(gateway.context(null), deps(), lena, '12 34')).toBe('not_six_digits');
    expect(await checkTotpCodeOutcome(gateway.context(null), deps(), lena, '1234567')).toBe('not_six_digits');
    // A real wrong code is still a wrong code.
    const next = await app.next();
    const wrong = ['000000', '111111'].find((c) => c !== next)!;
    expect(await checkTotpCodeOutcome(gateway.context(null), deps(), lena, wrong)).toBe('wrong');
  });
});

describe('a right code used a moment ago', () => {
  it('is refused again, said to be just used rather than wrong', { timeout: 120_000 }, async () => {
    const app = await withApp('mo');
    const mo = await userNamed('mo');
    const code = await app.next();
    expect(await checkTotpCodeOutcome(gateway.context(null), deps(), mo, code)).toBe('accepted');
    // The same code, from another tab: no replay, but no wrong guess either.
    expect(await checkTotpCodeOutcome(gateway.context(null), deps(), mo, code)).toBe('just_used');
    expect(await checkTotpCode(gateway.context(null), deps(), mo, `${code.slice(0, 3)}-${code.slice(3)}`)).toBe(false);
    expect(await checkTotpCodeOutcome(gateway.context(null), deps(), mo, await app.next())).toBe('accepted');
  });

  it('at the sign-in step, in a second tab: said to be just used, and no wrong code counted', {
    timeout: 120_000,
  }, async () => {
    const app = await withApp('nia');
    const first = new BrowserAgent();
    const second = new BrowserAgent();
    const firstStep = await signInThrough(first, accountUrl(), 'nia', DEMO_PASSWORD);
    const secondStep = await signInThrough(second, accountUrl(), 'nia', DEMO_PASSWORD);
    const code = await app.next();
    expect((await first.submit(firstStep, formWithAction(firstStep, '/code'), { code })).url).toBe(accountUrl());

    const again = await second.submit(secondStep, formWithAction(secondStep, '/code'), { code });
    expect(again.status).toBe(401);
    expect(mainText(again)).toContain('That code was just used. Wait until your authenticator app shows the next code');
    // Said at the field it was typed in, which a screen reader reads with it, not only at the top of the page.
    const atField = (page: Page) => ({
      said: /<p class="field-error" id="code-error" role="alert">([^<]*)<\/p>/.exec(page.html)?.[1],
      field: /<input id="code"[^>]*>/.exec(page.html)?.[0],
    });
    expect(atField(again).said).toContain('That code was just used.');
    expect(atField(again).field).toContain('aria-invalid="true" aria-describedby="code-error"');
    // Cut short: six digits asked for, and no guess counted either.
    const short = await second.submit(again, formWithAction(again, '/code'), { code: code.slice(0, 4) });
    expect(mainText(short)).toContain('A code from your authenticator app has six digits.');
    expect(atField(short).said).toContain('A code from your authenticator app has six digits.');
    expect(atField(short).field).toContain('aria-invalid="true"');
    expect((await userNamed('nia')).failedLogins).toBe(0);
    const next = await app.next();
    expect((await second.submit(short, formWithAction(short, '/code'), { code: next })).url).toBe(accountUrl());
  });
});
