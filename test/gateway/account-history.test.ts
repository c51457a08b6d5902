import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOTP, Secret } from 'otpauth';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  mainText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { audit } from '../../gateway/audit.ts';
import { operator, type Actor } from '../../gateway/context.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { regenerateRecoveryCodes } from '../../gateway/factors/regenerate-recovery-codes.ts';
import { dropSecondFactorRequirement, requireSecondFactor } from '../../gateway/factors/policy.ts';
import type { User } from '../../gateway/models/index.ts';

/**
 * A person's page in the console shows what happened to their account, in words, to whoever may manage
 * them: the helpdesk of their college answers "why can't I sign in?" from it.
 */
let gateway: TestGateway;
let admin: BrowserAgent;
let engAdmin: BrowserAgent;
let artsAdmin: BrowserAgent;
let hana: User;
let pia: User;

const url = (path: string) => `${gateway.issuer}${path}`;
const wrongPassword = 'not-the-password-at-all';

/** The rows of the "Recent account activity" table as a person reads them, newest first. */
function historyRows(page: Page): string[] {
  const table = /<table class="audit" id="account-history">([\s\S]*?)<\/table>/.exec(page.html)?.[1] ?? '';
  const body = /<tbody>([\s\S]*)<\/tbody>/.exec(table)?.[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => mainText({ ...page, html: m[1]! }));
}

/** The history section alone, as text. */
function historySection(page: Page): string {
  const section = /<section[^>]*aria-labelledby="history-heading">([\s\S]*?)<\/section>/.exec(page.html)?.[1];
  return section === undefined ? '' : mainText({ ...page, html: section });
}

const asPerson = (user: User): Actor => ({
  kind: 'user',
  id: user.id,
  name: user.username,
  roles: user.roles,
  unitPaths: [],
});

/** An authenticator app set up by the person, through the same use-cases the account page calls. */
async function enrolTotp(user: User): Promise<string[]> {
  const ctx = { ...gateway.context(null), actor: asPerson(user) };
  const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
  const binding = interactionBinding({ uid: 'history' });
  const { secret } = await beginTotpEnrolment(ctx, deps, user, binding);
  const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
  return confirmTotpEnrolment(ctx, deps, user, code, binding);
}

beforeAll(async () => {
  gateway = await startTestGateway('account-history', {
    LOGIN_IP_LIMIT: '1000',
    LOGIN_MAX_FAILURES: '3',
    LOGIN_LOCKOUT_MINUTES: '10',
  });
  hana = await addPerson(gateway, 'hana');
  pia = await addPerson(gateway, 'pia', { units: ['campus/eng/cs', 'campus/arts/history'] });
  await addPerson(gateway, 'omar');
  await addPerson(gateway, 'arts-helpdesk', { units: ['campus/arts'], roles: ['unit-admin', 'staff'] });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
  engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
  artsAdmin = (await signInToConsole(gateway.issuer, 'arts-helpdesk')).agent;

  // What happens to hana: a wrong password typed as her username and one as her email, a sign-in,
  // a reset by a campus administrator, an authenticator app she sets up, and her college's helpdesk
  // signing her out everywhere. Omar, beside her, fails to sign in too.
  await signInThrough(new BrowserAgent(), url('/account/security'), 'hana', wrongPassword);
  await signInThrough(new BrowserAgent(), url('/account/security'), 'hana@campus.test', wrongPassword);
  await signInThrough(new BrowserAgent(), url('/account/security'), 'omar', wrongPassword);
  await signInThrough(new BrowserAgent(), url('/account/security'), 'hana', DEMO_PASSWORD);
  const page = await admin.navigate(url(`/admin/users/${hana.id}`));
  await submitFilled(admin, page, filledFormWithAction(page, '/password'), { password: 'a new password 2026' });
  await enrolTotp(hana);
  const engPage = await engAdmin.navigate(url(`/admin/users/${hana.id}`));
  await submitFilled(engAdmin, engPage, filledFormWithAction(engPage, '/sign-out'), { understood: 'yes' });
});
afterAll(async () => gateway?.stop());

