import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '@node-rs/argon2';
import {
  BrowserAgent,
  filledFormWithAction,
  filledFormsOf,
  formWithAction,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import {
  addPerson,
  enrolAuthenticator,
  ENG_NODE,
  registerTestApp,
  signInToConsole,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { unitPathsOf } from '../../gateway/accounts/memberships.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { CONSOLE_CLIENT_ID, consoleClientSecret, ensureConsoleClient } from '../../gateway/admin/console-client.ts';
import { DatabaseSessionStore } from '../../gateway/admin/session-store.ts';

let gateway: TestGateway;
let admin: BrowserAgent;
let engAdmin: BrowserAgent;

const url = (path: string) => `${gateway.issuer}${path}`;
const decodeAttr = (value: string) => value.replace(/&amp;/g, '&').replace(/&#x3D;/g, '=');
/** The href of the page's "next" or "prev" link, as a browser would follow it. */
const pagerLink = (page: Page, rel: 'next' | 'prev') => {
  const href = new RegExp(`<a href="([^"]+)" rel="${rel}">`).exec(page.html)?.[1];
  return href === undefined ? undefined : decodeAttr(href);
};
const open = (agent: BrowserAgent, path: string) => agent.navigate(url(path));
const formsOf = (page: Page) => filledFormsOf(page.html);
const enrolAuthenticatorFor = (username: string) => enrolAuthenticator(gateway, username);

/** What a person reads on the page's main part: tags stripped, entities decoded, spaces collapsed. */
function mainText(page: Page): string {
  const main = /<main[^>]*>([\s\S]*)<\/main>/.exec(page.html)?.[1] ?? page.html;
  return main
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Usernames in the users table, in page order. */
const listedUsernames = (page: Page) =>
  [...page.html.matchAll(/<td><a href="\/admin\/users\/[^"]+">([^<]+)<\/a><\/td>/g)].map((m) => m[1]!);

async function userNamed(username: string) {
  const user = await gateway.models.User.findOne({ where: { username } });
  if (!user) throw new Error(`no user ${username}`);
  return user;
}

/** A user made directly through the use-case, for tests that need someone to act on. */
const seedUser = (username: string, units: string[], roles: string[], password = DEMO_PASSWORD) =>
  addPerson(gateway, username, { units, roles, password });

const auditRows = (where: Record<string, unknown>) =>
  gateway.models.AuditEvent.findAll({ where, order: [['id', 'DESC']] });

beforeAll(async () => {
  // Every sign-in in this file comes from 127.0.0.1; the per-address login limit is not under test here.
  gateway = await startTestGateway('admin', { LOGIN_IP_LIMIT: '1000' });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
  engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
});
afterAll(async () => gateway?.stop());

describe('signing in to the admin console', () => {
  it('sends a visitor without a console session to /admin/login', async () => {
    for (const path of ['/admin', '/admin/users', '/admin/domains', '/admin/no-such-page']) {
      const response = await new BrowserAgent().request(url(path));
      expect(response.status, path).toBe(303);
      expect(response.headers.get('location')).toBe('/admin/login');
    }
    const post = await new BrowserAgent().request(url('/admin/users'), {
      method: 'POST',
      body: new URLSearchParams({ username: 'x' }),
    });
    expect(post.status).toBe(303);
    expect(post.headers.get('location')).toBe('/admin/login');
  });

  it('signs an administrator in through the gateway login form and shows the users list', async () => {
    const { page } = await signInToConsole(gateway.issuer, 'admin');
    expect(page.url).toBe(url('/admin/users'));
    expect(page.status).toBe(200);
    expect(listedUsernames(page)).toEqual(
      expect.arrayContaining(['admin', 'alice', 'bob', 'carol', 'dave', 'eng-admin']),
    );
    expect(page.html).toContain('Signed in as <strong>admin</strong>');
    expect(page.headers.get('cache-control')).toBe('no-store');
    const again = await admin.request(url('/admin/login'));
    expect(again.headers.get('location')).toBe('/admin/users');
  });

  it('returns to the page that was asked for after signing in', async () => {
    const agent = new BrowserAgent();
    const login = await open(agent, '/admin/users?q=dave');
    expect(login.url).toContain('/interaction/');
    const page = await agent.submit(login, formWithAction(login, '/login'), {
      username: 'admin',
      password: DEMO_PASSWORD,
    });
    expect(page.url).toBe(url('/admin/users?q=dave'));
    expect(listedUsernames(page)).toEqual(['dave']);
  });

  it('keeps the page asked for through a cancelled sign-in, for the next one that succeeds', async () => {
    const agent = new BrowserAgent();
    const login = await open(agent, '/admin/users?q=dave');
    const cancelled = await agent.submit(login, formWithAction(login, '/abort'));
    expect(mainText(cancelled)).toContain('You cancelled signing in.');
    const again = await open(agent, '/admin/login');
    const page = await agent.submit(again, formWithAction(again, '/login'), {
      username: 'admin',
      password: DEMO_PASSWORD,
    });
    expect(page.url).toBe(url('/admin/users?q=dave'));
  });

  it('says that the sign-in was cancelled, in the person’s words, and offers to sign in again', async () => {
    const agent = new BrowserAgent();
    const login = await open(agent, '/admin/login');
    const cancelled = await agent.submit(login, formWithAction(login, '/abort'));
    expect(cancelled.status).toBe(200);
    expect(mainText(cancelled)).toContain('You cancelled signing in.');
    expect(mainText(cancelled)).not.toContain('declined');
    expect(cancelled.html).toContain('<a class="button" href="/admin/login">Try signing in again</a>');
  });

  it('refuses a student with a 403 page and audits the attempt', async () => {
    const { agent, page } = await signInToConsole(gateway.issuer, 'alice');
    expect(page.status).toBe(403);
    expect(mainText(page)).toContain(
      'only for administrators and unit administrators. Your account does not have either role.',
    );
    expect(page.html).not.toContain('/admin/users/');
    // Said at a clean address, which says it again on a reload; the callback's one-time code is not in it.
    expect(page.url).toBe(url('/admin/refused'));
    const reloaded = await agent.navigate(page.url);
    expect(reloaded.status).toBe(403);
    expect(mainText(reloaded)).toContain('Your account does not have either role.');
    const [attempt] = await auditRows({ action: 'console.sign_in', target: 'alice' });
    expect(attempt?.outcome).toBe('failure');
    expect(JSON.parse(attempt!.details!)).toMatchObject({ reason: 'not_an_administrator' });
    // The gateway session stays, but it never turns into a console session.
    const again = await open(agent, '/admin/users');
    expect(again.status).toBe(403);

    // "Sign out of Atrium" ends the gateway session, so another account can be used.
    const confirm = await agent.submit(again, formWithAction(again, '/admin/logout'));
    const done = await agent.submit(confirm, formWithAction(confirm, '/session/end/confirm'), { logout: 'yes' });
    // The gateway hands back the state of the console's own sign-out.
    expect(done.url.split('?')[0]).toBe(url('/admin/signed-out'));
    const fresh = await signInThrough(agent, url('/admin/login'), 'admin', DEMO_PASSWORD);
    expect(fresh.url).toBe(url('/admin/users'));
  });

  it('lets someone made an administrator after a refusal in, from the refusal page or the console', async () => {
    const promoted = await seedUser('soon-admin', ['campus/arts'], ['staff']);
    const { agent, page } = await signInToConsole(gateway.issuer, 'soon-admin');
    expect(page.url).toBe(url('/admin/refused'));
    await updateUser({ ...gateway.context(null), actor: operator('test') }, promoted.id, {
      roles: ['staff', 'admin'],
    });
    // "Try again" on the refusal (or a reload): no longer true, so a fresh sign-in, through the gateway
    // session still open.
    const tryAgain = /<a href="([^"]+)">try again<\/a>/.exec(page.html)?.[1];
    expect(tryAgain).toBe('/admin/refused');
    const reloaded = await agent.navigate(url(tryAgain!));
    expect(reloaded.url).toBe(url('/admin/users'));
    expect(reloaded.status).toBe(200);
    expect(reloaded.html).toContain('Signed in as <strong>soon-admin</strong>');

    // Reopening the console itself signs in afresh too.
    const other = await seedUser('soon-admin-2', ['campus/arts'], ['staff']);
    const second = await signInToConsole(gateway.issuer, 'soon-admin-2');
    expect(second.page.url).toBe(url('/admin/refused'));
    await updateUser({ ...gateway.context(null), actor: operator('test') }, other.id, { roles: ['staff', 'admin'] });
    const reopened = await open(second.agent, '/admin/users');
    expect(reopened.url).toBe(url('/admin/users'));
    expect(reopened.status).toBe(200);
  });

  it('says a sign-in page opened again in plain words, never the sign-in library’s', async () => {
    // Back to the callback of a refused sign-in: the refusal again.
    const agent = new BrowserAgent();
    const login = await open(agent, '/admin/login');
    const filled = await agent.submit(
      login,
      formWithAction(login, '/login'),
      { username: 'alice', password: DEMO_PASSWORD },
      url('/admin/callback'),
    );
    const callback = filled.url;
    expect(callback).toContain('/admin/callback?code=');
    expect((await agent.navigate(callback)).url).toBe(url('/admin/refused'));
    const again = await agent.navigate(callback);
    expect(again.url).toBe(url('/admin/refused'));
    expect(again.status).toBe(403);
    expect(mainText(again)).toContain('Your account does not have either role.');

    // The same address in a browser that started no sign-in: what to do, in the console's words.
    const elsewhere = await new BrowserAgent().navigate(callback);
    expect(elsewhere.status).toBe(401);
    expect(mainText(elsewhere)).toContain(
      'This sign-in was not started in this browser, so it cannot be finished here. Sign in again.',
    );
    expect(mainText(elsewhere)).not.toContain('authorization request state');
    expect(elsewhere.html).toContain('<a class="button" href="/admin/login">Try signing in again</a>');
  });

  it('ends an open console session when the admin role is removed', async () => {
    const temp = await seedUser('temp-unit-admin', ['campus/arts'], ['unit-admin', 'staff']);
    const { agent, page } = await signInToConsole(gateway.issuer, 'temp-unit-admin');
    expect(page.status).toBe(200);
    await updateUser({ ...gateway.context(null), actor: operator('test') }, temp.id, { roles: ['staff'] });
    const after = await open(agent, '/admin/users');
    expect(after.status).toBe(403);
    expect(after.url).not.toContain('/admin/users');
  });

  it('ends an open console session when the account is disabled', async () => {
    const temp = await seedUser('temp-admin', ['campus'], ['admin']);
    const { agent, page } = await signInToConsole(gateway.issuer, 'temp-admin');
    expect(page.status).toBe(200);
    await updateUser({ ...gateway.context(null), actor: operator('test') }, temp.id, { status: 'disabled' });
    const response = await agent.request(url('/admin/users'));
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/admin/login');
    // A fresh sign-in is where the disabled message shows (see "edits and disables a user").
  });

  it('signs out of the console and of the gateway', async () => {
    const { agent, page } = await signInToConsole(gateway.issuer, 'admin');
    const confirm = await agent.submit(page, formWithAction(page, '/admin/logout'));
    expect(confirm.url).toContain('/session/end');
    const done = await agent.submit(confirm, formWithAction(confirm, '/session/end/confirm'), { logout: 'yes' });
    // The gateway hands back the state of the console's own sign-out.
    expect(done.url.split('?')[0]).toBe(url('/admin/signed-out'));
    expect(mainText(done)).toContain('You are signed out');
    expect(agent.cookieHeader(new URL(gateway.issuer))).not.toContain('atrium.admin=');
    // Neither the console nor the gateway remembers the admin: the next visit meets the login form.
    const again = await open(agent, '/admin/users');
    expect(again.url).toContain('/interaction/');
    expect(again.html).toContain('name="password"');
  });
});

describe('managing users as an administrator', () => {
  it('searches by name, username or email and pages through the results', async () => {
    expect(listedUsernames(await open(admin, '/admin/users?q=Okafor'))).toEqual(['dave']);
    expect(listedUsernames(await open(admin, '/admin/users?q=bob%40campus'))).toEqual(['bob']);
    const nobody = await open(admin, '/admin/users?q=no-such-person');
    expect(mainText(nobody)).toContain('No users match');

    const first = await open(admin, '/admin/users?q=campus.test&pageSize=2');
    expect(listedUsernames(first)).toEqual(['admin', 'alice']);
    expect(mainText(first)).toMatch(/page 1 of \d+/);
    const next = pagerLink(first, 'next');
    expect(next).toBe('/admin/users?q=campus.test&pageSize=2&page=2');
    const second = await open(admin, next!);
    expect(listedUsernames(second)).toEqual(['bob', 'carol']);
    expect(second.html).toContain('rel="prev"');
  });

  it('shows the last page for a page past it, and the first for one that is no number, saying so', async () => {
    const past = await open(admin, '/admin/users?q=campus.test&pageSize=2&page=99');
    expect(past.status).toBe(200);
    const pages = Number(/page \d+ of (\d+)/.exec(mainText(past))?.[1]);
    expect(pages).toBeGreaterThan(1);
    expect(mainText(past)).toContain(`There is no page 99: the list ends at page ${pages}, shown here.`);
    expect(mainText(past)).toContain(`page ${pages} of ${pages}`);
    expect(listedUsernames(past).length).toBeGreaterThan(0);
    expect(pagerLink(past, 'next')).toBeUndefined();
    expect(pagerLink(past, 'prev')).toBe(`/admin/users?q=campus.test&pageSize=2&page=${pages - 1}`);

    const typed = await open(admin, '/admin/users?q=campus.test&page=abc&pageSize=2');
    expect(typed.status).toBe(200);
    expect(mainText(typed)).toContain('“abc” is not a page number: this is page 1.');
    expect(listedUsernames(typed)).toEqual(['admin', 'alice']);
  });

  it('searches for the first 100 characters of a longer search, saying so, rather than show an error', async () => {
    const long = await open(admin, `/admin/users?q=Okafor${'%20'.repeat(95)}zzz`);
    expect(long.status).toBe(200);
    expect(mainText(long)).toContain(
      'A search takes at most 100 characters: these are the people matching the first 100 of what was typed.',
    );
    expect(listedUsernames(long)).toEqual(['dave']);
    expect(long.html).toContain('value="Okafor"');
    // Two searches in one address (a hand-edited one) are no search, not an error either.
    const twice = await open(admin, '/admin/users?q=Okafor&q=bob');
    expect(twice.status).toBe(200);
  });

  it('matches "_", "%" and "!" in a search as themselves, not as wildcards', async () => {
    const ctx = { ...gateway.context(null), actor: operator('test') };
    const probe = (username: string, displayName: string) =>
      createUser(ctx, {
        username,
        displayName,
        email: `${username}@probe.test`,
        password: DEMO_PASSWORD,
        units: ['campus/eng'],
        roles: ['staff'],
      });
    await probe('sql_probe', 'Probe 100% sure');
    await probe('sqlxprobe', 'Probe 1000 sure');
    await probe('bang-probe', 'Probe bang!');
    expect(listedUsernames(await open(admin, '/admin/users?q=sql_probe'))).toEqual(['sql_probe']);
    expect(listedUsernames(await open(admin, '/admin/users?q=l_p'))).toEqual(['sql_probe']);
    expect(listedUsernames(await open(admin, '/admin/users?q=100%25'))).toEqual(['sql_probe']);
    expect(listedUsernames(await open(admin, '/admin/users?q=g!'))).toEqual(['bang-probe']);
    expect(listedUsernames(await open(admin, '/admin/users?q=sql'))).toEqual(['sql_probe', 'sqlxprobe']);
  });

  it('finds people whatever the case, in every script, and without their accents, on either database', async () => {
    const ctx = { ...gateway.context(null), actor: operator('test') };
    const person = (username: string, displayName: string) =>
      createUser(ctx, {
        username,
        displayName,
        email: `${username}@probe.test`,
        units: ['campus/eng'],
        roles: ['student'],
      });
    await person('uni-one', 'Person 1 Ünïcødé');
    await person('uni-two', 'Ὀδυσσεύς Straße');
    await person('uni-three', 'Sushi 🍣');
    const found = async (q: string) => listedUsernames(await open(admin, `/admin/users?q=${encodeURIComponent(q)}`));
    const asked = [
      ...['Ünïc', 'ünïc', 'ÜNÏC', 'unic', 'unicode', 'person 1 ü'].map((q) => [q, 'uni-one']),
      ...['ὈΔΥΣΣ', 'οδυσσευς', 'strasse', 'STRASSE'].map((q) => [q, 'uni-two']),
    ];
    for (const [q, username] of asked) expect(await found(q!), q).toEqual([username]);
    // Letters a collation weighs alike (MariaDB's for characters beyond the first 65,536) are not alike here.
    expect(await found('🍺')).toEqual([]);
    expect(await found('🍣')).toEqual(['uni-three']);
    expect(await found('DAVE@CAMPUS')).toEqual(['dave']);

    // Kept as people change: a new name is found by it, and the old one no longer.
    const edit = await open(admin, `/admin/users/${(await userNamed('uni-one')).id}`);
    await submitFilled(admin, edit, filledFormWithAction(edit, '/admin/users/'), { displayName: 'Ærøskøbing' });
    expect(await found('AEROSKO')).toEqual(['uni-one']);
    expect(await found('ünïc')).toEqual([]);
  });

  it('creates a user with an argon2id password, who can then sign in', async () => {
    const form = await open(admin, '/admin/users/new');
    const created = await submitFilled(admin, form, filledFormWithAction(form, '/admin/users'), {
      username: 'erin',
      displayName: 'Erin Park',
      email: 'erin@campus.test',
      password: 'erin-initial-pass',
      units: ['campus/eng/cs', 'campus/arts/history'],
      primaryUnit: 'campus/arts/history',
      roles: ['student'],
      // Erin chose it herself: hers to keep (temporary-password.test.ts has the temporary default).
      temporary: [],
    });
    expect(created.status).toBe(200);
    expect(mainText(created)).toContain('Created erin.');
    const erin = await userNamed('erin');
    expect(created.url).toBe(url(`/admin/users/${erin.id}`));
    expect(erin.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await verify(erin.passwordHash!, 'erin-initial-pass')).toBe(true);
    expect(erin.roles).toEqual(['student']);
    // The chosen primary unit comes first, whatever order the boxes are in on the page.
    expect(await unitPathsOf(gateway.context(null), erin)).toEqual(['campus/arts/history', 'campus/eng/cs']);

    // Erin gets through the gateway's login (a student, so the console itself then refuses her).
    const { page } = await signInToConsole(gateway.issuer, 'erin', 'erin-initial-pass');
    expect(page.status).toBe(403);
  });

  it('shows validation errors beside each field, keeps the input and creates nothing', async () => {
    const before = await gateway.models.User.count();
    const form = await open(admin, '/admin/users/new');
    // No role is ticked before the administrator ticks one: "student" left ticked made staff students too.
    expect(form.html).not.toMatch(/name="roles" value="[^"]*" checked/);
    const page = await submitFilled(admin, form, filledFormWithAction(form, '/admin/users'), {
      username: 'No Spaces Allowed',
      displayName: 'Kept Name',
      email: 'not-an-email',
      password: 'short',
      units: [],
      roles: [],
    });
    expect(page.status).toBe(400);
    for (const field of ['username', 'email', 'password', 'units', 'roles']) {
      expect(page.html).toContain(`id="${field}-error"`);
    }
    expect(page.html).toContain('aria-invalid="true" aria-describedby="email-error"');
    // The keyboard focus lands on the first bad field, and nowhere else.
    expect(page.html.match(/ autofocus/g)).toHaveLength(1);
    expect(page.html).toMatch(/<input id="username"[^>]* autofocus>/);
    expect(mainText(page)).toContain('not a valid email address');
    expect(mainText(page)).toContain('at least 10 characters');
    expect(page.html).toContain('value="Kept Name"');
    expect(page.html).toContain('value="not-an-email"');
    expect(page.html).not.toContain('value="short"');
    expect(await gateway.models.User.count()).toBe(before);
  });

  it('refuses a unit admin who administers no unit now, rather than admitting them until their next page', async () => {
    const user = await seedUser('nora-unit-admin', ['campus/eng'], ['unit-admin']);
    // A directory person may belong to units they do not administer (only their unit-admin groups' units).
    await gateway.models.Membership.update({ administers: false }, { where: { userId: user.id } });
    const { page } = await signInToConsole(gateway.issuer, 'nora-unit-admin');
    expect(page.status).toBe(403);
    expect(mainText(page)).toContain('only for administrators and unit administrators');
    const [attempt] = await auditRows({ action: 'console.sign_in', target: 'nora-unit-admin' });
    expect(attempt?.outcome).toBe('failure');
  });

  it('tells a unit admin who administers no unit yet just that, and audits it so', async () => {
    const user = await seedUser('otto-unit-admin', ['campus/eng'], ['unit-admin']);
    // As a directory unit admin is after the upgrade, until the next sync reads their unit-admin groups.
    await gateway.models.Membership.update({ administers: false }, { where: { userId: user.id } });
    const { page } = await signInToConsole(gateway.issuer, 'otto-unit-admin');
    expect(page.status).toBe(403);
    expect(mainText(page)).toContain('Your account is a unit administrator but administers no unit yet.');
    expect(mainText(page)).not.toContain('does not have either role');
    const [attempt] = await auditRows({ action: 'console.sign_in', target: 'otto-unit-admin' });
    expect(attempt?.outcome).toBe('failure');
    expect(JSON.parse(attempt!.details!)).toMatchObject({ reason: 'administers_no_unit' });
  });

  it('refuses a webhook sender address as a username, beside the field, and creates nothing', async () => {
    const form = await open(admin, '/admin/users/new');
    const page = await submitFilled(admin, form, filledFormWithAction(form, '/admin/users'), {
      username: 'hook-3f9a',
      displayName: 'Webhook Twin',
      email: 'hook-twin@campus.test',
      password: 'long-enough-pass',
      units: ['campus/eng'],
      roles: ['student'],
    });
    expect(page.status).toBe(400);
    expect(page.html).toContain('id="username-error"');
    expect(mainText(page)).toContain('"hook-" is reserved: it names webhook senders in conversations');
    expect(await gateway.models.User.count({ where: { username: 'hook-3f9a' } })).toBe(0);
  });

  it('refuses a name a control character would turn around, or one that shows nothing, beside the field, and creates nobody', async () => {
    const form = await open(admin, '/admin/users/new');
    const cases: [string, string, string][] = [
      ['rlo-name', 'Carol \u202Eevil', 'cannot contain control characters'],
      ['blank-name', '\u200B\u2060', 'needs a visible character'],
    ];
    for (const [username, displayName, why] of cases) {
      const page = await submitFilled(admin, form, filledFormWithAction(form, '/admin/users'), {
        username,
        displayName,
        email: `${username}@campus.test`,
        password: 'long-enough-pass',
        units: ['campus/eng'],
        roles: ['student'],
      });
      expect(page.status).toBe(400);
      expect(/id="displayName-error">([^<]*)</.exec(page.html)?.[1]).toContain(why);
      expect(await gateway.models.User.count({ where: { username } })).toBe(0);
    }
  });

  it('reports a taken username as a notice and creates nothing', async () => {
    const before = await gateway.models.User.count();
    const form = await open(admin, '/admin/users/new');
    const page = await submitFilled(admin, form, filledFormWithAction(form, '/admin/users'), {
      username: 'alice',
      displayName: 'Another Alice',
      email: 'another-alice@campus.test',
      password: 'long-enough-password',
      units: ['campus/eng/cs'],
      roles: ['student'],
    });
    expect(page.status).toBe(409);
    expect(mainText(page)).toContain('Username alice is taken');
    // The password typed is not sent back: the field says so, since its own error is not what failed.
    expect(page.html).toMatch(/aria-describedby="password-hint password-again"/);
    expect(mainText(page)).toContain('Type the initial password again: it is never kept when the form comes back.');
    // A refusal that names no field takes the focus itself, where a keyboard user goes on from.
    expect(page.html).toMatch(/<p class="notice error" role="alert" id="form-notice" tabindex="-1" autofocus>/);
    expect(await gateway.models.User.count()).toBe(before);
  });

  it('escapes whatever people typed', async () => {
    await seedUser('mallory', ['campus/arts'], ['student']);
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'mallory', {
      displayName: '<script>alert(1)</script>',
    });
    const page = await open(admin, '/admin/users?q=mallory');
    expect(page.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.html).not.toContain('<script>');
  });

  it('edits and disables a user, asking first, and says what disabling ended; they cannot sign in', async () => {
    const frank = await seedUser('frank', ['campus/eng/ee'], ['student']);
    // Frank is signed in on one browser (his account page): one open session.
    await signInThrough(new BrowserAgent(), url('/account/security'), 'frank', DEMO_PASSWORD);
    const edit = await open(admin, `/admin/users/${frank.id}`);
    expect(edit.html).toContain('value="frank@campus.test"');
    expect(mainText(edit)).toContain('Disabling frank ends their sessions on every device and app at once');
    const changes = {
      displayName: 'Frank Ocean',
      units: ['campus/eng/ee', 'campus/arts/music'],
      roles: ['student', 'staff'],
      status: 'disabled',
    };
    const form = filledFormWithAction(edit, `/admin/users/${frank.id}`);
    const unticked = await submitFilled(admin, edit, form, changes);
    expect(unticked.status).toBe(400);
    expect(/id="understood-error">([^<]*)</.exec(unticked.html)?.[1]).toBe('Tick “I understand” to disable frank.');
    expect(unticked.html).toMatch(/name="understood" value="yes"[^>]* aria-invalid="true" autofocus>/);
    expect(unticked.html).toContain('value="Frank Ocean"');
    await frank.reload();
    expect({ status: frank.status, name: frank.displayName }).toEqual({ status: 'active', name: 'Test frank' });

    const saved = await submitFilled(admin, edit, form, { ...changes, understood: 'yes' });
    expect(saved.url).toBe(url(`/admin/users/${frank.id}`));
    expect(mainText(saved)).toContain(
      'Disabled frank: they can no longer sign in, and the 1 browser or device they were signed in on was signed out at once, with its apps and chat.',
    );
    expect(saved.html).toContain('value="Frank Ocean"');
    await frank.reload();
    expect(frank.displayName).toBe('Frank Ocean');
    expect(frank.status).toBe('disabled');
    expect(frank.roles).toEqual(['staff', 'student']);
    expect(await unitPathsOf(gateway.context(null), frank)).toEqual(['campus/eng/ee', 'campus/arts/music']);

    const { page } = await signInToConsole(gateway.issuer, 'frank');
    expect(page.url).toContain('/interaction/');
    expect(mainText(page)).toContain('This account is disabled');
  });

  it('puts each action in its own section, in order, each "I understand" box in the form of its own button', async () => {
    await seedUser('gwen', ['campus/eng/cs'], ['student']);
    await enrolAuthenticatorFor('gwen');
    const page = await open(admin, `/admin/users/${(await userNamed('gwen')).id}`);
    const headings = [...page.html.matchAll(/<h2 id="([a-z-]+)-heading">/g)].map((m) => m[1]);
    expect(headings).toEqual(['details', 'reset', 'factor', 'devices', 'sign-out', 'status', 'delete', 'history']);
    const forms = [...page.html.matchAll(/<form [^>]*>[\s\S]*?<\/form>/g)].map((m) => m[0]);
    const boxed = forms.filter((form) => form.includes('name="understood"'));
    expect(boxed.map((form) => /<button type="submit"[^>]*>([^<]*)</.exec(form)?.[1])).toEqual([
      'Reset second factor',
      'Sign out everywhere',
      'Disable gwen',
    ]);
    // The details form has no box and no status: saving it disables nobody.
    const details = forms.find((form) => form.includes('Save changes'))!;
    expect(details).not.toContain('name="understood"');
    expect(details).not.toContain('name="status"');
  });

  it('disables and enables from its own section, asking first, leaving the details as they are', async () => {
    const gil = await seedUser('gil', ['campus/eng/cs'], ['student']);
    await signInThrough(new BrowserAgent(), url('/account/security'), 'gil', DEMO_PASSWORD);
    const page = await open(admin, `/admin/users/${gil.id}`);
    const form = filledFormWithAction(page, `/admin/users/${gil.id}`);
    const status = formsOf(page).find((f) => f.entries.some(([n, v]) => n === 'part' && v === 'status'))!;
    expect(status).toBeDefined();
    const unticked = await submitFilled(admin, page, status);
    expect(unticked.status).toBe(400);
    expect(/id="understood-error">([^<]*)</.exec(unticked.html)?.[1]).toBe('Tick “I understand” to disable gil.');
    expect(unticked.html).toContain('value="Test gil"');
    await gil.reload();
    expect(gil.status).toBe('active');

    const disabled = await submitFilled(admin, page, status, { understood: 'yes' });
    expect(mainText(disabled)).toContain(
      'Disabled gil: they can no longer sign in, and the 1 browser or device they were signed in on was signed out at once, with its apps and chat.',
    );
    await gil.reload();
    expect({ status: gil.status, name: gil.displayName, roles: gil.roles }).toEqual({
      status: 'disabled',
      name: 'Test gil',
      roles: ['student'],
    });
    expect(/id="status-heading">([^<]*)</.exec(disabled.html)?.[1]).toBe('Enable account');
    const enable = formsOf(disabled).find((f) => f.entries.some(([n, v]) => n === 'part' && v === 'status'))!;
    const enabled = await submitFilled(admin, disabled, enable);
    expect(mainText(enabled)).toContain('Enabled gil: they can sign in again.');
    await gil.reload();
    expect(gil.status).toBe('active');
    // Saving the details alone leaves the status as it is.
    await submitFilled(admin, page, form, { displayName: 'Gil Again' });
    await gil.reload();
    expect({ status: gil.status, name: gil.displayName }).toEqual({ status: 'active', name: 'Gil Again' });
  });

  it('keeps the input and explains when an edit is invalid', async () => {
    const dave = await userNamed('dave');
    const edit = await open(admin, `/admin/users/${dave.id}`);
    const page = await submitFilled(admin, edit, filledFormWithAction(edit, `/admin/users/${dave.id}`), {
      displayName: '',
      email: 'dave@@x',
    });
    expect(page.status).toBe(400);
    expect(page.html).toContain('id="displayName-error"');
    expect(page.html).toMatch(/<input id="displayName"[^>]* autofocus>/);
    expect(page.html.match(/ autofocus/g)).toHaveLength(1);
    expect(page.html).toContain('value="dave@@x"');
    await dave.reload();
    expect(dave.email).toBe('dave@campus.test');
  });

  it('saves only what was changed on a page opened before another change: a stale form enables nobody', async () => {
    const ivan = await seedUser('ivan', ['campus/eng/cs'], ['student', 'staff']);
    const tabA = await open(admin, `/admin/users/${ivan.id}`);
    const tabB = await open(admin, `/admin/users/${ivan.id}`);
    const disabled = await submitFilled(admin, tabB, filledFormWithAction(tabB, `/admin/users/${ivan.id}`), {
      status: 'disabled',
      understood: 'yes',
    });
    expect(mainText(disabled)).toContain('Disabled ivan');
    // Then the operator takes a role away, as `atrium users update` would.
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'ivan', { roles: ['student'] });

    const saved = await submitFilled(admin, tabA, filledFormWithAction(tabA, `/admin/users/${ivan.id}`), {
      displayName: 'Ivan the Renamed',
    });
    expect(mainText(saved)).toContain('Saved ivan.');
    expect(mainText(saved)).not.toContain('Enabled');
    await ivan.reload();
    expect({ name: ivan.displayName, status: ivan.status, roles: ivan.roles }).toEqual({
      name: 'Ivan the Renamed',
      status: 'disabled',
      roles: ['student'],
    });
    const [event] = await auditRows({ action: 'user.update', target: 'ivan' });
    expect(JSON.parse(event!.details!).changes).toEqual({ displayName: 'Ivan the Renamed' });
  });

  it('refuses a change to what someone else changed since the page was opened, showing it as it is now', async () => {
    const jill = await seedUser('jill', ['campus/eng/cs'], ['student']);
    const stale = await open(admin, `/admin/users/${jill.id}`);
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'jill', {
      roles: ['student', 'staff'],
      status: 'disabled',
    });
    const events = (await auditRows({ target: 'jill' })).length;
    const refused = await submitFilled(admin, stale, filledFormWithAction(stale, `/admin/users/${jill.id}`), {
      displayName: 'Jill Again',
      roles: ['student', 'unit-admin'],
    });
    expect(refused.status).toBe(409);
    expect(mainText(refused)).toContain(
      'jill was changed since you opened this page (roles): nothing was saved. The form shows them as they are now',
    );
    expect(/id="roles-error">([^<]*)</.exec(refused.html)?.[1]).toContain('you had chosen: student, unit-admin');
    expect(refused.html).toContain('value="Test jill"');
    expect(refused.html).toMatch(/value="staff" checked/);
    expect(/id="status-heading">([^<]*)</.exec(refused.html)?.[1]).toBe('Enable account');
    await jill.reload();
    expect({ name: jill.displayName, roles: jill.roles }).toEqual({ name: 'Test jill', roles: ['staff', 'student'] });
    expect(await auditRows({ target: 'jill' })).toHaveLength(events);

    // The page shown with the refusal is the one to save from now.
    const again = await submitFilled(admin, refused, filledFormWithAction(refused, `/admin/users/${jill.id}`), {
      displayName: 'Jill Again',
    });
    expect(mainText(again)).toContain('Saved jill.');
    await jill.reload();
    expect({ name: jill.displayName, status: jill.status }).toEqual({ name: 'Jill Again', status: 'disabled' });
  });

  it('says "Nothing changed" for a form saved as it was, and records nothing', async () => {
    const dave = await userNamed('dave');
    const events = (await auditRows({ target: 'dave' })).length;
    const edit = await open(admin, `/admin/users/${dave.id}`);
    const saved = await submitFilled(admin, edit, filledFormWithAction(edit, `/admin/users/${dave.id}`));
    expect(mainText(saved)).toContain('Nothing changed for dave.');
    expect(mainText(saved)).not.toContain('Saved dave');
    expect(await auditRows({ target: 'dave' })).toHaveLength(events);
  });

  it('resets a password, which also lifts a lockout', async () => {
    const gina = await seedUser('gina', ['campus/eng/cs'], ['student']);
    await gina.update({ failedLogins: 3, lockedUntil: new Date(Date.now() + 3600_000) });
    const edit = await open(admin, `/admin/users/${gina.id}`);
    expect(mainText(edit)).toContain('Locked out');

    const tooShort = await submitFilled(admin, edit, filledFormWithAction(edit, '/password'), { password: 'short' });
    expect(tooShort.status).toBe(400);
    expect(tooShort.html).toContain('id="new-password-error"');

    const reset = await submitFilled(admin, edit, filledFormWithAction(edit, '/password'), {
      password: 'gina-harbour-lights',
    });
    expect(mainText(reset)).toContain('Set a new password for gina');
    expect(mainText(reset)).not.toContain('Locked out');
    await gina.reload();
    expect(gina.lockedUntil).toBeNull();
    expect(gina.failedLogins).toBe(0);
    expect(await verify(gina.passwordHash!, 'gina-harbour-lights')).toBe(true);
    expect((await auditRows({ action: 'user.reset_password', target: 'gina' })).length).toBe(1);
  });

  it('unlocks a locked-out user without touching the password', async () => {
    const hank = await seedUser('hank', ['campus/eng/cs'], ['student']);
    const hashBefore = hank.passwordHash;
    await hank.update({ lockedUntil: new Date(Date.now() + 3600_000) });
    const edit = await open(admin, `/admin/users/${hank.id}`);
    const page = await submitFilled(admin, edit, filledFormWithAction(edit, '/unlock'));
    expect(mainText(page)).toContain('Unlocked hank.');
    await hank.reload();
    expect(hank.lockedUntil).toBeNull();
    expect(hank.passwordHash).toBe(hashBefore);
    const [event] = await auditRows({ action: 'user.unlock', target: 'hank' });
    expect(event?.actorName).toBe('admin');
  });

  it('answers 404 for a user that does not exist', async () => {
    const page = await open(admin, '/admin/users/00000000-0000-0000-0000-000000000000');
    expect(page.status).toBe(404);
    expect(page.html).toContain('<a href="/admin/users">Back to users</a>');
  });

  it('leads back from an error to the section it happened in', async () => {
    const app = await open(admin, '/admin/apps/no-such-app');
    expect(app.status).toBe(404);
    expect(app.html).toContain('<a href="/admin/apps">Back to apps</a>');
    expect(app.html).not.toContain('Back to users');
    const domain = await open(admin, '/admin/domains/no-such.campus.test');
    expect(domain.status).toBe(404);
    expect(domain.html).toContain('<a href="/admin/domains">Back to domains</a>');
  });
});

