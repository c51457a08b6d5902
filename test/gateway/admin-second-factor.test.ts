import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOTP, Secret } from 'otpauth';
import {
  BrowserAgent,
  filledFormWithAction,
  formsOf,
  formWithAction,
  submitFilled,
  type Form,
  type Page,
} from '../helpers/browser-agent.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';

let gateway: TestGateway;
let admin: BrowserAgent;
let engAdmin: BrowserAgent;
const url = (path: string) => `${gateway.issuer}${path}`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;

async function enrol(username: string) {
  const user = await userNamed(username);
  const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
  const { secret } = await beginTotpEnrolment(gateway.context(null), deps, user, interactionBinding({ uid: 'test' }));
  await confirmTotpEnrolment(
    gateway.context(null),
    deps,
    user,
    TOTP.generate({ secret: Secret.fromBase32(secret) }),
    interactionBinding({ uid: 'test' }),
  );
}

const rowOf = (page: Page, username: string) =>
  new RegExp(`>${username}</a></td>[\\s\\S]*?</tr>`).exec(page.html)?.[0] ?? '';

beforeAll(async () => {
  gateway = await startTestGateway('admin-second-factor');
  // Every test here starts on the console; a sign-in that ends anywhere else fails here, showing the page.
  let page: Page;
  ({ agent: admin, page } = await signInToConsole(gateway.issuer, 'admin'));
  expect(page.url.startsWith(url('/admin/')), page.html.slice(0, 800)).toBe(true);
  ({ agent: engAdmin, page } = await signInToConsole(gateway.issuer, 'eng-admin'));
  expect(page.url.startsWith(url('/admin/')), page.html.slice(0, 800)).toBe(true);
});
afterAll(async () => gateway?.stop());