describe('a person’s recent account activity in the console', () => {
  it('tells a campus administrator what happened, in words, newest first, with who and from where', async () => {
    const page = await admin.navigate(url(`/admin/users/${hana.id}`));
    expect(page.status).toBe(200);
    const rows = historyRows(page);
    expect(rows[0]).toMatch(/Signed out everywhere eng-admin/);
    expect(rows[1]).toMatch(/Authenticator app set up themselves/);
    expect(rows[2]).toMatch(
      /Password reset \(their sessions ended\); temporary: they choose their own at their next sign-in admin (::ffff:)?127\.0\.0\.1/,
    );
    expect(rows[3]).toMatch(/^.*Password accepted —/);
    // Typed as her email or as her username, a refused sign-in is hers.
    expect(rows.slice(4, 6)).toEqual([
      expect.stringMatching(/refused Sign-in refused: wrong password —/),
      expect.stringMatching(/refused Sign-in refused: wrong password —/),
    ]);
    expect(rows[6]).toMatch(/Account created in campus\/eng\/cs the operator \(test\)/);
    expect(rows).toHaveLength(7);
    // Nothing raw: no action names, no recorded JSON; and nothing of omar's.
    const section = historySection(page);
    expect(section).not.toMatch(/user\.reset_password|endedArtefacts|\{|omar/);
    expect(section).toContain('Their full history in the audit log');
    expect(page.html).toContain('href="/admin/audit?target&#x3D;hana"');
  });

  it('tells the helpdesk of her college the same, naming only administrators they manage', async () => {
    const page = await engAdmin.navigate(url(`/admin/users/${hana.id}`));
    expect(page.status).toBe(200);
    const rows = historyRows(page);
    expect(rows[0]).toMatch(/Signed out everywhere eng-admin/);
    expect(rows[2]).toMatch(
      /Password reset \(their sessions ended\); temporary: they choose their own at their next sign-in an administrator/,
    );
    expect(rows[6]).toMatch(/Account created in campus\/eng\/cs the operator —/);
    expect(historySection(page)).not.toMatch(/(^|\s)admin\s/);
    // The audit log is a campus administrator's: no link to it.
    expect(historySection(page)).not.toContain('audit log');
  });

  it('names to a unit admin only the units they administer, the others as "units outside yours"', async () => {
    // A campus administrator takes pia out of History and renames her with markup in the name.
    const before = await admin.navigate(url(`/admin/users/${pia.id}`));
    const saved = await submitFilled(admin, before, filledFormWithAction(before, `/admin/users/${pia.id}`), {
      units: ['campus/eng/cs'],
      displayName: '<b>Pia</b> & co',
      moveChat: 'on',
    });
    expect(saved.status).toBe(200);
    const full = historyRows(await admin.navigate(url(`/admin/users/${pia.id}`)));
    expect(full[0]).toContain(
      'Name changed from “Test pia” to “<b>Pia</b> & co”; units changed: removed campus/arts/history admin',
    );
    expect(full[1]).toContain('Account created in campus/eng/cs, campus/arts/history');

    const page = await engAdmin.navigate(url(`/admin/users/${pia.id}`));
    expect(page.status).toBe(200);
    expect(page.html).toContain('“&lt;b&gt;Pia&lt;/b&gt; &amp; co”');
    const rows = historyRows(page);
    expect(rows[0]).toContain('units changed: removed units outside yours an administrator');
    expect(rows[1]).toContain('Account created in campus/eng/cs, units outside yours');
    expect(historySection(page)).not.toContain('arts');
  });

  it('refuses the page, history and all, to a unit admin of another college', async () => {
    const page = await artsAdmin.navigate(url(`/admin/users/${hana.id}`));
    expect(page.status).toBe(404);
    expect(page.html).not.toContain('Recent account activity');
    expect(page.html).not.toContain('wrong password');
    const paged = await artsAdmin.navigate(url(`/admin/users/${hana.id}?history=2`));
    expect(paged.status).toBe(404);
  });

  it('says a lockout and its end, and the refusals it caused', async () => {
    const lena = await addPerson(gateway, 'lena');
    for (let i = 0; i < 4; i++)
      await signInThrough(new BrowserAgent(), url('/account/security'), 'lena', wrongPassword);
    const rows = historyRows(await engAdmin.navigate(url(`/admin/users/${lena.id}`)));
    expect(rows[0]).toMatch(/refused Sign-in refused: locked out after too many wrong passwords/);
    // The third wrong password locked the account, and was refused.
    expect(rows[1]).toMatch(/refused Sign-in refused: wrong password/);
    expect(rows[2]).toMatch(/Locked after too many wrong passwords, until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(rows.slice(3, 5)).toEqual([
      expect.stringMatching(/refused Sign-in refused: wrong password/),
      expect.stringMatching(/refused Sign-in refused: wrong password/),
    ]);
  });

  it('shows 20 at a time, with the older ones a page further', async () => {
    const tess = await addPerson(gateway, 'tess');
    const ctx = { ...gateway.context(null), actor: operator('test') };
    for (let i = 0; i < 24; i++) await audit(ctx, { action: 'user.unlock', target: 'tess' });
    // Someone else's entries, and a name refused before tess existed, are not hers.
    await audit(ctx, { action: 'user.unlock', target: 'omar' });
    const first = await engAdmin.navigate(url(`/admin/users/${tess.id}`));
    expect(historyRows(first)).toHaveLength(20);
    expect(historySection(first)).toContain('25 entries · page 1 of 2');
    const older = /<a href="([^"]+)" rel="next">Older<\/a>/.exec(first.html)?.[1];
    expect(older?.replace(/&#x3D;/g, '=')).toBe(`/admin/users/${tess.id}?history=2#history-heading`);
    const second = await engAdmin.navigate(url(older!.replace(/&#x3D;/g, '=')));
    expect(historyRows(second)).toHaveLength(5);
    expect(historyRows(second).at(-1)).toMatch(/Account created in campus\/eng\/cs/);
    // A page past the last shows the last.
    expect(historyRows(await engAdmin.navigate(url(`/admin/users/${tess.id}?history=9`)))).toHaveLength(5);
  });

  it('says a sign-in with a recovery code, and new codes made', async () => {
    const rita = await addPerson(gateway, 'rita');
    const [code] = await enrolTotp(rita);
    // Her laptop's browser: the lines of her sign-in name it, for her and a helpdesk to tell it from another's.
    const agent = new BrowserAgent({
      userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
    });
    const asked = await signInThrough(agent, url('/account/security'), 'rita', DEMO_PASSWORD);
    const signedIn = await agent.submit(asked, formWithAction(asked, '/code'), { code: code! });
    expect(signedIn.status).toBe(200);
    await regenerateRecoveryCodes({ ...gateway.context(null), actor: asPerson(rita) }, rita);
    const rows = historyRows(await engAdmin.navigate(url(`/admin/users/${rita.id}`)));
    expect(rows[0]).toMatch(/New recovery codes made \(10\); any unused old ones stopped working themselves/);
    expect(rows[1]).toMatch(/Signed in with a recovery code — Firefox on Windows, (::ffff:)?127\.0\.0\.1/);
    expect(rows[2]).toMatch(/Password accepted — Firefox on Windows, /);
    expect(rows[3]).toMatch(/Authenticator app set up themselves/);
  });

  it('says only that the password was accepted when a required second factor was never set up', async () => {
    const sven = await addPerson(gateway, 'sven', { roles: ['staff'] });
    await requireSecondFactor(
      { ...gateway.context(null), actor: operator('test') },
      { kind: 'unit', value: 'campus/eng/cs' },
    );
    try {
      const step = await signInThrough(new BrowserAgent(), url('/account/security'), 'sven', DEMO_PASSWORD);
      expect(mainText(step)).toContain('Set up a second factor');
    } finally {
      await dropSecondFactorRequirement(
        { ...gateway.context(null), actor: operator('test') },
        { kind: 'unit', value: 'campus/eng/cs' },
      );
    }
    const rows = historyRows(await engAdmin.navigate(url(`/admin/users/${sven.id}`)));
    expect(rows[0]).toMatch(/^.*Password accepted —/);
    expect(rows.join('\n')).not.toContain('Signed in');
  });

  it('leaves out what was refused under a name before the account had it', async () => {
    await signInThrough(new BrowserAgent(), url('/account/security'), 'newcomer', wrongPassword);
    const newcomer = await addPerson(gateway, 'newcomer');
    const rows = historyRows(await admin.navigate(url(`/admin/users/${newcomer.id}`)));
    expect(rows).toEqual([expect.stringMatching(/^.*Account created in campus\/eng\/cs/)]);
  });
});