describe('a unit admin', () => {
  it('sees only people with a unit in their college', async () => {
    const page = await open(engAdmin, '/admin/users');
    const names = listedUsernames(page);
    expect(names).toEqual(expect.arrayContaining(['alice', 'dave', 'eng-admin']));
    expect(names).not.toContain('bob');
    expect(names).not.toContain('admin');
    expect(page.html).toContain('(unit admin)');
  });

  it('cannot open the page of someone outside their college', async () => {
    const bob = await userNamed('bob');
    for (const path of [`/admin/users/${bob.id}`, '/admin/users/bob']) {
      const page = await open(engAdmin, path);
      expect(page.status).toBe(404);
      expect(page.html).not.toContain('bob@campus.test');
    }
  });

  it('lists someone also in another college without a link to a page they cannot open, saying why', async () => {
    const carol = await userNamed('carol');
    const page = await open(engAdmin, '/admin/users?q=carol');
    expect(page.html).not.toContain(`href="/admin/users/${carol.id}"`);
    const row = /<tr>\s*<td>carol<br>[\s\S]*?<\/tr>/.exec(page.html)?.[0] ?? '';
    expect(row).toContain('This user also belongs to units outside yours; ask a campus administrator');
    expect(row).toContain('campus/eng/ee');
    // Whom they may manage stays a link.
    expect(listedUsernames(await open(engAdmin, '/admin/users?q=dave'))).toEqual(['dave']);
  });

  it('lists a campus administrator of their college without a link, saying only a campus administrator manages them', async () => {
    const chief = await seedUser('eng-chief', ['campus/eng/cs'], ['staff', 'admin']);
    const page = await open(engAdmin, '/admin/users?q=eng-chief');
    expect(page.html).not.toContain(`href="/admin/users/${chief.id}"`);
    const row = /<tr>\s*<td>eng-chief<br>[\s\S]*?<\/tr>/.exec(page.html)?.[0] ?? '';
    expect(row).toContain('This user is a campus administrator; only a campus administrator manages them');
  });

  it('cannot open or change someone who also belongs to another college', async () => {
    const carol = await userNamed('carol');
    const page = await open(engAdmin, `/admin/users/${carol.id}`);
    expect(page.status).toBe(403);
    expect(page.html).not.toContain('carol@campus.test');

    // A hand-made post with a valid form token is refused just the same.
    const dave = await userNamed('dave');
    const daveForm = filledFormWithAction(await open(engAdmin, `/admin/users/${dave.id}`), `/admin/users/${dave.id}`);
    const post = await submitFilled(
      engAdmin,
      page,
      { ...daveForm, action: `/admin/users/${carol.id}` },
      { displayName: 'Changed By Eng' },
    );
    expect(post.status).toBe(403);
    await carol.reload();
    expect(carol.displayName).toBe('Carol Silva');
  });

  it('is offered only their own units and roles below admin', async () => {
    const form = await open(engAdmin, '/admin/users/new');
    expect(form.html).toContain('value="campus/eng/cs"');
    expect(form.html).not.toContain('value="campus/arts');
    expect(form.html).not.toContain('value="campus"');
    expect(form.html).toContain('name="roles" value="unit-admin"');
    expect(form.html).not.toContain('name="roles" value="admin"');
  });

  it('cannot create a user in another college', async () => {
    const before = await gateway.models.User.count();
    const form = await open(engAdmin, '/admin/users/new');
    const page = await submitFilled(engAdmin, form, filledFormWithAction(form, '/admin/users'), {
      username: 'ivan',
      displayName: 'Ivan Arts',
      email: 'ivan@campus.test',
      password: 'long-enough-password',
      units: ['campus/arts/history'],
      roles: ['student'],
    });
    expect(page.status).toBe(403);
    expect(mainText(page)).toContain('You may not manage unit campus/arts/history');
    expect(await gateway.models.User.count()).toBe(before);
  });

  it('creates and edits people in their own college', async () => {
    const form = await open(engAdmin, '/admin/users/new');
    const created = await submitFilled(engAdmin, form, filledFormWithAction(form, '/admin/users'), {
      username: 'judy',
      displayName: 'Judy Eng',
      email: 'judy@campus.test',
      password: 'long-enough-password',
      units: ['campus/eng/ee'],
      roles: ['student'],
    });
    expect(mainText(created)).toContain('Created judy.');
    const judy = await userNamed('judy');
    const saved = await submitFilled(engAdmin, created, filledFormWithAction(created, `/admin/users/${judy.id}`), {
      displayName: 'Judy Renamed',
    });
    expect(mainText(saved)).toContain('Saved judy.');
    await judy.reload();
    expect(judy.displayName).toBe('Judy Renamed');
  });

  it('cannot grant the admin role', async () => {
    const alice = await userNamed('alice');
    const edit = await open(engAdmin, `/admin/users/${alice.id}`);
    const page = await submitFilled(engAdmin, edit, filledFormWithAction(edit, `/admin/users/${alice.id}`), {
      roles: ['student', 'admin'],
    });
    expect(page.status).toBe(403);
    expect(mainText(page)).toContain('Only campus administrators may grant the admin role');
    await alice.reload();
    expect(alice.roles).toEqual(['student']);
  });

  it('sees and extends only their part of the unit tree', async () => {
    const page = await open(engAdmin, '/admin/units');
    expect(page.html).toContain('<code>campus/eng/cs</code>');
    expect(page.html).toContain('<li class="depth-0"><strong>College of Engineering</strong>');
    expect(page.html).not.toContain('campus/arts');
    expect(page.html).not.toContain('(none: a new top-level unit)');

    const form = filledFormWithAction(page, '/admin/units');
    const added = await submitFilled(engAdmin, page, form, {
      parent: 'campus/eng',
      segment: 'robotics',
      name: 'Robotics Lab',
    });
    expect(mainText(added)).toContain('Added Robotics Lab (campus/eng/robotics).');
    expect(added.html).toContain('<li class="depth-1"><strong>Robotics Lab</strong>');

    const outside = await submitFilled(engAdmin, page, form, { parent: 'campus/arts', segment: 'film', name: 'Film' });
    expect(outside.status).toBe(403);
    const topLevel = await submitFilled(engAdmin, page, form, { parent: '', segment: 'annex', name: 'Annex' });
    expect(topLevel.status).toBe(403);
    expect(await gateway.models.OrgUnit.count({ where: { path: ['campus/arts/film', 'annex'] } })).toBe(0);
  });

  // A unit admin's audit log lists only what happened to their people's accounts, in words
  // (audit-log.test.ts); the domains are the campus's.
  it('has no domains: not in the navigation, and 403 when asked directly', async () => {
    const users = await open(engAdmin, '/admin/users');
    expect(users.html).not.toContain('href="/admin/domains"');
    expect(users.html).toContain('href="/admin/audit"');
    for (const path of ['/admin/domains', '/admin/domains/new', '/admin/domains/eng.campus.test']) {
      const page = await open(engAdmin, path);
      expect(page.status, path).toBe(403);
      expect(page.html).not.toContain(ENG_NODE);
      // They administer their unit: the page is for campus administrators, and the way back is to theirs.
      expect(mainText(page)).toContain('Only campus administrators may open this page.');
      expect(page.html).toContain('<a href="/admin/users">Back to users</a>');
    }
    const form = filledFormWithAction(users, '/admin/logout');
    const post = await submitFilled(
      engAdmin,
      users,
      { ...form, action: '/admin/domains' },
      { name: 'rogue.campus.test', url: 'http://127.0.0.1:4299', units: 'campus/eng' },
    );
    expect(post.status).toBe(403);
    expect(await gateway.models.Domain.count({ where: { name: 'rogue.campus.test' } })).toBe(0);
  });
});

