import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { presentUsers } from '../../gateway/accounts/present-user.ts';
import { operator } from '../../gateway/context.ts';
import { setPasswordless } from '../../gateway/factors/passkeys/passwordless-policy.ts';
import { BrowserAgent, filledFormWithAction, submitFilled, type Page } from '../helpers/browser-agent.ts';
import {
  addPeople,
  linkToTestDirectory,
  signInToConsole,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { storedPasskey } from '../helpers/stored-passkey.ts';

let gateway: TestGateway;
let admin: BrowserAgent;

const asOperator = () => ({ ...gateway.context(null), actor: operator('test') });
const open = (path: string) => admin.navigate(`${gateway.issuer}${path}`);
const textOf = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
const mainText = (page: Page) => textOf(/<main[^>]*>([\s\S]*)<\/main>/.exec(page.html)?.[1] ?? page.html);

/** The users list's Status column, by username. */
async function listedStatuses(q: string): Promise<Record<string, string>> {
  const page = await open(`/admin/users?q=${encodeURIComponent(q)}`);
  expect(page.status).toBe(200);
  const rows = page.html.matchAll(
    /<td><a href="\/admin\/users\/[^"]+">([^<]+)<\/a><\/td>[\s\S]*?<td class="status">([\s\S]*?)<\/td>/g,
  );
  return Object.fromEntries([...rows].map((m) => [m[1]!, textOf(m[2]!)]));
}

async function userNamed(username: string) {
  const user = await gateway.models.User.findOne({ where: { username } });
  if (!user) throw new Error(`no user ${username}`);
  return user;
}

/** A person made as `atrium users add` without --password-stdin makes them. */
const addWithoutPassword = (username: string) =>
  createUser(asOperator(), {
    username,
    displayName: `Test ${username}`,
    email: `${username}@campus.test`,
    units: ['campus/eng/cs'],
    roles: ['student'],
  });

async function givePasskey(username: string): Promise<void> {
  await storedPasskey(gateway.models, (await userNamed(username)).id);
}

async function linkToDirectory(username: string): Promise<void> {
  await linkToTestDirectory(gateway.models, [await userNamed(username)]);
}

beforeAll(async () => {
  gateway = await startTestGateway('admin-no-password', { LOGIN_IP_LIMIT: '1000' });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => gateway?.stop());

describe('people who have no password yet, in the console', () => {
  it('are marked "no password yet" in the users list, unlike people with one or with a directory', async () => {
    // Imported from CSV rows without a password, as the import allows.
    await addPeople(gateway, ['nopw-ann', 'nopw-ben', 'nopw-dir']);
    await createUser(asOperator(), {
      username: 'nopw-cat',
      displayName: 'Cat',
      email: 'nopw-cat@campus.test',
      password: 'cat-initial-pass',
      units: ['campus/eng/cs'],
      roles: ['student'],
    });
    await linkToDirectory('nopw-dir');
    expect(await listedStatuses('nopw-')).toEqual({
      'nopw-ann': 'no password yet',
      'nopw-ben': 'no password yet',
      'nopw-cat': 'active',
      'nopw-dir': 'active',
    });
  });

  it('say on the person page that they cannot sign in and how to give them a password, until one is set', async () => {
    const dan = await addWithoutPassword('nopw-dan');
    const page = await open(`/admin/users/${dan.id}`);
    const text = mainText(page);
    expect(text).toContain('no password yet');
    expect(text).toContain('Set a password');
    expect(text).toContain('nopw-dan has no password yet and cannot sign in until one is set');
    expect(text).toContain('“Forgot your password?” on the sign-in page');

    const after = await submitFilled(admin, page, filledFormWithAction(page, '/password'), {
      password: 'dan-first-password',
    });
    expect(mainText(after)).toContain('Set a new password for nopw-dan');
    expect(mainText(after)).not.toContain('no password yet');
    expect(mainText(after)).toContain('Reset password');
    expect((await listedStatuses('nopw-dan'))['nopw-dan']).toBe('active');
  });

  it('count a passkey as a way in only while sign-in with a passkey alone is on', async () => {
    const eve = await addWithoutPassword('nopw-eve');
    await givePasskey('nopw-eve');
    expect((await listedStatuses('nopw-eve'))['nopw-eve']).toBe('no password yet');

    await setPasswordless(asOperator(), 'on');
    try {
      expect((await listedStatuses('nopw-eve'))['nopw-eve']).toBe('active');
      const page = await open(`/admin/users/${eve.id}`);
      expect(mainText(page)).toContain('nopw-eve has no password: they sign in with a passkey alone');
      expect(mainText(page)).not.toContain('no password yet');
    } finally {
      await setPasswordless(asOperator(), 'off');
    }
  });

  it('are found for a whole page in as many queries as for two people', async () => {
    await setPasswordless(asOperator(), 'on');
    const usernames = ['nopw-ann', 'nopw-ben', 'nopw-cat', 'nopw-dir', 'nopw-eve'];
    await givePasskey('nopw-ben');
    const users = await Promise.all(usernames.map(userNamed));
    let queries = 0;
    gateway.sequelize.addHook('afterQuery', 'count-present-queries', () => {
      queries += 1;
    });
    try {
      // Two who between them need every read: a directory link, and a passkey while it may sign in alone.
      await presentUsers(asOperator(), [users[3]!, users[4]!]);
      const forTwo = queries;
      queries = 0;
      const presented = await presentUsers(asOperator(), users);
      expect(queries).toBe(forTwo);
      expect(presented.map((u) => [u.username, u.passwordStatus])).toEqual([
        ['nopw-ann', 'none'],
        ['nopw-ben', 'passkey-only'],
        ['nopw-cat', 'set'],
        ['nopw-dir', 'directory'],
        ['nopw-eve', 'passkey-only'],
      ]);
    } finally {
      gateway.sequelize.removeHook('afterQuery', 'count-present-queries');
      await setPasswordless(asOperator(), 'off');
    }
  });
});
