import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filledFormWithAction, htmlText, submitFilled } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { FORMER, group, groupDn, inetOrgPerson, ouLdif, personDn, type TestSlapd } from '../helpers/slapd.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { summarize } from '../../gateway/directories/sync-report.ts';
import {
  asOperator,
  type DirectoryPerson,
  directoryPerson,
  personOf,
  setGroupMembers,
  startCampusLdap,
  sync,
} from './fixtures.ts';

/*
 * A campus whose only administrator comes from its directory: a sync that would disable them or take their
 * admin role keeps them, as the console and the CLI do, does the rest, and says so until it is fixed.
 */

let gateway: TestGateway;
let ldap: TestSlapd;
const uma = directoryPerson('uma', 'Uma Urban');
const vic = directoryPerson('vic', 'Vic Vance');
const admins = groupDn('admins');
const adminGroupIs = (...people: DirectoryPerson[]) =>
  setGroupMembers(
    ldap,
    'admins',
    people.map((p) => personDn(p)),
  );

const activeAdministrators = async () =>
  (await gateway.models.User.findAll({ where: { status: 'active' } }))
    .filter((u) => u.roles.includes('admin'))
    .map((u) => u.username);

async function keptEvents(username: string) {
  const events = await gateway.models.AuditEvent.findAll({
    where: { action: 'user.keep_administrator', target: username },
    order: [['id', 'ASC']],
  });
  return events.map((e) => JSON.parse(e.details!) as Record<string, unknown>);
}

/** Whether a console session still opens the console: the users page, as an administrator sees it. */
async function opensConsole(agent: Awaited<ReturnType<typeof signInToConsole>>['agent']) {
  const page = await agent.navigate(`${gateway.issuer}/admin/users`);
  return page.status === 200 && page.url === `${gateway.issuer}/admin/users` && page.html.includes('<h1>Users</h1>');
}