/** Every administrator but `keep` is disabled, as if they had left: the tests below start from one. */
async function leaveOnlyAdministrator(keep: string): Promise<void> {
  for (const user of await gateway.models.User.findAll({ where: { status: 'active' } })) {
    if (user.roles.includes('admin') && user.username !== keep) await user.update({ status: 'disabled' });
  }
}

describe('keeping the admin console in reach', () => {
  const rolesError = (page: Page) => /id="roles-error">([^<]*)</.exec(page.html)?.[1];

  it('refuses an administrator removing their own admin role or disabling themselves, beside the field', async () => {
    const two = await seedUser('adm-two', ['campus'], ['admin', 'staff']);
    const { agent } = await signInToConsole(gateway.issuer, 'adm-two');
    const own = await open(agent, `/admin/users/${two.id}`);
    const form = filledFormWithAction(own, `/admin/users/${two.id}`);
    const demoted = await submitFilled(agent, own, form, { roles: ['staff'], displayName: 'Renamed Two' });
    expect(demoted.status).toBe(403);
    expect(rolesError(demoted)).toBe(
      'You cannot remove your own admin role: you would lose the admin console at once. Another administrator can.',
    );
    expect(mainText(demoted)).toContain('Nothing was saved.');
    expect(demoted.html).toMatch(/name="roles" value="student"[^>]* autofocus>/);

    const disabled = await submitFilled(agent, own, form, { status: 'disabled', understood: 'yes' });
    expect(disabled.status).toBe(403);
    expect(/id="status-error">([^<]*)</.exec(disabled.html)?.[1]).toBe(
      'You cannot disable your own account: another administrator can.',
    );
    expect(disabled.html).toMatch(/<button type="submit" id="status-submit"[^>]* autofocus>Disable adm-two</);

    await two.reload();
    expect({ roles: two.roles, name: two.displayName, status: two.status }).toEqual({
      roles: ['admin', 'staff'],
      name: 'Test adm-two',
      status: 'active',
    });
    expect((await open(agent, '/admin/users')).status).toBe(200);
  });

  it('refuses a unit admin removing their own unit-admin role', async () => {
    const una = await seedUser('una-arts', ['campus/arts'], ['unit-admin', 'staff']);
    const { agent } = await signInToConsole(gateway.issuer, 'una-arts');
    const own = await open(agent, `/admin/users/${una.id}`);
    const page = await submitFilled(agent, own, filledFormWithAction(own, `/admin/users/${una.id}`), {
      roles: ['staff'],
    });
    expect(page.status).toBe(403);
    expect(rolesError(page)).toBe(
      'You cannot remove your own unit-admin role: you would lose the admin console at once. Another administrator can.',
    );
    await una.reload();
    expect(una.roles).toEqual(['staff', 'unit-admin']);
    expect((await open(agent, '/admin/users')).status).toBe(200);
  });

  it('keeps the last active administrator: the operator cannot disable them or take the role either', async () => {
    await leaveOnlyAdministrator('admin');
    const ops = { ...gateway.context(null), actor: operator('test') };
    await expect(updateUser(ops, 'admin', { status: 'disabled' })).rejects.toThrow(
      'admin is the last active administrator and cannot be disabled: without one, nobody can open the admin console. Add another administrator first: atrium users add USERNAME --role admin',
    );
    await expect(updateUser(ops, 'admin', { roles: ['staff'] })).rejects.toThrow(
      'admin is the last active administrator and keeps the admin role',
    );
    const stays = await userNamed('admin');
    expect({ status: stays.status, roles: stays.roles }).toEqual({ status: 'active', roles: ['admin', 'staff'] });

    // With another one, either may go.
    const three = await seedUser('adm-three', ['campus'], ['admin']);
    await updateUser(ops, three.id, { roles: ['staff'] });
    await three.reload();
    expect(three.roles).toEqual(['staff']);
  });
});