describe('the console’s second-factor pages', () => {
  it('lets an administrator require a second factor by role or unit, and drop it again', async () => {
    let page = await admin.navigate(url('/admin/second-factor'));
    expect(page.html).toContain('Nobody yet.');
    page = await admin.submit(page, requireForm(page), { kind: 'role', value: 'unit-admin', confirmed: 'yes' });
    expect(page.url).toBe(url('/admin/second-factor'));
    expect(page.html).toContain('everyone with role <span class="tag">unit-admin</span>');
    page = await admin.submit(page, requireForm(page), { kind: 'unit', value: 'campus/nowhere' });
    expect(page.status).toBe(400);
    expect(page.html).toContain('No unit campus/nowhere');
    expect(await gateway.models.FactorRequirement.count()).toBe(1);

    page = await admin.navigate(url('/admin/second-factor'));
    page = await admin.submit(page, formWithAction(page, '/admin/second-factor/remove'), { confirmed: 'yes' });
    expect(page.html).toContain('Nobody yet.');
    expect(await gateway.models.AuditEvent.count({ where: { action: 'mfa.require', actorName: 'admin' } })).toBe(1);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'mfa.unrequire', actorName: 'admin' } })).toBe(1);
  });

  it('chooses nobody in advance, and says whom a change reaches before making it', async () => {
    let page = await admin.navigate(url('/admin/second-factor'));
    // Nothing is preselected: the form as it comes changes nothing, and asks for a choice beside the list.
    for (const id of ['role', 'unit']) {
      const select = new RegExp(`<select id="${id}"[^>]*>([\\s\\S]*?)</select>`).exec(page.html)?.[1] ?? '';
      expect(select).toMatch(/^<option value="">Choose a/);
      expect(select).not.toContain('selected');
    }
    const asIs = await submitFilled(admin, page, filledFormWithAction(page, '/admin/second-factor'));
    expect(asIs.status).toBe(400);
    expect(/id="role-error">([^<]*)</.exec(asIs.html)?.[1]).toBe('choose a role');
    expect(asIs.html).toMatch(
      /<select id="role" name="value" required aria-invalid="true" aria-describedby="role-error" autofocus>/,
    );
    expect(await gateway.models.FactorRequirement.count()).toBe(0);

    // Every student (alice, dave, bob): none has a second factor yet.
    page = await admin.submit(page, requireForm(page), { kind: 'role', value: 'student' });
    expect(page.status).toBe(200);
    expect(reachOf(page)).toBe(
      'This covers 3 active people. 3 of them have no second factor yet: at their next sign-in, each must set one up (an authenticator app or a passkey) before going on, and cannot skip it.',
    );
    expect(await gateway.models.FactorRequirement.count()).toBe(0);
    page = await admin.submit(page, confirmForm(page, '/admin/second-factor'));
    expect(page.url).toBe(url('/admin/second-factor'));
    expect(await gateway.models.FactorRequirement.count({ where: { kind: 'role', value: 'student' } })).toBe(1);

    // campus/eng: alice and dave (students already), eng-admin and carol.
    page = await admin.submit(page, requireForm(page), { kind: 'unit', value: 'campus/eng' });
    expect(reachOf(page)).toBe(
      'This covers 4 active people, 2 of them covered already by another requirement. 2 of them have no second factor yet: at their next sign-in, each must set one up (an authenticator app or a passkey) before going on, and cannot skip it.',
    );
    page = await admin.submit(page, confirmForm(page, '/admin/second-factor'));

    // Dropping the students' requirement releases bob alone: campus/eng still covers alice and dave.
    page = await admin.submit(page, formWithAction(page, '/admin/second-factor/remove'), {
      kind: 'role',
      value: 'student',
    });
    expect(reachOf(page)).toBe(
      'This requirement covers 3 active people. 1 of them is covered by no other requirement: they may then remove their second factor, and those without one are no longer asked to set one up.',
    );
    expect(await gateway.models.FactorRequirement.count()).toBe(2);
    page = await admin.submit(page, confirmForm(page, '/admin/second-factor/remove'));
    page = await admin.submit(page, formWithAction(page, '/admin/second-factor/remove'), {
      kind: 'unit',
      value: 'campus/eng',
      confirmed: 'yes',
    });
    expect(page.html).toContain('Nobody yet.');
  });

  it('keeps the policy from a unit admin, who cannot change it', async () => {
    const page = await engAdmin.navigate(url('/admin/second-factor'));
    expect(page.status).toBe(403);
    const own = await admin.navigate(url('/admin/second-factor'));
    const form = requireForm(own);
    const posted = await engAdmin.request(url('/admin/second-factor'), {
      method: 'POST',
      body: new URLSearchParams({ ...form.fields, kind: 'role', value: 'student' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(posted.status).toBe(403);
    expect(await gateway.models.FactorRequirement.count()).toBe(0);
  });

  it('shows who has an authenticator, and resets one with an audit entry', async () => {
    await enrol('alice');
    const list = await admin.navigate(url('/admin/users?q=alice'));
    expect(rowOf(list, 'alice')).toContain('authenticator app');
    const others = await admin.navigate(url('/admin/users?q=dave'));
    expect(rowOf(others, 'dave')).toContain('none');

    const alice = await userNamed('alice');
    let page = await admin.navigate(url(`/admin/users/${alice.id}`));
    expect(page.html).toContain('An authenticator app is set up; 10 recovery codes left.');
    // The person's status and dates stay under their name, above the section (a section inside the
    // paragraph would end it early in a browser, leaving them below the second factor).
    const header = /<h1>[\s\S]*?<p class="muted">((?:(?!<\/p>)[\s\S])*)<\/p>/.exec(page.html)?.[1] ?? '';
    expect(header).toContain('Created ');
    expect(header).not.toContain('<section');
    // A second step: without the box ticked, nothing is removed and the refusal is beside it.
    const unticked = await submitFilled(admin, page, filledFormWithAction(page, '/reset-factors'));
    expect(unticked.status).toBe(400);
    expect(/id="reset-factors-error">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to reset the second factor. Nothing was removed.',
    );
    expect(unticked.html).toMatch(
      /<input type="checkbox" name="understood" value="yes" required aria-invalid="true" aria-describedby="reset-factors-error" autofocus>/,
    );
    expect(await gateway.models.TotpFactor.count({ where: { userId: alice.id } })).toBe(1);
    const stale = page;
    page = await admin.submit(page, formWithAction(page, '/reset-factors'), { understood: 'yes' });
    expect(page.html).toContain('Reset the second factor of alice');
    expect(page.html).toContain('None set up.');
    // The same page posted again (a second tab, Back): nothing was left, and nobody is signed out again.
    const again = await admin.submit(stale, formWithAction(stale, '/reset-factors'), { understood: 'yes' });
    expect(again.html).toContain('alice has no second factor set up: nothing was reset, and nobody was signed out.');
    expect(again.html).not.toContain('Reset the second factor of alice');
    expect(await gateway.models.AuditEvent.count({ where: { action: 'user.reset_factors', target: 'alice' } })).toBe(1);
    expect(await gateway.models.TotpFactor.count({ where: { userId: alice.id } })).toBe(0);
    expect(await gateway.models.RecoveryCode.count({ where: { userId: alice.id } })).toBe(0);
    const entry = await gateway.models.AuditEvent.findOne({ where: { action: 'user.reset_factors', target: 'alice' } });
    expect(entry?.actorName).toBe('admin');
  });

  it('lets a unit admin reset only people of their own units', async () => {
    await enrol('bob');
    const bob = await userNamed('bob');
    const own = await engAdmin.navigate(url('/admin/users'));
    const csrf = formsCsrf(own);
    const refused = await engAdmin.request(url(`/admin/users/${bob.id}/reset-factors`), {
      method: 'POST',
      body: new URLSearchParams({ _csrf: csrf }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(refused.status).toBe(404);
    expect(await gateway.models.TotpFactor.count({ where: { userId: bob.id } })).toBe(1);

    await enrol('dave');
    const dave = await userNamed('dave');
    let page = await engAdmin.navigate(url(`/admin/users/${dave.id}`));
    page = await engAdmin.submit(page, formWithAction(page, '/reset-factors'));
    expect(page.html).toContain('Reset the second factor of dave');
    expect(await gateway.models.TotpFactor.count({ where: { userId: dave.id } })).toBe(0);
  });
});

/** What the confirmation step says of whom the change reaches. */
const reachOf = (page: Page) =>
  /<p id="policy-reach">([^<]*)<\/p>/
    .exec(page.html)?.[1]
    ?.replace(/&#x27;/g, "'")
    .replace(/\s+/g, ' ');

/** The confirmation step's form: the change asked for, confirmed. */
function confirmForm(page: Page, action: string): Form {
  const form = formsOf(page.html).find((f) => f.action === action && f.fields.confirmed === 'yes');
  if (!form) throw new Error(`no confirmation on ${page.url}:\n${page.html.slice(0, 1500)}`);
  return form;
}

/** The CSRF token of any form on a page (one per browser, so any form's token serves). */
function formsCsrf(page: Page): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
}

/** The first "require" form (by role); the remove forms' actions start with the same path. */
function requireForm(page: Page): Form {
  const form = formsOf(page.html).find((f) => f.action === '/admin/second-factor');
  if (!form) throw new Error(`no require form on ${page.url}`);
  return form;
}
