import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret, TOTP } from 'otpauth';
import {
  BrowserAgent,
  formWithAction,
  formsOf,
  htmlText,
  mainText,
  signInThrough,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, linkToTestDirectory, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { AuthenticatorApp as App } from '../helpers/authenticator-app.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { requireSecondFactor } from '../../gateway/factors/policy.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, sweepTotpEnrolments, totpDeps } from '../../gateway/factors/totp.ts';
import { beginTotpReplacement } from '../../gateway/factors/replace-totp.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { PORTAL_COOKIE } from '../../gateway/portal/portal.ts';

let gateway: TestGateway;

const accountUrl = (path = '') => `${gateway.issuer}/account/security${path}`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const factorOf = async (username: string) =>
  (await gateway.models.TotpFactor.findByPk((await userNamed(username)).id))!;
const noticeOf = (page: Page) => htmlText(/id="account-notice">([^<]*)</.exec(page.html)?.[1] ?? '');
const alert = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1];

/** A staff member with an authenticator app as their only factor (set up earlier), and its recovery codes. */
async function staffWithApp(username: string): Promise<{ app: App; recoveryCodes: string[] }> {
  await addPerson(gateway, username, { roles: ['staff'] });
  const user = await userNamed(username);
  const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
  const binding = interactionBinding({ uid: `setup-${username}` });
  const app = new App((await beginTotpEnrolment(gateway.context(null), deps, user, binding)).secret);
  const recoveryCodes = await confirmTotpEnrolment(gateway.context(null), deps, user, await app.next(), binding);
  return { app, recoveryCodes };
}

/** Signs in to the account page with the password, then `code` (from the app) or a recovery code. */
async function signInWith(
  username: string,
  second: { code: string } | { recoveryCode: string },
  agent = new BrowserAgent(),
) {
  const step = await signInThrough(agent, accountUrl(), username, DEMO_PASSWORD);
  const [appForm, recoveryForm] = formsOf(step.html).filter((f) => f.action.includes('/code'));
  const page =
    'code' in second
      ? await agent.submit(step, appForm!, { code: second.code })
      : await agent.submit(step, recoveryForm!, { code: second.recoveryCode });
  return { agent, page };
}

const startReplacing = (agent: BrowserAgent, page: Page) =>
  agent.submit(page, formWithAction(page, '/account/security/totp/replace/start'));
const finishReplacing = (agent: BrowserAgent, page: Page, code: string) =>
  agent.submit(page, formWithAction(page, '/account/security/totp/replace'), { code });

beforeAll(async () => {
  gateway = await startTestGateway('replace-totp', { LOGIN_IP_LIMIT: '1000' });
  // As `atrium mfa require --role staff`: the app of someone with no other factor cannot be removed.
  await requireSecondFactor({ ...gateway.context(null), actor: operator('test') }, { kind: 'role', value: 'staff' });
});
afterAll(async () => gateway?.stop());