describe('units and domains as an administrator', () => {
  it('adds a unit anywhere and explains a bad path', async () => {
    const page = await open(admin, '/admin/units?parent=campus/arts');
    expect(page.html).toContain('<option value="campus/arts" selected>');
    const form = filledFormWithAction(page, '/admin/units');
    const bad = await submitFilled(admin, page, form, { segment: 'Film Studies', name: 'Film' });
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('id="segment-error"');
    expect(bad.html).toContain('value="Film Studies"');
    const added = await submitFilled(admin, page, form, { segment: 'film', name: 'Department of Film' });
    expect(mainText(added)).toContain('Added Department of Film (campus/arts/film).');
    expect(added.html).toContain('<li class="depth-2"><strong>Department of Film</strong>');
  });

  it('says which chat domain serves each unit, and which units none serves', async () => {
    await createUnit({ ...gateway.context(null), actor: operator('test') }, { path: 'annex', name: 'Annex' });
    const page = await open(admin, '/admin/units');
    const line = (path: string) =>
      new RegExp(`<code>${path}</code> <span class="muted">([^<]*)</span>`).exec(page.html)?.[1];
    // A domain serves the units it names and the units below them.
    expect(line('campus/eng')).toBe('chat on eng.campus.test');
    expect(line('campus/eng/cs')).toBe('chat on eng.campus.test');
    expect(line('campus/arts/music')).toBe('chat on arts.campus.test');
    expect(line('annex')).toBe('no chat: no domain serves it');
  });

  it('adds a domain node and edits its URL and units', async () => {
    const form = await open(admin, '/admin/domains/new');
    const invalid = await submitFilled(admin, form, filledFormWithAction(form, '/admin/domains'), {
      name: 'music',
      url: 'ftp://music.campus.test',
      units: [],
    });
    expect(invalid.status).toBe(400);
    // No unit ticked is a partner organization's domain only when the form says so (domain-changes.test.ts).
    for (const field of ['name', 'url', 'units']) expect(invalid.html).toContain(`id="${field}-error"`);

    const added = await submitFilled(admin, form, filledFormWithAction(form, '/admin/domains'), {
      name: 'music.campus.test',
      url: 'http://127.0.0.1:4203',
      units: ['campus/arts/music'],
      // carol's primary unit: her IM home moves from arts.campus.test (domain-changes.test.ts).
      movePeople: 'on',
    });
    expect(added.url).toBe(url('/admin/domains'));
    expect(mainText(added)).toContain('Added domain music.campus.test.');
    expect(mainText(added)).toContain('http://127.0.0.1:4203');

    const edit = await open(admin, '/admin/domains/music.campus.test');
    const saved = await submitFilled(admin, edit, filledFormWithAction(edit, '/admin/domains/music.campus.test'), {
      url: 'http://127.0.0.1:4204',
      units: ['campus/arts/music', 'campus/arts/history'],
      movePeople: 'on',
    });
    expect(mainText(saved)).toContain('Saved domain music.campus.test.');
    expect(saved.html).toContain('value="http://127.0.0.1:4204"');
    const domain = await gateway.models.Domain.findOne({ where: { name: 'music.campus.test' } });
    expect(domain?.url).toBe('http://127.0.0.1:4204');
    expect(await gateway.models.DomainUnit.count({ where: { domainId: domain!.id } })).toBe(2);
  });
});

