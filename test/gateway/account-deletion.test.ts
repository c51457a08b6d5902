import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrowserAgent,
  filledFormWithAction,
  htmlText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import {
  addPerson,
  ENG_NODE,
  linkToTestDirectory,
  signInToConsole,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { login } from '../helpers/node.ts';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { storedPasskey } from '../helpers/stored-passkey.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { issueRecoveryCodes } from '../../gateway/factors/recovery-codes.ts';
import { deleteAccount } from '../../gateway/accounts/delete-account.ts';

let gateway: TestGateway;
let admin: BrowserAgent;
let engAdmin: BrowserAgent;

const url = (path: string) => `${gateway.issuer}${path}`;
const ops = () => ({ ...gateway.context(null), actor: operator('test') });
const REFUSED =
  'alice was the username of a deleted account; usernames are not reused, so chat history stays with its author — choose another';
const refusedFor = (username: string) => REFUSED.replace('alice', username);

/** The delete form of the person's console page, sent with `typed` as their username typed again. */
async function deleteOnPage(agent: BrowserAgent, userId: string, typed: string): Promise<Page> {
  const page = await agent.navigate(url(`/admin/users/${userId}`));
  return submitFilled(agent, page, filledFormWithAction(page, '/delete'), { confirmUsername: typed });
}

/** What the sign-in page says to `username` with `password`. */
async function signInError(username: string, password: string): Promise<string> {
  const page = await signInThrough(new BrowserAgent(), url('/admin/login'), username, password);
  return htmlText(/id="login-error"[^>]*>([\s\S]*?)<\/p>/.exec(page.html)?.[1] ?? '');
}

/** Every row that still holds something of the person, by table. */
async function rowsOf(userId: string, email: string) {
  const m = gateway.models;
  const byUser = { where: { userId } };
  return {
    users: await m.User.count({ where: { id: userId } }),
    byEmail: await m.User.count({ where: { email } }),
    memberships: await m.Membership.count(byUser),
    totp: await m.TotpFactor.count(byUser),
    recoveryCodes: await m.RecoveryCode.count(byUser),
    passkeys: await m.Passkey.count(byUser),
    resetLinks: await m.PasswordReset.count(byUser),
    directoryLinks: await m.DirectoryAccount.count(byUser),
    devices: await m.SessionDevice.count({ where: { accountId: userId } }),
    oidc: await m.OidcPayload.count({ where: { accountId: userId } }),
    notices: await m.SecurityNotice.count({ where: { recipient: email } }),
  };
}

beforeAll(async () => {
  gateway = await startTestGateway('account-deletion', { LOGIN_IP_LIMIT: '1000' });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
  engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
});
afterAll(async () => gateway?.stop());

describe('deleting an account in the console', () => {
  it('ends their sessions and tokens at once and removes what Atrium kept of them, keeping the audit log', async () => {
    const kim = await addPerson(gateway, 'kim');
    const phone = await login(gateway, 'kim');
    await phone.tokenFor(ENG_NODE);
    await storedPasskey(gateway.models, kim.id);
    await issueRecoveryCodes(ops(), kim.id);
    await gateway.models.TotpFactor.create({
      userId: kim.id,
      secret: 'sealed',
      confirmedAt: new Date(),
      lastStep: null,
      createdAt: new Date(),
    });
    const now = Date.now();
    await gateway.models.PasswordReset.create({
      tokenHash: randomUUID().replace(/-/g, '').padEnd(64, '0'),
      userId: kim.id,
      createdAt: new Date(now),
      expiresAt: new Date(now + 3_600_000),
    });
    await linkToTestDirectory(gateway.models, [kim]);
    await gateway.models.SecurityNotice.create({
      recipient: kim.email,
      subject: 'Your password was changed',
      body: 'Hello Test kim',
      action: 'user.reset_password',
      account: 'kim',
      nextAt: new Date(),
      firstTriedAt: null,
      lastError: null,
      doneAt: null,
      createdAt: new Date(),
    });
    const before = await rowsOf(kim.id, kim.email);
    expect(before).toMatchObject({ users: 1, memberships: 1, totp: 1, passkeys: 1, resetLinks: 1, directoryLinks: 1 });
    expect(before.oidc).toBeGreaterThan(0);
    expect(before.recoveryCodes).toBeGreaterThan(0);

    const done = await deleteOnPage(admin, kim.id, 'kim');
    expect(done.url).toBe(url('/admin/users'));
    expect(htmlText(done.html)).toContain(
      'Deleted kim: the 1 browser or device they were signed in on was signed out at once, with its apps and chat.',
    );
    await expect(phone.tokenFor(ENG_NODE)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await rowsOf(kim.id, kim.email)).toEqual({
      users: 0,
      byEmail: 0,
      memberships: 0,
      totp: 0,
      recoveryCodes: 0,
      passkeys: 0,
      resetLinks: 0,
      directoryLinks: 0,
      devices: 0,
      oidc: 0,
      notices: 0,
    });
    // The nodes are told, with the chat addresses the person had, so that each takes them out of its groups.
    const ended = await gateway.models.EndedAccess.findOne({ where: { kind: 'sub', subject: kim.id } });
    expect(JSON.parse(ended?.deletedAddresses ?? 'null')).toEqual(['kim@eng.campus.test']);
    const tombstone = await gateway.models.DeletedAccount.findByPk('kim');
    expect(tombstone?.userId).toBe(kim.id);
    // The deletion is recorded, and what was recorded of the person before stays.
    const deletion = await gateway.models.AuditEvent.findOne({ where: { action: 'user.delete', target: 'kim' } });
    expect(deletion).toMatchObject({ actorName: 'admin', outcome: 'success' });
    expect(JSON.parse(deletion!.details!)).toEqual({ endedSessions: 1, directory: 'campus-ldap' });
    expect(await gateway.models.AuditEvent.count({ where: { action: 'user.create', target: 'kim' } })).toBe(1);
    // The list no longer shows them, and their page is gone.
    const list = await admin.navigate(url('/admin/users?q=kim'));
    expect(list.html).not.toContain(`/admin/users/${kim.id}`);
    expect((await admin.navigate(url(`/admin/users/${kim.id}`))).status).toBe(404);
    // The stand-in directory answers nobody: a sign-in of a name nobody has would ask it.
    await gateway.models.Directory.destroy({ where: { name: 'campus-ldap' } });
  });

  it('cannot be signed in to, answering as for a name nobody has', async () => {
    const lou = await addPerson(gateway, 'lou');
    await deleteAccount(ops(), lou.id);
    const unknown = await signInError('nobody-here', DEMO_PASSWORD);
    expect(unknown).toContain('Wrong username or password');
    expect(await signInError('lou', DEMO_PASSWORD)).toBe(unknown.replace('nobody-here', 'lou'));
    expect(await signInError('lou@campus.test', DEMO_PASSWORD)).toBe(unknown.replace('nobody-here', 'lou@campus.test'));
  });

  it('asks first: without the username typed again, it says so and deletes nothing', async () => {
    const kit = await addPerson(gateway, 'kit');
    const session = await login(gateway, 'kit');
    const page = await admin.navigate(url(`/admin/users/${kit.id}`));
    expect(htmlText(page.html)).toContain('Type kit to delete their account');
    for (const typed of ['', 'kitt']) {
      const refused = await deleteOnPage(admin, kit.id, typed);
      expect(refused.status).toBe(400);
      expect(htmlText(/id="delete-error">([^<]*)</.exec(refused.html)?.[1] ?? '')).toBe(
        'Type kit to delete their account. Nothing was deleted.',
      );
      expect(refused.html).toMatch(/id="delete-username"[^>]* aria-invalid="true" autofocus>/);
    }
    const form = filledFormWithAction(page, '/delete');
    const forged = await submitFilled(
      admin,
      page,
      { ...form, entries: form.entries.filter(([name]) => name !== '_csrf') },
      { confirmUsername: 'kit' },
    );
    expect(forged.status).toBe(403);
    expect(await gateway.models.User.count({ where: { id: kit.id } })).toBe(1);
    await expect(session.tokenFor(ENG_NODE)).resolves.toBeTruthy();
    expect(await gateway.models.AuditEvent.count({ where: { action: 'user.delete', target: 'kit' } })).toBe(0);
  });

  it('escapes the username it shows', async () => {
    const page = await admin.navigate(url('/admin/users'));
    expect(page.status).toBe(200);
    const odd = await addPerson(gateway, 'o.k_1-x');
    const shown = await admin.navigate(url(`/admin/users/${odd.id}`));
    expect(shown.html).toContain('Type <code>o.k_1-x</code> to delete their account');
  });
});

describe('who may delete an account', () => {
  it('refuses an administrator their own account, saying another administrator can', async () => {
    const own = await gateway.models.User.findOne({ where: { username: 'admin' } });
    const page = await admin.navigate(url(`/admin/users/${own!.id}`));
    expect(htmlText(page.html)).toContain('You cannot delete your own account: another administrator can.');
    const forged = await submitFilled(
      admin,
      page,
      { ...filledFormWithAction(page, '/sign-out'), action: `/admin/users/${own!.id}/delete` },
      { confirmUsername: 'admin' },
    );
    expect(forged.status).toBe(403);
    expect(htmlText(forged.html)).toContain('You cannot delete your own account: another administrator can.');
    expect(await gateway.models.User.count({ where: { id: own!.id } })).toBe(1);
  });

  it('never deletes the last active administrator, from the CLI either', async () => {
    const result = await runAtrium(gateway.db, ['users', 'delete', 'admin', '--yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('admin is the last active administrator and cannot be deleted');
    expect(result.stderr).toContain('atrium users add USERNAME --role admin');
    expect(await gateway.models.User.count({ where: { username: 'admin' } })).toBe(1);
  });

  it('lets a unit admin delete only people wholly in their units', async () => {
    const bob = await gateway.models.User.findOne({ where: { username: 'bob' } });
    const carol = await gateway.models.User.findOne({ where: { username: 'carol' } });
    const mine = await addPerson(gateway, 'mo', { units: ['campus/eng/ee'] });
    const page = await engAdmin.navigate(url(`/admin/users/${mine.id}`));
    const form = filledFormWithAction(page, '/delete');
    const outside = await submitFilled(
      engAdmin,
      page,
      { ...form, action: `/admin/users/${bob!.id}/delete` },
      { confirmUsername: 'bob' },
    );
    expect(outside.status).toBe(404);
    const partly = await submitFilled(
      engAdmin,
      page,
      { ...form, action: `/admin/users/${carol!.id}/delete` },
      { confirmUsername: 'carol' },
    );
    expect(partly.status).toBe(403);
    expect(await gateway.models.User.count({ where: { username: ['bob', 'carol'] } })).toBe(2);
    const own = await submitFilled(engAdmin, page, form, { confirmUsername: 'mo' });
    expect(htmlText(own.html)).toContain('Deleted mo: they were signed in nowhere.');
    expect(await gateway.models.AuditEvent.count({ where: { action: 'user.delete', target: 'mo' } })).toBe(1);
  });
});

describe('a deleted username is never given again', () => {
  it('is refused by the console, the CLI and an import, saying why', async () => {
    const pat = await addPerson(gateway, 'pat');
    await deleteAccount(ops(), pat.id);

    const form = await admin.navigate(url('/admin/users/new'));
    const refused = await submitFilled(admin, form, filledFormWithAction(form, '/admin/users'), {
      username: 'pat',
      displayName: 'Pat Other',
      email: 'pat.other@campus.test',
      password: 'quiet-meadow-harbour',
      units: 'campus/eng/cs',
      roles: 'student',
    });
    expect(refused.status).toBe(409);
    expect(htmlText(refused.html)).toContain(refusedFor('pat'));

    const added = await runAtrium(gateway.db, [
      'users',
      'add',
      'pat',
      '--name',
      'Pat Other',
      '--email',
      'pat.other@campus.test',
      '--unit',
      'campus/eng/cs',
      '--role',
      'student',
      '--json',
    ]);
    expect(added.code).toBe(2);
    expect(JSON.stringify(jsonOf(added).error)).toContain(refusedFor('pat'));

    const csv = join(gateway.db.dataDir, 'people.csv');
    await writeFile(
      csv,
      'username,name,email,units,roles\npat,Pat Other,pat.other@campus.test,campus/eng/cs,student\n',
    );
    const imported = await runAtrium(gateway.db, ['users', 'import', csv]);
    expect(imported.code).toBe(2);
    expect(imported.stderr).toContain(refusedFor('pat'));
    expect(await gateway.models.User.count({ where: { username: 'pat' } })).toBe(0);
  });
});

describe('atrium users delete', () => {
  it('asks for the username again unless --yes, and deletes nobody when it is not typed', async () => {
    await addPerson(gateway, 'quinn');
    const wrong = await runAtrium(gateway.db, ['users', 'delete', 'quinn'], { stdin: 'quin\n' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('Type the username again to confirm');
    expect(wrong.stderr).toContain('"quin" is not quinn: nothing was deleted');
    expect(await gateway.models.User.count({ where: { username: 'quinn' } })).toBe(1);

    const typed = await runAtrium(gateway.db, ['users', 'delete', 'quinn'], { stdin: 'quinn\n' });
    expect(typed.code).toBe(0);
    expect(typed.stdout).toContain('Deleted quinn: they were signed in nowhere.');
    expect(await gateway.models.User.count({ where: { username: 'quinn' } })).toBe(0);
    const operatorEvent = await gateway.models.AuditEvent.findOne({
      where: { action: 'user.delete', target: 'quinn' },
    });
    expect(operatorEvent?.actorId).toBeNull();

    await addPerson(gateway, 'rae');
    const json = await runAtrium(gateway.db, ['users', 'delete', 'rae', '--yes', '--json']);
    expect(json.code).toBe(0);
    expect(jsonOf(json)).toEqual({ username: 'rae', endedSessions: 0, directory: null });
    const again = await runAtrium(gateway.db, ['users', 'delete', 'rae', '--yes']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('No such user: rae');
  });
});
