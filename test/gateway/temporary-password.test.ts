import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  mainText,
  type Page,
  signInThrough,
  submitFilled,
} from '../helpers/browser-agent.ts';
import {
  addPerson,
  enrolAuthenticator,
  signInToConsole,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { runAtrium } from '../helpers/cli.ts';
import { accountHistory } from '../../gateway/accounts/account-history.ts';
import { operator } from '../../gateway/context.ts';
import { resetPassword } from '../../gateway/accounts/update-user.ts';
import { TEMPORARY_PASSWORD_DAYS } from '../../gateway/accounts/temporary-password.ts';

/**
 * A password an administrator sets (a helpdesk reading it over the phone) is temporary unless they say
 * otherwise: the person's next sign-in, after the password and any second factor and before anything
 * else, asks them to choose their own, through the same rules as any password. Walked as a browser
 * without JavaScript walks the gateway's forms.
 */
let gateway: TestGateway;
let admin: BrowserAgent;

const accountUrl = () => `${gateway.issuer}/account/security`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const helpdesk = () => ({ ...gateway.context(null), actor: operator('test') });
const CHOOSE = 'Choose your own password';

async function consoleReset(username: string, password: string, changes: Record<string, string | string[]> = {}) {
  const user = await userNamed(username);
  const edit = await admin.navigate(`${gateway.issuer}/admin/users/${user.id}`);
  const form = filledFormWithAction(edit, '/password');
  return { form, done: await submitFilled(admin, edit, form, { password, ...changes }) };
}

/** The step's form posted with `password` twice (or `confirmation`), answered by the page the redirect leads to. */
const choose = (agent: BrowserAgent, step: Page, password: string, confirmation = password) =>
  agent.submit(step, formWithAction(step, '/new-password'), { password, confirmation });

beforeAll(async () => {
  gateway = await startTestGateway('temporary-password', { LOGIN_IP_LIMIT: '1000' });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
}, 60_000);
afterAll(async () => gateway?.stop());

describe("a password set in the console's Set new password", () => {
  it('is temporary by default: the next sign-in asks for their own, refusing the temporary one and weak ones', async () => {
    await addPerson(gateway, 'tessa');
    const { form, done } = await consoleReset('tessa', 'helpdesk-phone-words-41');
    expect(form.entries).toContainEqual(['temporary', 'yes']);
    expect(mainText(done)).toContain('They choose their own password at their next sign-in.');

    const agent = new BrowserAgent();
    const asked = await signInThrough(agent, accountUrl(), 'tessa', 'helpdesk-phone-words-41');
    expect(asked.url).toContain('/interaction/');
    expect(mainText(asked)).toContain(CHOOSE);
    // Opening the account page meanwhile is no way past it: no session was made, so it asks to sign in.
    const detour = await agent.navigate(accountUrl());
    expect(formWithAction(detour, '/login').action).toContain('/interaction/');
    const step = await signInThrough(agent, accountUrl(), 'tessa', 'helpdesk-phone-words-41');
    expect(mainText(step)).toContain(CHOOSE);

    const same = await choose(agent, step, 'helpdesk-phone-words-41');
    expect(same.status).toBe(400);
    expect(mainText(same)).toContain('That is the temporary password you were given');
    const weak = await choose(agent, same, 'Password2026!');
    expect(weak.status).toBe(400);
    expect(mainText(weak)).toContain(CHOOSE);
    const differ = await choose(agent, weak, 'tessa-own-quiet-lantern', 'tessa-own-quiet-lanterm');
    expect(mainText(differ)).toContain('The two passwords differ');
    expect((await userNamed('tessa')).mustChangePassword).toBe(true);

    const finished = await choose(agent, differ, 'tessa-own-quiet-lantern');
    expect(finished.url).toBe(accountUrl());
    expect((await userNamed('tessa')).mustChangePassword).toBe(false);

    // Their own from now on: the next sign-in goes straight through; the temporary one is gone.
    const again = await signInThrough(new BrowserAgent(), accountUrl(), 'tessa', 'tessa-own-quiet-lantern');
    expect(again.url).toBe(accountUrl());
    const old = await signInThrough(new BrowserAgent(), accountUrl(), 'tessa', 'helpdesk-phone-words-41');
    expect(mainText(old)).not.toContain(CHOOSE);
    expect(old.url).not.toBe(accountUrl());

    const history = await accountHistory(helpdesk(), (await userNamed('tessa')).id, 1);
    const said = history.entries.map((e) => e.what);
    expect(said).toContain('Chose their own password at sign-in, replacing a temporary one');
    expect(said.some((w) => w.startsWith('Password reset') && w.includes('temporary'))).toBe(true);
  });

  it('is theirs to keep when the box is unticked, which a refused password keeps unticked', async () => {
    await addPerson(gateway, 'tobias');
    const { done: refused } = await consoleReset('tobias', 'password123', { temporary: [] });
    expect(refused.status).toBe(400);
    expect(filledFormWithAction(refused, '/password').entries).not.toContainEqual(['temporary', 'yes']);
    const { done } = await consoleReset('tobias', 'tobias-chose-this-one', { temporary: [] });
    expect(mainText(done)).not.toContain('They choose their own password');
    const signedIn = await signInThrough(new BrowserAgent(), accountUrl(), 'tobias', 'tobias-chose-this-one');
    expect(signedIn.url).toBe(accountUrl());
  });
});

describe('the step to choose their own password', () => {
  it('comes after the second factor, and the sign-in then finishes as it began', async () => {
    await addPerson(gateway, 'theo');
    const secret = await enrolAuthenticator(gateway, 'theo');
    await resetPassword(helpdesk(), 'theo', 'theo-temporary-harbour');
    const agent = new BrowserAgent();
    const codeStep = await signInThrough(agent, accountUrl(), 'theo', 'theo-temporary-harbour');
    expect(mainText(codeStep)).toContain('Enter your code');
    expect(mainText(codeStep)).not.toContain(CHOOSE);
    // The next time step's code (one step of skew is allowed): the current one was used to set it up.
    const code = TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + 30_000 });
    const step = await agent.submit(codeStep, formWithAction(codeStep, '/code'), { code, kind: 'app' });
    expect(mainText(step)).toContain(CHOOSE);
    // A reload shows the step again and posts nothing.
    expect(mainText(await agent.navigate(step.url))).toContain(CHOOSE);
    const finished = await choose(agent, step, 'theo-own-northern-lights');
    expect(finished.url).toBe(accountUrl());
  });
});