describe('forms', () => {
  it('rejects a POST without the CSRF token and changes nothing', async () => {
    const dave = await userNamed('dave');
    const before = { name: dave.displayName, updatedAt: dave.updatedAt.getTime() };
    const edit = await open(admin, `/admin/users/${dave.id}`);
    const form = filledFormWithAction(edit, `/admin/users/${dave.id}`);
    const withoutToken = { ...form, entries: form.entries.filter(([name]) => name !== '_csrf') };
    const page = await submitFilled(admin, edit, withoutToken, { displayName: 'Forged Name' });
    expect(page.status).toBe(403);
    expect(mainText(page)).toContain('did not come from this site');
    await dave.reload();
    expect(dave.displayName).toBe(before.name);
    expect(dave.updatedAt.getTime()).toBe(before.updatedAt);

    const count = await gateway.models.User.count();
    const create = filledFormWithAction(await open(admin, '/admin/users/new'), '/admin/users');
    const forged = await submitFilled(admin, edit, create, {
      _csrf: 'forged',
      username: 'forged',
      displayName: 'Forged',
      email: 'forged@campus.test',
      password: 'long-enough-password',
      units: ['campus'],
      roles: ['admin'],
    });
    expect(forged.status).toBe(403);
    expect(await gateway.models.User.count()).toBe(count);
  });

  it('brings back every form typed into, saying "too long", when far too much was typed to read; nothing changes', async () => {
    // Thousands of characters pasted into a field, in a script of three bytes each: over the 32 kB a form takes.
    const far = '密'.repeat(5000);
    const gus = await seedUser('gus', ['campus/eng/cs'], ['student']);
    await registerTestApp(gateway, { name: 'Lab notes', redirectUris: ['https://notes.campus.example/cb'] });
    const snapshot = async () => ({
      gus: (await gateway.models.User.findByPk(gus.id))!.toJSON(),
      users: await gateway.models.User.count(),
      units: (await gateway.models.OrgUnit.findAll({ order: [['path', 'ASC']] })).map((u) => u.toJSON()),
      domains: (await gateway.models.Domain.findAll({ order: [['name', 'ASC']] })).map((d) => d.toJSON()),
      apps: (await gateway.models.App.findAll({ order: [['slug', 'ASC']] })).map((a) => a.toJSON()),
    });
    const before = await snapshot();
    const forms: [page: string, action: string, field: string][] = [
      ['/admin/users/new', '/admin/users', 'displayName'],
      [`/admin/users/${gus.id}`, `/admin/users/${gus.id}`, 'displayName'],
      [`/admin/users/${gus.id}`, '/password', 'password'],
      ['/admin/units', '/admin/units', 'name'],
      ['/admin/units?unit=campus/eng/cs', '/admin/units/rename', 'newName'],
      ['/admin/domains/new', '/admin/domains', 'url'],
      ['/admin/domains/eng.campus.test', '/admin/domains/eng.campus.test', 'url'],
      ['/admin/apps/new', '/admin/apps', 'description'],
      ['/admin/apps/lab-notes', '/admin/apps/lab-notes', 'description'],
      ['/admin/apps/lab-notes', '/delete', 'confirm'],
    ];
    for (const [path, action, field] of forms) {
      const page = await open(admin, path);
      const answer = await submitFilled(admin, page, filledFormWithAction(page, action), { [field]: far });
      expect({ path, action, status: answer.status, text: mainText(answer) }).toMatchObject({
        status: 413,
        text: expect.stringMatching(/too long|at most 200 characters/),
      });
      // The same form, here again to type into.
      expect(
        filledFormWithAction(answer, action).entries.some(([name]) => name === field),
        path,
      ).toBe(true);
      expect(answer.html).not.toContain('invalid_body');
    }
    // The password, beside its field, with the focus there, as the account page says it.
    const edit = await open(admin, `/admin/users/${gus.id}`);
    const refused = await submitFilled(admin, edit, filledFormWithAction(edit, '/password'), { password: far });
    expect(mainText(refused)).toContain('Nothing was changed.');
    expect(refused.html).toContain(
      '<p class="field-error" id="new-password-error">Use at most 200 characters for a password.</p>',
    );
    expect(refused.html).toMatch(/<input id="new-password"[^>]* aria-invalid="true" autofocus>/);
    // A rename names its unit in the form's address alone for this: the form is the unit's own again.
    const rename = await open(admin, '/admin/units?unit=campus/eng/cs');
    const renamed = await submitFilled(admin, rename, filledFormWithAction(rename, '/admin/units/rename'), {
      newName: far,
    });
    expect(renamed.html).toContain('<input type="hidden" name="unit" value="campus/eng/cs">');
    expect(renamed.html).toContain('<p class="field-error" id="newName-error">at most 200 characters</p>');
    expect(await snapshot()).toEqual(before);
  });
});