describe('replacing the authenticator app', () => {
  it('lets a person who lost their phone sign in with a recovery code and replace the app themselves', {
    timeout: 120_000,
  }, async () => {
    const { app: lostPhone, recoveryCodes } = await staffWithApp('frank');
    const before = await factorOf('frank');
    const { agent, page } = await signInWith('frank', { recoveryCode: recoveryCodes[0]! });
    expect(page.url).toBe(accountUrl());
    // Said where the page used to say the app stays until a passkey is added; no Remove button.
    expect(mainText(page)).toContain(
      'Your campus requires a second factor, and this app is your only one, so it cannot be removed; but you can replace it. A new phone, or lost the old one? Replace the app: scan a new code with the new phone and enter a code it shows. The old phone’s codes stop working only once the new one is confirmed, so you are never left without your app.',
    );
    expect(page.html).not.toContain('id="remove-totp"');

    // The recovery code's sign-in is recent enough: the new key at once, the old one still in place.
    const shown = await startReplacing(agent, page);
    expect(shown.html).toContain('id="replace-totp-form"');
    expect(shown.html).toMatch(/<img class="qr" src="data:image\/png;base64,/);
    const newPhone = App.fromPage(shown);
    expect(newPhone.secret).not.toBe(lostPhone.secret);
    // Opened on the new phone, a link hands its app the new key.
    const appLink = /Is this page open on your new phone\? <a id="totp-app-link" href="([^"]+)">/.exec(shown.html);
    expect(appLink?.[1]?.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&')).toContain(`secret=${newPhone.secret}`);
    // A reload shows the same key.
    expect(App.fromPage(await agent.navigate(accountUrl())).secret).toBe(newPhone.secret);

    // A wrong code leaves everything as it was, and the key still open.
    const wrong = await finishReplacing(agent, shown, newPhone.wrong());
    expect(noticeOf(wrong)).toBe(
      "That code is not right, so your current app stays as it was. Enter the six-digit code the app on your new phone shows now; if it is refused again, check that the phone's clock is set automatically.",
    );
    expect((await factorOf('frank')).secret).toBe(before.secret);
    expect(App.fromPage(wrong).secret).toBe(newPhone.secret);

    const done = await finishReplacing(agent, wrong, await newPhone.next());
    expect(noticeOf(done)).toBe(
      'Replaced the authenticator app: sign-ins now ask for a code from the new phone, and the old one’s codes no longer work.',
    );
    expect(done.html).not.toContain('id="totp-secret"');
    const after = await factorOf('frank');
    expect(after.secret).not.toBe(before.secret);
    expect(after.replacementSecret).toBeNull();
    // The other recovery codes stay.
    expect(await gateway.models.RecoveryCode.count({ where: { userId: after.userId, usedAt: null } })).toBe(9);
    const entries = await gateway.models.AuditEvent.findAll({ where: { action: 'factor.replace', target: 'frank' } });
    expect(entries.map((e) => [e.outcome, JSON.parse(e.details!)])).toEqual([
      ['failure', { factor: 'totp', reason: 'invalid_code' }],
      ['success', { factor: 'totp' }],
    ]);

    // The next sign-in refuses the lost phone's code and takes the new one's.
    const again = new BrowserAgent();
    const step = await signInThrough(again, accountUrl(), 'frank', DEMO_PASSWORD);
    expect(step.url).toContain('/interaction/');
    const refused = await again.submit(step, formWithAction(step, '/code'), { code: await lostPhone.next() });
    expect(refused.status).toBe(401);
    expect(alert(refused)).toContain('That code is not valid');
    const signedIn = await again.submit(refused, formWithAction(refused, '/code'), { code: await newPhone.next() });
    expect(signedIn.url).toBe(accountUrl());
  });

  it('refuses to start or finish a replacement without a recent sign-in or confirmation, and changes nothing', {
    timeout: 60_000,
  }, async () => {
    const { app } = await staffWithApp('gus');
    const { agent } = await signInWith('gus', { code: await app.next() });
    // The sign-in an hour old, as if the session had been left open on a shared computer.
    const gus = await userNamed('gus');
    const original = (await factorOf('gus')).secret;
    for (const row of await gateway.models.OidcPayload.findAll({ where: { model: 'Session' } })) {
      const payload = JSON.parse(row.payload) as { accountId?: string; loginTs?: number };
      if (payload.accountId !== gus.id) continue;
      payload.loginTs = Math.floor(Date.now() / 1000) - 3600;
      await gateway.models.OidcPayload.update(
        { payload: JSON.stringify(payload) },
        { where: { model: 'Session', id: row.id } },
      );
    }
    agent.cookies.get(new URL(gateway.issuer).host)!.delete(PORTAL_COOKIE);
    const page = await agent.navigate(accountUrl());
    expect(page.url).toBe(accountUrl());
    expect(page.html).not.toContain('id="begin-replace-totp"');
    expect(mainText(page)).toContain(
      'To replace it, confirm it is you first (below): signing in with a recovery code counts.',
    );

    // Posts made anyway, with the page's form token.
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!;
    const post = (path: string, fields: Record<string, string>) =>
      agent.navigate(accountUrl(path), {
        method: 'POST',
        body: new URLSearchParams({ _csrf: csrf, ...fields }),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    const needed = 'Confirm it is you first (your password, a code or a passkey), then try again.';
    expect(noticeOf(await post('/totp/replace/start', {}))).toBe(needed);
    expect((await factorOf('gus')).replacementSecret).toBeNull();

    // A replacement started elsewhere (another browser, just signed in) is not finished from here either.
    const other = await signInWith('gus', { code: await app.next() });
    const shown = await startReplacing(other.agent, other.page);
    const ref = formWithAction(shown, '/account/security/totp/replace').fields.replacement!;
    const newPhone = App.fromPage(shown);
    expect(noticeOf(await post('/totp/replace', { replacement: ref, code: await newPhone.next() }))).toBe(needed);
    const kept = await factorOf('gus');
    expect(kept.secret).toBe(original);
    expect(kept.replacementSecret).not.toBeNull();
    expect(App.fromPage(await other.agent.navigate(accountUrl())).secret).toBe(newPhone.secret);
  });

  it('refuses a replacement left too long, and one started again in another tab, changing nothing', {
    timeout: 120_000,
  }, async () => {
    const { app } = await staffWithApp('hana');
    const { agent, page } = await signInWith('hana', { code: await app.next() });
    const original = (await factorOf('hana')).secret;
    const closed =
      'This replacement is no longer open: it was finished or started again in another tab or browser, or is more than ten minutes old, so this form changed nothing. If your new phone is not set up yet, start again to get a new code to scan.';

    // Left for more than ten minutes.
    const tabA = await startReplacing(agent, page);
    const stale = App.fromPage(tabA);
    await gateway.models.TotpFactor.update(
      { replacementStartedAt: new Date(Date.now() - 11 * 60_000) },
      { where: { userId: (await userNamed('hana')).id } },
    );
    const late = await finishReplacing(agent, tabA, await stale.next());
    expect(noticeOf(late)).toBe(closed);
    expect(late.html).not.toContain('id="totp-secret"');
    expect((await factorOf('hana')).secret).toBe(original);

    // Started again in a second tab: the first tab's form, for the key it showed, is refused as such.
    const tabB = await startReplacing(agent, late);
    const fresh = App.fromPage(tabB);
    expect(fresh.secret).not.toBe(stale.secret);
    // Until the new key is proven, the app in use goes on signing her in.
    expect((await signInWith('hana', { code: await app.next() })).page.url).toBe(accountUrl());
    expect(noticeOf(await finishReplacing(agent, tabA, await fresh.next()))).toBe(closed);
    expect((await factorOf('hana')).secret).toBe(original);

    // The second tab finishes; the first, posted again, finds it finished.
    expect(noticeOf(await finishReplacing(agent, tabB, await fresh.next()))).toContain(
      'Replaced the authenticator app',
    );
    const replaced = (await factorOf('hana')).secret;
    expect(replaced).not.toBe(original);
    expect(noticeOf(await finishReplacing(agent, tabB, await fresh.next()))).toBe(closed);
    expect((await factorOf('hana')).secret).toBe(replaced);
    const reasons = await gateway.models.AuditEvent.findAll({
      where: { action: 'factor.replace', target: 'hana', outcome: 'failure' },
    });
    expect(reasons.map((e) => JSON.parse(e.details!).reason)).toEqual([
      'enrolment_closed',
      'enrolment_closed',
      'enrolment_closed',
    ]);
  });

  it('works for a person of a campus directory as for a local one', { timeout: 60_000 }, async () => {
    const { app } = await staffWithApp('ines');
    const { agent, page } = await signInWith('ines', { code: await app.next() });
    await linkToTestDirectory(gateway.models, [await userNamed('ines')]);
    const original = (await factorOf('ines')).secret;
    const shown = await startReplacing(agent, await agent.navigate(accountUrl()));
    expect(page.url).toBe(accountUrl());
    const done = await finishReplacing(agent, shown, await App.fromPage(shown).next());
    expect(noticeOf(done)).toContain('Replaced the authenticator app');
    expect((await factorOf('ines')).secret).not.toBe(original);
  });

  it('sweeps the key of a replacement left unconfirmed, and keeps the app it was to replace', async () => {
    await staffWithApp('jo');
    const jo = await userNamed('jo');
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
    await beginTotpReplacement(gateway.context(null), deps, jo, interactionBinding({ uid: 'jo' }));
    const started = await factorOf('jo');
    expect(started.replacementSecret).not.toBeNull();
    await sweepTotpEnrolments(gateway.models, new Date(Date.now() + 11 * 60_000));
    const swept = await factorOf('jo');
    expect([swept.replacementSecret, swept.replacementBinding, swept.replacementStartedAt]).toEqual([null, null, null]);
    expect(swept.secret).toBe(started.secret);
    expect(swept.confirmedAt).not.toBeNull();
  });
});