describe('atrium users reset-password', () => {
  it('sets a temporary password unless --no-temporary', async () => {
    await addPerson(gateway, 'tilda');
    await addPerson(gateway, 'toby');
    const temporary = await runAtrium(gateway.db, ['users', 'reset-password', 'tilda', '--password-stdin'], {
      stdin: 'tilda-phone-password-7\n',
    });
    const kept = await runAtrium(
      gateway.db,
      ['users', 'reset-password', 'toby', '--password-stdin', '--no-temporary'],
      {
        stdin: 'toby-chose-this-himself\n',
      },
    );
    expect(temporary.code).toBe(0);
    expect(temporary.stdout).toContain('It is temporary: they choose their own at their next sign-in.');
    expect(kept.code).toBe(0);
    expect((await userNamed('tilda')).mustChangePassword).toBe(true);
    expect((await userNamed('toby')).mustChangePassword).toBe(false);
    const step = await signInThrough(new BrowserAgent(), accountUrl(), 'tilda', 'tilda-phone-password-7');
    expect(mainText(step)).toContain(CHOOSE);
    const straight = await signInThrough(new BrowserAgent(), accountUrl(), 'toby', 'toby-chose-this-himself');
    expect(straight.url).toBe(accountUrl());
  });
});

describe('a temporary password past its days', () => {
  it('signs in no more, says so only to whoever typed it right, counts nothing, and a new one works', async () => {
    await addPerson(gateway, 'ulla');
    await consoleReset('ulla', 'ulla-phone-password-3');
    const set = await userNamed('ulla');
    // Set when the reset was made: TEMPORARY_PASSWORD_DAYS from then.
    const days = (set.temporaryPasswordUntil!.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(TEMPORARY_PASSWORD_DAYS - 0.01);
    expect(days).toBeLessThanOrEqual(TEMPORARY_PASSWORD_DAYS);
    const page = await admin.navigate(`${gateway.issuer}/admin/users/${set.id}`);
    expect(mainText(page)).toMatch(/Password: temporary — they choose their own at next sign-in\. It works until /);

    // The days go by while she signs in with a passkey alone (as if): the password the helpdesk read out
    // no longer opens her account.
    await set.update({ temporaryPasswordUntil: new Date(Date.now() - 60_000) });
    const wrong = await signInThrough(new BrowserAgent(), accountUrl(), 'ulla', 'not-her-password-at-all');
    expect(mainText(wrong)).not.toContain('expired');
    const refused = await signInThrough(new BrowserAgent(), accountUrl(), 'ulla', 'ulla-phone-password-3');
    expect(refused.url).not.toBe(accountUrl());
    expect(mainText(refused)).toContain(
      `This temporary password has expired: one an administrator sets works for ${TEMPORARY_PASSWORD_DAYS} days. Ask your helpdesk for a new one`,
    );
    expect(mainText(refused)).not.toContain(CHOOSE);
    // Only the wrong password counted; the right, expired one did not.
    expect((await userNamed('ulla')).failedLogins).toBe(1);
    const history = await accountHistory(helpdesk(), set.id, 1);
    expect(history.entries[0]?.what).toBe(
      'Sign-in refused: the temporary password had expired (the password was right)',
    );
    const expiredPage = await admin.navigate(`${gateway.issuer}/admin/users/${set.id}`);
    expect(mainText(expiredPage)).toMatch(/It expired on .+ and signs in no more: set them a new one\./);
    const shown = await runAtrium(gateway.db, ['users', 'show', 'ulla']);
    expect(shown.stdout).toMatch(
      /temporary — they choose their own at next sign-in; it expired \S+ and signs in no more/,
    );

    // The helpdesk sets a new one: it works, for its own days, and the sign-in asks for her own.
    await consoleReset('ulla', 'ulla-phone-password-4');
    const step = await signInThrough(new BrowserAgent(), accountUrl(), 'ulla', 'ulla-phone-password-4');
    expect(mainText(step)).toContain(CHOOSE);
  });
});

describe("a new account's password set by an administrator", () => {
  /** The console's new-user form, posted with "Set a password now" and `changes`. */
  async function consoleCreate(username: string, password: string, changes: Record<string, string | string[]> = {}) {
    const form = await admin.navigate(`${gateway.issuer}/admin/users/new`);
    const filled = filledFormWithAction(form, '/admin/users');
    const done = await submitFilled(admin, form, filled, {
      username,
      displayName: `New ${username}`,
      email: `${username}@campus.test`,
      passwordChoice: 'now',
      password,
      units: ['campus/eng/cs'],
      roles: ['student'],
      ...changes,
    });
    return { filled, done };
  }

  it('is temporary by default in the console, said on the person page, and the first sign-in asks for their own', async () => {
    const { filled, done } = await consoleCreate('nadia', 'helpdesk-new-account-58');
    expect(filled.entries).toContainEqual(['temporary', 'yes']);
    expect(mainText(done)).toContain(
      'Created nadia. Their password is temporary: they choose their own at their first sign-in.',
    );
    expect(mainText(done)).toContain('Password: temporary — they choose their own at next sign-in.');
    expect((await userNamed('nadia')).mustChangePassword).toBe(true);
    const agent = new BrowserAgent();
    const step = await signInThrough(agent, accountUrl(), 'nadia', 'helpdesk-new-account-58');
    expect(mainText(step)).toContain(CHOOSE);
    expect((await choose(agent, step, 'nadia-own-willow-bark')).url).toBe(accountUrl());
    const page = await admin.navigate(`${gateway.issuer}/admin/users/${(await userNamed('nadia')).id}`);
    expect(mainText(page)).not.toContain('Password: temporary');
  });

  it('is theirs to keep with the box unticked, which a refused form keeps unticked', async () => {
    const { done: refused } = await consoleCreate('nils', 'password123', { temporary: [] });
    expect(refused.status).toBe(400);
    expect(filledFormWithAction(refused, '/admin/users').entries).not.toContainEqual(['temporary', 'yes']);
    const { done } = await consoleCreate('nils', 'nils-chose-this-himself', { temporary: [] });
    expect(mainText(done)).toContain('Created nils.');
    expect(mainText(done)).not.toContain('temporary');
    const signedIn = await signInThrough(new BrowserAgent(), accountUrl(), 'nils', 'nils-chose-this-himself');
    expect(signedIn.url).toBe(accountUrl());
  });

  it('is temporary with atrium users add --password-stdin unless --no-temporary, and users show says so', async () => {
    const add = (username: string, extra: string[] = []) =>
      runAtrium(
        gateway.db,
        [
          'users',
          'add',
          username,
          '--name',
          `New ${username}`,
          '--email',
          `${username}@campus.test`,
          '--unit',
          'campus/eng/cs',
          '--role',
          'student',
          '--password-stdin',
          ...extra,
        ],
        { stdin: `${username}-phone-password-9\n` },
      );
    const temporary = await add('olga');
    expect(temporary.code).toBe(0);
    expect(temporary.stdout).toContain('password: temporary — they choose their own at next sign-in');
    const kept = await add('oscar', ['--no-temporary']);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain('password: set');
    expect((await userNamed('olga')).mustChangePassword).toBe(true);
    expect((await userNamed('oscar')).mustChangePassword).toBe(false);
    const shown = await runAtrium(gateway.db, ['users', 'show', 'olga']);
    expect(shown.stdout).toContain('password: temporary — they choose their own at next sign-in');
    const step = await signInThrough(new BrowserAgent(), accountUrl(), 'olga', 'olga-phone-password-9');
    expect(mainText(step)).toContain(CHOOSE);
    const straight = await signInThrough(new BrowserAgent(), accountUrl(), 'oscar', 'oscar-phone-password-9');
    expect(straight.url).toBe(accountUrl());

    const alone = await runAtrium(gateway.db, [
      'users',
      'add',
      'otto',
      '--name',
      'Otto',
      '--email',
      'otto@campus.test',
      '--unit',
      'campus/eng/cs',
      '--role',
      'student',
      '--no-temporary',
    ]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--no-temporary goes with --password-stdin');
    expect(await gateway.models.User.count({ where: { username: 'otto' } })).toBe(0);
  });
});
