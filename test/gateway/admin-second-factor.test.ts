import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOTP, Secret } from 'otpauth';
import {
  BrowserAgent,
  filledFormWithAction,
  formsOf,
  htmlText,
  formWithAction,
  signInThrough,
  submitFilled,
  type Form,
  type Page,
} from '../helpers/browser-agent.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { dropSecondFactorRequirement, secondFactorRequired } from '../../gateway/factors/policy.ts';
import { operator } from '../../gateway/context.ts';
import { createMigrator } from '../../core/migrator.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

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

  it('shows a unit admin the campus-wide requirements read-only, and refuses them the rest', async () => {
    // Campus-wide requirements, a campus administrator's: a role, and another college.
    let page = await admin.navigate(url('/admin/second-factor'));
    page = await admin.submit(page, requireForm(page), { kind: 'role', value: 'staff', confirmed: 'yes' });
    page = await admin.submit(page, requireForm(page), { kind: 'unit', value: 'campus/arts', confirmed: 'yes' });
    expect(removeForms(page)).toHaveLength(2);
    expect(page.html).not.toContain('Set by your campus administrators');

    // The unit admin sees them read-only, saying whose they are, and may pick only among their own units.
    page = await engAdmin.navigate(url('/admin/second-factor'));
    expect(page.status).toBe(200);
    expect(page.html).toContain('<a href="/admin/second-factor" aria-current="page">Second factor</a>');
    expect(page.html).toContain('everyone with role <span class="tag">staff</span>');
    expect(page.html).toContain('everyone in unit <span class="unit">campus/arts</span> and below');
    expect(page.html.match(/Set by your campus administrators/g)).toHaveLength(2);
    expect(removeForms(page)).toHaveLength(0);
    expect(page.html).toContain(
      'You may require a second factor of the people in the units you administer (<span class="unit">campus/eng</span>, and the units below them)',
    );
    expect(page.html).not.toContain('id="role"');
    expect(page.html).not.toContain('/admin/second-factor/passwordless');
    const picker = /<select id="unit"[^>]*>([\s\S]*?)<\/select>/.exec(page.html)?.[1] ?? '';
    expect([...picker.matchAll(/<option value="([^"]+)">/g)].map((m) => m[1])).toEqual([
      'campus/eng',
      'campus/eng/cs',
      'campus/eng/ee',
    ]);

    // Refused on the server too: a role, another college's unit, a parent unit of theirs; nothing changes.
    const refusals: [Record<string, string>, string][] = [
      [{ kind: 'role', value: 'student' }, 'Only campus administrators may change the second-factor policy of a role'],
      [
        { kind: 'unit', value: 'campus/arts/history' },
        'Unit campus/arts/history is not one of the units you administer',
      ],
      [{ kind: 'unit', value: 'campus' }, 'Unit campus is not one of the units you administer (campus/eng and below)'],
    ];
    for (const [requirement, words] of refusals) {
      for (const action of ['/admin/second-factor', '/admin/second-factor/remove']) {
        for (const confirmed of ['', 'yes']) {
          const refused = await engAdmin.submit(page, { ...requireForm(page), action }, { ...requirement, confirmed });
          expect(refused.status, `${action} ${requirement.value} ${confirmed}`).toBe(403);
          expect(htmlText(/id="policy-notice"[^>]*>([^<]*)</.exec(refused.html)?.[1] ?? '')).toContain(words);
        }
      }
    }
    // Dropping a campus administrator's requirement outside their units, as asked for or confirmed.
    const kept = await engAdmin.submit(
      page,
      { ...requireForm(page), action: '/admin/second-factor/remove' },
      { kind: 'unit', value: 'campus/arts', confirmed: 'yes' },
    );
    expect(kept.status).toBe(403);
    expect(kept.html).toContain('its second-factor policy is set by your campus administrators. Nothing was changed.');
    expect(await requirements()).toEqual(['role:staff', 'unit:campus/arts']);
    const passwordless = await engAdmin.submit(
      page,
      { ...requireForm(page), action: '/admin/second-factor/passwordless' },
      { passwordless: 'on', understood: 'yes' },
    );
    expect(passwordless.status).toBe(403);
    expect(await gateway.models.FactorSetting.findByPk('passwordless')).toBeNull();
  });

  it('lets a unit admin require a second factor of their own units, and drop it again', async () => {
    // Their own department: the same confirm step, then dave (ee, no factor yet) must set one up at sign-in.
    let page = await engAdmin.navigate(url('/admin/second-factor'));
    const dave = await userNamed('dave');
    expect(await secondFactorRequired(gateway.context(null), dave)).toBe(false);
    page = await engAdmin.submit(page, requireForm(page), { kind: 'unit', value: 'campus/eng/ee' });
    expect(reachOf(page)).toBe(
      'This covers 2 active people, 1 of them covered already by another requirement. 1 of them has no second factor yet: at their next sign-in, each must set one up (an authenticator app or a passkey) before going on, and cannot skip it.',
    );
    page = await engAdmin.submit(page, confirmForm(page, '/admin/second-factor'));
    expect(page.url).toBe(url('/admin/second-factor'));
    expect(page.html).toContain('A second factor is now required of unit campus/eng/ee.');
    expect(await requirements()).toEqual(['role:staff', 'unit:campus/arts', 'unit:campus/eng/ee']);
    expect(await secondFactorRequired(gateway.context(null), dave)).toBe(true);
    const signIn = await signInThrough(new BrowserAgent(), url('/account/security'), 'dave', DEMO_PASSWORD);
    expect(signIn.html).toContain('Your campus requires a second factor for your account.');
    expect(await secondFactorRequired(gateway.context(null), await userNamed('bob'))).toBe(true);

    // Theirs to drop again, with the same step; audited as theirs.
    expect(removeForms(page)).toHaveLength(1);
    page = await engAdmin.submit(page, removeForms(page)[0]!);
    expect(reachOf(page)).toMatch(/^This requirement covers 2 active people\. 1 of them is covered by no other/);
    page = await engAdmin.submit(page, confirmForm(page, '/admin/second-factor/remove'));
    expect(await requirements()).toEqual(['role:staff', 'unit:campus/arts']);
    const audited = await gateway.models.AuditEvent.findAll({
      where: { actorName: 'eng-admin' },
      order: [['id', 'ASC']],
    });
    expect(audited.filter((e) => e.action.startsWith('mfa.')).map((e) => `${e.action} ${e.target}`)).toEqual([
      'mfa.require unit:campus/eng/ee',
      'mfa.unrequire unit:campus/eng/ee',
    ]);

    await gateway.models.FactorRequirement.destroy({ where: {} });
  });

  it('keeps a campus administrator’s requirement on a unit admin’s units until a campus administrator drops it', async () => {
    // The campus requires campus/eng; eng's helpdesk requires two of its departments itself.
    let page = await admin.navigate(url('/admin/second-factor'));
    page = await admin.submit(page, requireForm(page), { kind: 'unit', value: 'campus/eng', confirmed: 'yes' });
    page = await engAdmin.navigate(url('/admin/second-factor'));
    for (const value of ['campus/eng/cs', 'campus/eng/ee'])
      page = await engAdmin.submit(page, requireForm(page), { kind: 'unit', value, confirmed: 'yes' });
    expect(await requirements()).toEqual(['unit:campus/eng', 'unit:campus/eng/cs', 'unit:campus/eng/ee']);

    // The campus one shows to them read-only, saying whose it is; only their own may be dropped.
    expect(policyRow(page, 'campus/eng')).toContain('Set by your campus administrators');
    expect(policyRow(page, 'campus/eng')).not.toContain('/admin/second-factor/remove');
    expect(removeForms(page).map((f) => f.fields.value)).toEqual(['campus/eng/cs', 'campus/eng/ee']);
    // Refused on the server too, asked for or confirmed: it stays, still the campus administrators'.
    for (const confirmed of ['', 'yes']) {
      const refused = await engAdmin.submit(
        page,
        { ...requireForm(page), action: '/admin/second-factor/remove' },
        { kind: 'unit', value: 'campus/eng', confirmed },
      );
      expect(refused.status, `confirmed: ${confirmed}`).toBe(403);
      expect(htmlText(/id="policy-notice"[^>]*>([^<]*)</.exec(refused.html)?.[1] ?? '')).toBe(
        'Your campus administrators require a second factor of unit campus/eng: only they may drop that requirement. Nothing was changed.',
      );
    }
    // Requiring it again themselves changes nothing: it does not become theirs to drop.
    page = await engAdmin.submit(page, requireForm(page), { kind: 'unit', value: 'campus/eng', confirmed: 'yes' });
    expect(await setByCampus()).toEqual({ 'campus/eng': true, 'campus/eng/cs': false, 'campus/eng/ee': false });
    expect(removeForms(page)).toHaveLength(2);

    // Their own is theirs to drop.
    page = await engAdmin.submit(page, formWithAction(page, '/admin/second-factor/remove'), {
      kind: 'unit',
      value: 'campus/eng/ee',
      confirmed: 'yes',
    });
    expect(page.html).toContain('A second factor is no longer required of unit campus/eng/ee.');
    expect(await requirements()).toEqual(['unit:campus/eng', 'unit:campus/eng/cs']);

    // A campus administrator sees which is a unit admin's, and may drop it; requiring one makes it theirs.
    page = await admin.navigate(url('/admin/second-factor'));
    expect(policyRow(page, 'campus/eng/cs')).toContain('(set by a unit admin)');
    expect(policyRow(page, 'campus/eng')).not.toContain('set by a unit admin');
    page = await admin.submit(page, formWithAction(page, '/admin/second-factor/remove'), {
      kind: 'unit',
      value: 'campus/eng/cs',
      confirmed: 'yes',
    });
    expect(await requirements()).toEqual(['unit:campus/eng']);
    page = await engAdmin.navigate(url('/admin/second-factor'));
    page = await engAdmin.submit(page, requireForm(page), { kind: 'unit', value: 'campus/eng/ee', confirmed: 'yes' });
    page = await admin.navigate(url('/admin/second-factor'));
    page = await admin.submit(page, requireForm(page), { kind: 'unit', value: 'campus/eng/ee', confirmed: 'yes' });
    expect(await setByCampus()).toEqual({ 'campus/eng': true, 'campus/eng/ee': true });
    page = await engAdmin.navigate(url('/admin/second-factor'));
    expect(removeForms(page)).toHaveLength(0);

    // The operator (atrium mfa unrequire) drops any.
    const asOperator = { ...gateway.context(null), actor: operator('test') };
    for (const value of ['campus/eng', 'campus/eng/ee'])
      await dropSecondFactorRequirement(asOperator, { kind: 'unit', value });
    expect(await requirements()).toEqual([]);
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

describe('upgrading to requirements that say who set them', () => {
  it('counts a requirement from before as a campus administrator’s, which a unit admin may not drop', async () => {
    // Last in this file: it takes the database back a version. Before it, only campus administrators and
    // the operator set requirements.
    const migrator = createMigrator(gateway.sequelize, 'gateway');
    await migrator.down({ to: '0033-requirement-set-by.ts' });
    await gateway.sequelize.query(
      "INSERT INTO factor_requirements (kind, value, created_at) VALUES ('unit', 'campus/eng/cs', :at)",
      { replacements: { at: new Date() } },
    );
    await migrator.up();
    expect(await setByCampus()).toEqual({ 'campus/eng/cs': true });
    const page = await engAdmin.navigate(url('/admin/second-factor'));
    expect(policyRow(page, 'campus/eng/cs')).toContain('Set by your campus administrators');
    expect(removeForms(page)).toHaveLength(0);
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

/** The policy's requirements, as kind:value. */
const requirements = async () =>
  (
    await gateway.models.FactorRequirement.findAll({
      order: [
        ['kind', 'ASC'],
        ['value', 'ASC'],
      ],
    })
  ).map((r) => `${r.kind}:${r.value}`);

/** Who set each requirement on a unit: a campus administrator (true) or a unit admin (false). */
const setByCampus = async () =>
  Object.fromEntries(
    (await gateway.models.FactorRequirement.findAll({ where: { kind: 'unit' }, order: [['value', 'ASC']] })).map(
      (r) => [r.value, Boolean(r.setByCampus)],
    ),
  );

/** The policy table's row of a unit's requirement. */
const policyRow = (page: Page, unit: string) =>
  new RegExp(`<span class="unit">${unit}</span> and below[\\s\\S]*?</tr>`).exec(page.html)?.[0] ?? '';

/** The "No longer require…" forms of the requirements listed. */
const removeForms = (page: Page) =>
  formsOf(page.html).filter((f) => f.action === '/admin/second-factor/remove' && f.fields.confirmed === undefined);

/** The first "require" form (by role); the remove forms' actions start with the same path. */
function requireForm(page: Page): Form {
  const form = formsOf(page.html).find((f) => f.action === '/admin/second-factor');
  if (!form) throw new Error(`no require form on ${page.url}`);
  return form;
}