describe('the audit log', () => {
  it('shows every create and update made in the console, newest first, by action and by actor', async () => {
    const all = await open(admin, '/admin/audit');
    expect(all.status).toBe(200);
    const times = [...all.html.matchAll(/<td><time datetime="([^"]+)" data-local>[^<]+ UTC<\/time><\/td>/g)].map(
      (m) => m[1]!,
    );
    expect(times.length).toBeGreaterThan(5);
    expect([...times].sort().reverse()).toEqual(times);

    const creates = mainText(await open(admin, '/admin/audit?action=user.create&actor=admin'));
    expect(creates).toContain('erin');
    expect(creates).not.toContain('judy');
    const engCreates = mainText(await open(admin, '/admin/audit?action=user.create&actor=eng-admin'));
    expect(engCreates).toContain('judy');
    expect(engCreates).not.toContain('erin');

    const updates = mainText(await open(admin, '/admin/audit?action=user.update&actor=admin'));
    expect(updates).toContain('frank');
    expect(updates).toContain('Frank Ocean');
    const units = mainText(await open(admin, '/admin/audit?action=unit.create'));
    expect(units).toContain('campus/eng/robotics');
    expect(units).toContain('campus/arts/film');
    const domains = mainText(await open(admin, '/admin/audit?action=domain.update'));
    expect(domains).toContain('music.campus.test');
    const refusals = mainText(await open(admin, '/admin/audit?action=console.sign_in&actor=alice'));
    expect(refusals).toContain('failure');
  });

  it('shows the last page for a page past it, and the first for one that is no number or size, saying so', async () => {
    const past = await open(admin, '/admin/audit?pageSize=2&page=999');
    expect(past.status).toBe(200);
    const pages = Number(/page \d+ of (\d+)/.exec(mainText(past))?.[1]);
    expect(pages).toBeGreaterThan(1);
    expect(mainText(past)).toContain(`There is no page 999: the list ends at page ${pages}, shown here.`);
    expect(mainText(past)).toContain(`page ${pages} of ${pages}`);
    expect(pagerLink(past, 'prev')).toBe(`/admin/audit?pageSize=2&page=${pages - 1}`);
    expect(pagerLink(past, 'next')).toBeUndefined();

    const typed = await open(admin, '/admin/audit?page=abc&pageSize=1000');
    expect(typed.status).toBe(200);
    expect(mainText(typed)).toContain('“abc” is not a page number: this is page 1.');
    expect(mainText(typed)).toContain('“1000” is not a page size from 1 to 200: the usual size is used.');
    expect(mainText(typed)).toMatch(/page 1 of \d+/);

    const long = await open(admin, `/admin/audit?actor=${'a'.repeat(201)}`);
    expect(long.status).toBe(200);
    expect(mainText(long)).toContain('An actor has at most 200 characters, so “aaaaaaaaaaaaaaaaaaaa…” filters nothing');
  });

  it('pages through older events', async () => {
    const rows = (page: Page) => [...page.html.matchAll(/<tr>\s*<td>[\s\S]*?<\/tr>/g)].map((m) => m[0]);
    // An event recorded while the pages load (a back-channel logout's outcome, recorded when the app
    // answers, from a test before) moves every row down one: the pages are read again until none came.
    const six = async () => rows(await open(admin, '/admin/audit?pageSize=6'));
    for (let attempt = 1; ; attempt++) {
      const before = await six();
      const first = await open(admin, '/admin/audit?pageSize=3');
      const next = pagerLink(first, 'next');
      expect(next).toBe('/admin/audit?pageSize=3&page=2');
      const second = await open(admin, next!);
      expect(pagerLink(second, 'prev')).toBe('/admin/audit?pageSize=3&page=1');
      const paged = [...rows(first), ...rows(second)];
      if (attempt < 5 && JSON.stringify(await six()) !== JSON.stringify(before)) continue;
      expect(before).toHaveLength(6);
      expect(paged).toEqual(before);
      break;
    }
  });
});