beforeAll(async () => {
  gateway = await startTestGateway('dir-last-admin', { LOGIN_IP_LIMIT: '1000' });
  const directory = await startCampusLdap(
    gateway,
    [ouLdif([['Library']]), inetOrgPerson(uma), inetOrgPerson(vic), group('admins', [personDn(uma)])],
    [`admin=${admins}`],
  );
  ldap = directory.ldap;
  expect(directory.firstSync.added).toBe(2);
  // The demo's local administrator leaves: the directory's uma is the campus's only administrator.
  await updateUser(asOperator(gateway), 'admin', { status: 'disabled' });
  expect(await activeAdministrators()).toEqual(['uma']);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('the last campus administrator, from a directory', () => {
  it('keeps the admin role when the directory takes them out of its admin group, and the report says why', async () => {
    await adminGroupIs();
    const synced = await runAtrium(gateway.db, ['directories', 'sync', 'campus-ldap']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(htmlText(synced.stdout)).toContain(
      'Kept uma an administrator although the directory puts them in no admin role group: they are the last active ' +
        'administrator, and without one nobody can open the admin console. Make someone else an administrator ' +
        "(atrium users add USERNAME --role admin, or the directory's admin role group), then sync again.",
    );
    expect((await personOf(gateway, 'uma'))!.roles).toEqual(['admin', 'student']);
    expect(await activeAdministrators()).toEqual(['uma']);
    expect(await keptEvents('uma')).toEqual([
      expect.objectContaining({ directory: 'campus-ldap', said: 'in no admin role group', kept: 'admin role' }),
    ]);
    const sweep = await gateway.models.AuditEvent.findOne({
      where: { action: 'directory.sync', target: 'campus-ldap' },
      order: [['id', 'DESC']],
    });
    expect(JSON.parse(sweep!.details!).keptAdministrators).toEqual([
      { username: 'uma', said: ['in no admin role group'] },
    ]);

    // She still signs in to the console, whose directory page says what to fix, in its own words.
    const { agent, page } = await signInToConsole(gateway.issuer, 'uma', uma.password);
    expect(page.url.startsWith(`${gateway.issuer}/admin`), page.html.slice(0, 500)).toBe(true);
    expect(await opensConsole(agent)).toBe(true);
    const shown = await agent.navigate(`${gateway.issuer}/admin/directories/campus-ldap`);
    const summary = /<p class="notice (\w+)" id="sync-summary">([^<]*)</.exec(shown.html);
    expect(summary?.[1]).toBe('error');
    expect(htmlText(summary![2]!)).toContain(
      "Make someone else an administrator (Users → New user, with the admin role, or the directory's admin role group), then sync again.",
    );

    // Fixed in the directory: one sync gives vic the role and takes uma's.
    await adminGroupIs(vic);
    const fixed = await sync(gateway, 'campus-ldap');
    expect(fixed.keptAdministrators).toEqual([]);
    expect(summarize(fixed)).not.toContain('Kept');
    expect(fixed.names.updated.sort()).toEqual(['uma', 'vic']);
    expect((await personOf(gateway, 'uma'))!.roles).toEqual(['student']);
    expect(await activeAdministrators()).toEqual(['vic']);
  });

  it('stays enabled, console session and all, when the directory no longer lists them', async () => {
    const vicConsole = (await signInToConsole(gateway.issuer, 'vic', vic.password)).agent;
    await ldap.moveEntry(personDn(vic), `uid=vic,${FORMER}`);
    const report = await sync(gateway, 'campus-ldap');
    expect(report.outcome).toBe('success');
    expect(report.disabled).toBe(0);
    expect(report.keptAdministrators).toEqual([{ username: 'vic', said: ['gone from the directory'] }]);
    expect(summarize(report)).toContain(
      'Kept vic enabled and an administrator although the directory no longer lists them: they are the last active administrator',
    );
    expect((await personOf(gateway, 'vic'))!.status).toBe('active');
    expect(await opensConsole(vicConsole)).toBe(true);

    // Their name typed at the sign-in, which learns from the directory that they are gone, keeps them too.
    await signInToConsole(gateway.issuer, 'vic', vic.password);
    expect((await personOf(gateway, 'vic'))!.status).toBe('active');
    expect(await opensConsole(vicConsole)).toBe(true);
    expect((await keptEvents('vic')).map((e) => [e.said, e.found])).toEqual([
      ['gone from the directory', 'sync'],
      ['gone from the directory', 'sign-in'],
    ]);

    // Another administrator made: the next sync disables vic as the directory says.
    await adminGroupIs(uma);
    const fixed = await sync(gateway, 'campus-ldap');
    expect(fixed.names.disabled).toEqual(['vic']);
    expect(fixed.keptAdministrators).toEqual([]);
    expect(await activeAdministrators()).toEqual(['uma']);
    expect(await opensConsole(vicConsole)).toBe(false);
  });

  it('stays enabled, console session and all, when the directory they sign in with is removed', async () => {
    // uma, the last active administrator, removes the directory whose password she signs in with.
    const { agent } = await signInToConsole(gateway.issuer, 'uma', uma.password);
    const page = await agent.navigate(`${gateway.issuer}/admin/directories/campus-ldap`);
    expect(htmlText(page.html)).toContain("The campus's last active administrator, if among them, is kept enabled");
    const removed = await submitFilled(
      agent,
      page,
      filledFormWithAction(page, '/admin/directories/campus-ldap/remove'),
      {
        understood: 'yes',
      },
    );
    expect(removed.url).toBe(`${gateway.issuer}/admin/directories`);
    expect(htmlText(removed.html)).toContain(
      'Removed directory campus-ldap. Kept uma enabled and signed in where they were: they are the last active ' +
        "administrator, and without one nobody can open the admin console. Their password was the directory's: " +
        'set one on uma’s page under Users (“Set a password”).',
    );
    expect(await gateway.models.Directory.count()).toBe(0);
    expect((await personOf(gateway, 'uma'))!.status).toBe('active');
    expect(await activeAdministrators()).toEqual(['uma']);
    expect(await opensConsole(agent)).toBe(true);
    expect((await keptEvents('uma')).at(-1)).toMatchObject({
      directory: 'campus-ldap',
      found: 'removal',
      kept: 'enabled',
    });
  });
});
