import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Op, QueryTypes } from 'sequelize';
import {
  BrowserAgent,
  filledFormWithAction,
  mainText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import {
  addPerson,
  ARTS_NODE,
  ENG_NODE,
  signInToConsole,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { login } from '../helpers/node.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { signOutEverywhere } from '../../gateway/accounts/end-access.ts';
import { resetPassword, updateUser } from '../../gateway/accounts/update-user.ts';
import { personPrefix } from '../../gateway/portal/session-ids.ts';
import { rowPrefixesOf } from '../../gateway/portal/token-vault.ts';

let gateway: TestGateway;
let admin: BrowserAgent;
let engAdmin: BrowserAgent;

const url = (path: string) => `${gateway.issuer}${path}`;

const seedUser = (username: string, units: string[]) => addPerson(gateway, username, { units });

const operatorContext = () => ({ ...gateway.context(null), actor: operator('test') });
/** The box beside "Sign out everywhere", ticked. */
const understood = { understood: 'yes' };

/** Someone's session on the portal, which also serves their account page: what a stolen cookie would give. */
async function portalAgent(username: string): Promise<BrowserAgent> {
  const agent = new BrowserAgent();
  await signInThrough(agent, url('/account/security'), username, DEMO_PASSWORD);
  const page = await agent.navigate(url('/account/security'));
  expect(page.html).toContain(`Signed in as <strong>${username}</strong>`);
  return agent;
}

const csrfOf = (page: Page) => /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';

/** The portal's rows of the person: their sessions and the tokens kept for them. */
const portalRowsWhere = (userId: string) => ({
  [Op.or]: rowPrefixesOf(personPrefix(userId)).map((prefix) => ({ sid: { [Op.like]: `${prefix}%` } })),
});
const portalRowsOf = (userId: string) => gateway.models.WebSession.count({ where: portalRowsWhere(userId) });

/** How the database would run `sql` (captured with its values inlined): whether it reads the whole table. */
async function scansWholeTable(sql: string): Promise<boolean> {
  const sequelize = gateway.sequelize;
  if (sequelize.getDialect() === 'sqlite') {
    const plan = await sequelize.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, { type: QueryTypes.SELECT });
    return plan.some((step) => /^SCAN\b/.test(step.detail));
  }
  const plan = await sequelize.query<{ type: string }>(`EXPLAIN ${sql}`, { type: QueryTypes.SELECT });
  return plan.some((step) => step.type === 'ALL' || step.type === 'index');
}

beforeAll(async () => {
  gateway = await startTestGateway('sign-out-all', { LOGIN_IP_LIMIT: '1000' });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
  engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
});
afterAll(async () => gateway?.stop());

describe('"sign out everywhere" in the admin console', () => {
  it('ends every session and refresh token of the person, and is audited', async () => {
    const kim = await seedUser('kim', ['campus/eng/cs']);
    const phone = await login(gateway, 'kim');
    const laptop = await login(gateway, 'kim');
    await phone.tokenFor(ENG_NODE);

    const edit = await admin.navigate(url(`/admin/users/${kim.id}`));
    const done = await submitFilled(admin, edit, filledFormWithAction(edit, '/sign-out'), understood);
    expect(done.status).toBe(200);
    // As after disabling, it says what ended, and that the password they had still works.
    expect(mainText(done)).toContain(
      'Signed kim out everywhere: the 2 browsers or devices they were signed in on were signed out at once, with their apps and chat. They can sign in again with their password. If someone else may know their password, also set a new password.',
    );

    await expect(phone.tokenFor(ENG_NODE)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(laptop.tokenFor(ENG_NODE)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [event] = await gateway.models.AuditEvent.findAll({
      where: { action: 'user.sign_out_everywhere', target: 'kim' },
    });
    expect(event?.actorName).toBe('admin');
    expect(JSON.parse(event!.details!)).toMatchObject({ endedSessions: 2 });
    expect(await gateway.models.EndedAccess.count({ where: { kind: 'sub', subject: kim.id } })).toBe(1);
    // The audit log says what ended in words, not as the code counts it.
    const log = await admin.navigate(url('/admin/audit?target=kim'));
    const entry = mainText(log).slice(mainText(log).indexOf('user.sign_out_everywhere'));
    expect(entry).toContain('browsers or devices signed out: 2');
    expect(entry).toMatch(/sessions, grants and tokens ended: \d+/);
    expect(entry).not.toMatch(/artefacts: \d/);
    // The account is untouched: kim signs in again.
    await expect(login(gateway, 'kim')).resolves.toBeTruthy();
  });

  it('asks first: without "I understand" ticked, it says so beside the box and ends nothing', async () => {
    const kit = await seedUser('kit', ['campus/eng/cs']);
    const session = await login(gateway, 'kit');
    const edit = await admin.navigate(url(`/admin/users/${kit.id}`));
    expect(edit.html).toContain('I understand: their sessions end on every device and app at once.');
    const unticked = await submitFilled(admin, edit, filledFormWithAction(edit, '/sign-out'));
    expect(unticked.status).toBe(400);
    expect(/id="sign-out-error">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to sign them out everywhere. Nobody was signed out.',
    );
    expect(unticked.html).toMatch(/id="sign-out-understood"[^>]* aria-invalid="true" autofocus>/);
    await expect(session.tokenFor(ENG_NODE)).resolves.toBeTruthy();
    expect(
      await gateway.models.AuditEvent.count({ where: { action: 'user.sign_out_everywhere', target: 'kit' } }),
    ).toBe(0);
  });

  it('refuses a post without the form token and ends nothing', async () => {
    const lea = await seedUser('lea', ['campus/eng/cs']);
    const session = await login(gateway, 'lea');
    const edit = await admin.navigate(url(`/admin/users/${lea.id}`));
    const form = filledFormWithAction(edit, '/sign-out');
    const forged = await submitFilled(
      admin,
      edit,
      { ...form, entries: form.entries.filter(([name]) => name !== '_csrf') },
      understood,
    );
    expect(forged.status).toBe(403);
    await expect(session.tokenFor(ENG_NODE)).resolves.toBeTruthy();
    expect(
      await gateway.models.AuditEvent.count({ where: { action: 'user.sign_out_everywhere', target: 'lea' } }),
    ).toBe(0);
  });

  it("ends the person's own console sessions too, but not the console session that did it", async () => {
    const nora = await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username: 'nora',
        displayName: 'Nora',
        email: 'nora@campus.test',
        password: DEMO_PASSWORD,
        units: ['campus'],
        roles: ['admin'],
      },
    );
    const noraConsole = (await signInToConsole(gateway.issuer, 'nora')).agent;
    expect((await noraConsole.navigate(url('/admin/users'))).url).toBe(url('/admin/users'));

    const edit = await admin.navigate(url(`/admin/users/${nora.id}`));
    await submitFilled(admin, edit, filledFormWithAction(edit, '/sign-out'), understood);
    // Nora's console sends her to sign in again (and her gateway session is gone, so the login form shows).
    const after = await noraConsole.navigate(url('/admin/users'));
    expect(after.url).not.toBe(url('/admin/users'));
    expect(after.html).toContain('/login"');

    // Nora, signed in again, resets her own password: her other sessions end, the one she used stays.
    const noraAgain = (await signInToConsole(gateway.issuer, 'nora')).agent;
    const elsewhere = await login(gateway, 'nora');
    const own = await noraAgain.navigate(url(`/admin/users/${nora.id}`));
    const reset = await submitFilled(noraAgain, own, filledFormWithAction(own, '/password'), {
      password: 'nora-amber-fjord',
    });
    expect(reset.html).toContain('Set a new password for nora');
    await expect(elsewhere.tokenFor(ENG_NODE)).rejects.toMatchObject({ error: 'invalid_grant' });
    const still = await noraAgain.navigate(url('/admin/users'));
    expect(still.url).toBe(url('/admin/users'));
    expect(still.status).toBe(200);
  });

  it('lets a unit admin sign out only people wholly in their unit', async () => {
    const bob = await gateway.models.User.findOne({ where: { username: 'bob' } });
    const carol = await gateway.models.User.findOne({ where: { username: 'carol' } });
    const bobSession = await login(gateway, 'bob');
    const carolSession = await login(gateway, 'carol');
    const mine = await seedUser('mo', ['campus/eng/ee']);
    const page = await engAdmin.navigate(url(`/admin/users/${mine.id}`));
    const form = filledFormWithAction(page, '/sign-out');

    const outside = await submitFilled(
      engAdmin,
      page,
      { ...form, action: `/admin/users/${bob!.id}/sign-out` },
      understood,
    );
    expect(outside.status).toBe(404);
    const partly = await submitFilled(
      engAdmin,
      page,
      { ...form, action: `/admin/users/${carol!.id}/sign-out` },
      understood,
    );
    expect(partly.status).toBe(403);
    await expect(bobSession.tokenFor(ARTS_NODE)).resolves.toBeTruthy();
    await expect(carolSession.tokenFor(ENG_NODE)).resolves.toBeTruthy();

    const own = await submitFilled(engAdmin, page, form, understood);
    expect(mainText(own)).toContain('Signed mo out everywhere: they were signed in nowhere.');
  });
});

describe('ending access ends the portal and account page sessions too', () => {
  it('"sign out everywhere" sends a portal session back to sign-in, and it can start nothing', async () => {
    const kim = await seedUser('kim-portal', ['campus/eng/cs']);
    const stolen = await portalAgent('kim-portal');
    expect(await portalRowsOf(kim.id)).toBe(2);
    await signOutEverywhere(operatorContext(), 'kim-portal');

    const page = await stolen.navigate(url('/account/security'));
    const options = await stolen.request(url('/account/security/passkeys/options'), {
      method: 'POST',
      body: JSON.stringify({ _csrf: csrfOf(page) }),
      headers: { 'content-type': 'application/json', accept: 'application/json' },
    });
    const profile = await stolen.request(url('/portal/api/me'), { headers: { 'x-atrium-portal': '1' } });
    expect({
      accountPage: page.html.includes('Signed in as <strong>kim-portal</strong>'),
      passkeyOptions: options.status,
      profile: profile.status,
    }).toEqual({ accountPage: false, passkeyOptions: 403, profile: 401 });
    expect(await portalRowsOf(kim.id)).toBe(0);
  });

  it("finds the person's portal sessions through the sessions' key, without reading everyone's", async () => {
    const ned = await seedUser('ned-portal', ['campus/eng/cs']);
    await portalAgent('ned-portal');
    const reads: string[] = [];
    gateway.sequelize.addHook('afterQuery', 'web-session-reads', (_options, query) => {
      const sql = String((query as unknown as { sql?: string }).sql ?? '');
      if (/^\s*SELECT\b[\s\S]*\bFROM\s+[`"]?web_sessions\b/i.test(sql)) reads.push(sql);
    });
    try {
      await signOutEverywhere(operatorContext(), 'ned-portal');
    } finally {
      gateway.sequelize.removeHook('afterQuery', 'web-session-reads');
    }
    expect(await portalRowsOf(ned.id)).toBe(0);
    expect(reads).toHaveLength(1);
    expect(await scansWholeTable(reads[0]!)).toBe(false);
  });

  it('a password set by an administrator ends the portal session', async () => {
    const lou = await seedUser('lou-portal', ['campus/eng/cs']);
    const stolen = await portalAgent('lou-portal');
    await resetPassword(operatorContext(), 'lou-portal', 'a completely new password');
    const page = await stolen.navigate(url('/account/security'));
    expect(page.html).not.toContain('Signed in as <strong>lou-portal</strong>');
    expect(await portalRowsOf(lou.id)).toBe(0);
  });

  it('a portal session ended by disabling the person stays ended when they are enabled again', async () => {
    const mia = await seedUser('mia-portal', ['campus/eng/cs']);
    const stolen = await portalAgent('mia-portal');
    // Kept aside, as if the row had escaped the clean-up: the session must still not come back.
    const rows = await gateway.models.WebSession.findAll({ where: portalRowsWhere(mia.id) });
    await updateUser(operatorContext(), mia.id, { status: 'disabled' });
    await gateway.models.WebSession.bulkCreate(rows.map((row) => row.get({ plain: true })));
    await updateUser(operatorContext(), mia.id, { status: 'active' });

    const page = await stolen.navigate(url('/account/security'));
    expect(page.html).not.toContain('Signed in as <strong>mia-portal</strong>');
    // Mia herself signs in again as usual.
    await expect(portalAgent('mia-portal')).resolves.toBeTruthy();
  });
});