describe('console plumbing', () => {
  it('registers its own OIDC client once, even when several processes start together', async () => {
    const ctx = gateway.context(null);
    await gateway.models.OidcPayload.destroy({ where: { model: 'Client', id: CONSOLE_CLIENT_ID } });
    const outcomes = await Promise.all(
      [1, 2, 3, 4].map(() => ensureConsoleClient(ctx, gateway.issuer, gateway.config.secretKey)),
    );
    expect(outcomes).toContain('created');
    const rows = await gateway.models.OidcPayload.findAll({ where: { model: 'Client', id: CONSOLE_CLIENT_ID } });
    expect(rows).toHaveLength(1);
    const metadata = JSON.parse(rows[0]!.payload) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      first_party: true,
      redirect_uris: [`${gateway.issuer}/admin/callback`],
      post_logout_redirect_uris: [`${gateway.issuer}/admin/signed-out`],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    // Its secret is sealed at rest, like every app's.
    expect(rows[0]!.payload).not.toContain(consoleClientSecret(gateway.config.secretKey));
    expect(metadata).not.toHaveProperty('client_secret');
    expect(await gateway.models.App.count({ where: { clientId: CONSOLE_CLIENT_ID } })).toBe(0);
    expect(await ensureConsoleClient(ctx, gateway.issuer, gateway.config.secretKey)).toBe('unchanged');
  });

  it('keeps console sessions in the database and never returns an expired one', async () => {
    const store = new DatabaseSessionStore(gateway.models.WebSession, { ttlSeconds: 60 });
    const call = <T>(fn: (cb: (err?: unknown, value?: T) => void) => void) =>
      new Promise<T | undefined>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
    const live = { cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) }, idToken: 'x' };
    const stale = { cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() - 1_000) } };
    await call((cb) => store.set('live-sid', live as never, cb));
    await call((cb) => store.set('stale-sid', stale as never, cb));
    expect(await call((cb) => store.get('live-sid', cb))).toMatchObject({ idToken: 'x' });
    expect(await call((cb) => store.get('stale-sid', cb))).toBeNull();
    expect(await gateway.models.WebSession.findByPk('stale-sid')).toBeNull();

    await call((cb) => store.set('stale-2', stale as never, cb));
    expect(await store.sweep()).toBeGreaterThanOrEqual(1);
    expect(await gateway.models.WebSession.findByPk('stale-2')).toBeNull();
    await call((cb) => store.destroy('live-sid', cb));
    expect(await call((cb) => store.get('live-sid', cb))).toBeNull();
  });

  it('pushes a session’s expiry on at most once a hundredth of its lifetime, not at every request', async () => {
    // A lifetime of 100 s: pushed on once the push is worth a second.
    const store = new DatabaseSessionStore(gateway.models.WebSession, { ttlSeconds: 100 });
    const done = (fn: (cb: () => void) => void) => new Promise<void>((resolve) => fn(resolve));
    const used = (at: number) => ({ cookie: { originalMaxAge: 100_000, expires: new Date(at + 100_000) } });
    const stored = async () => (await gateway.models.WebSession.findByPk('touched-sid'))!.expiresAt.getTime();
    const start = Date.now();
    await done((cb) => store.set('touched-sid', used(start) as never, cb));
    // Requests within the second write nothing.
    for (const later of [10, 500, 990])
      await done((cb) => store.touch('touched-sid', used(start + later) as never, cb));
    expect(await stored()).toBe(start + 100_000);
    // The first one past it does.
    await done((cb) => store.touch('touched-sid', used(start + 1_500) as never, cb));
    expect(await stored()).toBe(start + 101_500);
    await done((cb) => store.destroy('touched-sid', cb));
  });
});

// Last in the file: it may disable "admin", whose console the tests above use.
describe('two administrators disabled at once', () => {
  it('disables only one of the last two, whichever comes first', async () => {
    await leaveOnlyAdministrator('admin');
    await seedUser('race-admin', ['campus'], ['admin']);
    const ops = { ...gateway.context(null), actor: operator('test') };
    const outcomes = await Promise.allSettled([
      updateUser(ops, 'admin', { status: 'disabled' }),
      updateUser(ops, 'race-admin', { status: 'disabled' }),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!;
    expect(String(refused.reason)).toContain('is the last active administrator and cannot be disabled');
    const active = (await gateway.models.User.findAll({ where: { status: 'active' } })).filter((u) =>
      u.roles.includes('admin'),
    );
    expect(active).toHaveLength(1);
    await gateway.models.User.update({ status: 'active' }, { where: { username: 'admin' } });
  });
});
