import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, filledFormWithAction, mainText, submitFilled, type Page } from '../helpers/browser-agent.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  group,
  groupDn,
  inetOrgPerson,
  ouLdif,
  personDn,
  PEOPLE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  startTestSlapd,
  type TestSlapd,
} from '../helpers/slapd.ts';
import { inConsoleWords } from '../../gateway/admin/console-words.ts';
import { unavailable } from '../../gateway/directories/connection.ts';
import { bindPasswordSealer } from '../../gateway/directories/secrets.ts';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { register, RESET_URL } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;
let admin: BrowserAgent;

const url = (path: string) => `${gateway.issuer}${path}`;
const open = (agent: BrowserAgent, path: string) => agent.navigate(url(path));

const directoryRow = () => gateway.models.Directory.findOne({ where: { name: 'library-ldap' } });

beforeAll(async () => {
  gateway = await startTestGateway('dir-console', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Library']]),
      inetOrgPerson({ uid: 'una', name: 'Una Umeda', ous: ['Library'] }),
      inetOrgPerson({ uid: 'vic', name: 'Vic Varga', ous: ['Library'] }),
      inetOrgPerson({ uid: 'bob', name: 'Another Bob', mail: 'bob.ldap@campus.test' }),
      group('librarians', [personDn({ uid: 'vic', ous: ['Library'] })]),
    ].join('\n'),
  });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('the Directories page', () => {
  it('is for campus administrators only', async () => {
    const engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
    const users = await open(engAdmin, '/admin/users');
    expect(users.html).not.toContain('href="/admin/directories"');
    const page = await open(engAdmin, '/admin/directories');
    expect(page.status).toBe(403);
    const post = await open(engAdmin, '/admin/directories/new');
    expect(post.status).toBe(403);
  });

  it('lists no directory at first', async () => {
    const page = await open(admin, '/admin/directories');
    expect(page.status).toBe(200);
    expect(mainText(page)).toContain('No directories yet.');
    expect(page.html).toContain('href="/admin/directories" aria-current="page"');
  });

  it('shows what is wrong with a registration beside the fields, and registers nothing', async () => {
    const form = await open(admin, '/admin/directories/new');
    const refused = await submitFilled(admin, form, filledFormWithAction(form, '/admin/directories'), {
      name: 'library-ldap',
      url: 'http://ldap.campus.test',
      bindDn: 'not a dn',
      bindPassword: SERVICE_PASSWORD,
      userBase: PEOPLE,
      resetUrl: RESET_URL,
    });
    expect(refused.status).toBe(400);
    const text = mainText(refused);
    expect(text).toContain('an ldap://host[:port] (StartTLS) or ldaps://host[:port] URL');
    expect(text).toContain('a distinguished name such as');
    expect(refused.html).not.toContain(SERVICE_PASSWORD);
    expect(await directoryRow()).toBeNull();
  });

  it('refuses a form posted without its token', async () => {
    const form = await open(admin, '/admin/directories/new');
    const filled = filledFormWithAction(form, '/admin/directories');
    const withoutToken = { ...filled, entries: filled.entries.filter(([name]) => name !== '_csrf') };
    const refused = await submitFilled(admin, form, withoutToken, {
      name: 'forged',
      url: ldap.url,
      bindDn: SERVICE_DN,
      bindPassword: 'x',
      userBase: PEOPLE,
      resetUrl: RESET_URL,
    });
    expect(refused.status).toBe(403);
    expect(await gateway.models.Directory.count()).toBe(0);
  });

  it('registers a directory, seals the service password and never shows it back', async () => {
    const form = await open(admin, '/admin/directories/new');
    const page = await submitFilled(admin, form, filledFormWithAction(form, '/admin/directories'), {
      name: 'library-ldap',
      url: ldap.url,
      startTls: 'no',
      bindDn: SERVICE_DN,
      bindPassword: SERVICE_PASSWORD,
      userBase: PEOPLE,
      roleGroups: `staff=${groupDn('librarians')}`,
      resetUrl: RESET_URL,
    });
    expect(page.url).toBe(url('/admin/directories/library-ldap'));
    expect(mainText(page)).toContain('Registered directory library-ldap.');
    expect(page.html).not.toContain(SERVICE_PASSWORD);
    const row = (await directoryRow())!;
    expect(row.bindPasswordSealed).not.toContain(SERVICE_PASSWORD);
    expect(bindPasswordSealer(gateway.config.secretKey).open(row.bindPasswordSealed)).toBe(SERVICE_PASSWORD);
    expect(directorySettingsOf(row)).toMatchObject({
      preset: 'openldap',
      usernameAttribute: 'uid',
      startTls: false,
      unitRoot: 'campus',
    });
    const [event] = await gateway.models.AuditEvent.findAll({
      where: { action: 'directory.add', target: 'library-ldap' },
    });
    expect(event?.actorName).toBe('admin');
    expect(event?.details).not.toContain(SERVICE_PASSWORD);
  });

  it("registers an Active Directory with the preset's disabled flag when that field is left empty", async () => {
    const form = await open(admin, '/admin/directories/new');
    const page = await submitFilled(admin, form, filledFormWithAction(form, '/admin/directories'), {
      name: 'campus-ad',
      preset: 'active-directory',
      url: ldap.url,
      startTls: 'no',
      bindDn: SERVICE_DN,
      bindPassword: SERVICE_PASSWORD,
      userBase: PEOPLE,
      disabledAttribute: '',
      resetUrl: RESET_URL,
    });
    expect(mainText(page)).toContain('Registered directory campus-ad.');
    const row = await gateway.models.Directory.findOne({ where: { name: 'campus-ad' } });
    // Empty would have meant "never read": people disabled in AD would have stayed enabled here.
    expect(directorySettingsOf(row!)).toMatchObject({ disabledAttribute: 'userAccountControl' });
    await row!.destroy();
  });

  it('tests the connection and shows how the first people would look', async () => {
    const page = await open(admin, '/admin/directories/library-ldap');
    const tested = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/library-ldap/test'));
    expect(tested.status).toBe(200);
    const text = mainText(tested);
    expect(text).toContain('The directory answers: 3 people under the user base');
    expect(text).toContain('Una Umeda');
    expect(text).toMatch(/Role group cn=librarians,ou=Groups,dc=campus,dc=test ?: found/);
  });

  it('syncs now and shows the report, refusals with their reasons', async () => {
    const page = await open(admin, '/admin/directories/library-ldap');
    const synced = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/library-ldap/sync'));
    expect(synced.url).toBe(url('/admin/directories/library-ldap'));
    const text = mainText(synced);
    expect(text).toMatch(/Synced library-ldap in [\d.]+ s: 3 entries; 2 added/);
    expect(text).toMatch(/bob ?: a local account \(not from a directory\) has this username; not merged/);
    expect((await gateway.models.User.findOne({ where: { username: 'vic' } }))!.roles).toEqual(['staff']);
    const list = await open(admin, '/admin/directories');
    expect(mainText(list)).toMatch(/library-ldap openldap .* 2 /);
  });

  it('saves changed settings and keeps the sealed password when its field is left empty', async () => {
    const before = (await directoryRow())!.bindPasswordSealed;
    const page = await open(admin, '/admin/directories/library-ldap');
    const form = filledFormWithAction(page, '/admin/directories/library-ldap');
    expect(form.entries.find(([name]) => name === 'bindPassword')?.[1]).toBe('');
    const saved = await submitFilled(admin, page, form, {
      timeoutSeconds: '7',
      resetUrl: 'https://id.campus.test/forgot',
    });
    expect(mainText(saved)).toContain('Saved directory library-ldap.');
    const row = (await directoryRow())!;
    expect(row.bindPasswordSealed).toBe(before);
    expect(row.resetUrl).toBe('https://id.campus.test/forgot');
    expect(directorySettingsOf(row).timeoutSeconds).toBe(7);
    expect(directorySettingsOf(row).roleGroups).toEqual([{ group: groupDn('librarians'), role: 'staff', unit: null }]);
    expect(
      await gateway.models.AuditEvent.count({ where: { action: 'directory.update', target: 'library-ldap' } }),
    ).toBe(1);
  });

  it('relinks a person who came back under a new entry, and shows beside the form why it cannot', async () => {
    const una = personDn({ uid: 'una', ous: ['Library'] });
    await ldap.removeEntry(una);
    await ldap.addEntry(una, {
      objectClass: 'inetOrgPerson',
      uid: 'una',
      cn: 'Una Umeda',
      sn: 'Umeda',
      mail: 'una@campus.test',
    });
    let page = await open(admin, '/admin/directories/library-ldap');
    const synced = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/library-ldap/sync'));
    expect(mainText(synced)).toMatch(/una ?: this username belongs to another entry of this directory/);

    page = await open(admin, '/admin/directories/library-ldap');
    const stranger = await submitFilled(
      admin,
      page,
      filledFormWithAction(page, '/admin/directories/library-ldap/relink'),
      {
        username: 'bob',
      },
    );
    expect(stranger.status).toBe(404);
    expect(mainText(stranger)).toContain('bob is not a person of directory library-ldap');

    const relinked = await submitFilled(
      admin,
      page,
      filledFormWithAction(page, '/admin/directories/library-ldap/relink'),
      {
        username: 'una',
      },
    );
    expect(relinked.url).toBe(url('/admin/directories/library-ldap'));
    expect(mainText(relinked)).toContain(`una is now the person of ${una}; the next sync brings them back`);
    page = await open(admin, '/admin/directories/library-ldap');
    const back = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/library-ldap/sync'));
    expect(mainText(back)).toMatch(/1 re-?enabled/i);
    expect((await gateway.models.User.findOne({ where: { username: 'una' } }))!.status).toBe('active');

    // Renamed in the directory, vic keeps his username; the report says so.
    await ldap.moveEntry(personDn({ uid: 'vic', ous: ['Library'] }), personDn({ uid: 'victor', ous: ['Library'] }));
    page = await open(admin, '/admin/directories/library-ldap');
    const renamed = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/library-ldap/sync'));
    expect(mainText(renamed)).toContain('Renamed in the directory, keeping their username: vic (victor there)');

    // A directory that cannot be reached is said in plain words beside the form, not as the library's error.
    await ldap.pause();
    try {
      page = await open(admin, '/admin/directories/library-ldap');
      const down = await submitFilled(
        admin,
        page,
        filledFormWithAction(page, '/admin/directories/library-ldap/relink'),
        { username: 'una' },
      );
      expect(mainText(down)).toMatch(/nothing listens at 127\.0\.0\.1:\d+/);
      expect(mainText(down)).not.toMatch(/ECONNREFUSED/);
    } finally {
      await ldap.resume();
    }
  });

  it('says a sync refused on the page it redirects to, so that a reload starts none', async () => {
    // Another process's sync holds the directory.
    await gateway.models.Directory.update(
      { syncOwner: 'another-process', syncUntil: new Date(Date.now() + 60_000) },
      { where: { name: 'library-ldap' } },
    );
    const syncs = () =>
      gateway.models.AuditEvent.count({ where: { action: 'directory.sync', target: 'library-ldap' } });
    const before = await syncs();
    try {
      const page = await open(admin, '/admin/directories/library-ldap');
      const refused = await submitFilled(
        admin,
        page,
        filledFormWithAction(page, '/admin/directories/library-ldap/sync'),
      );
      expect(refused.url).toBe(url('/admin/directories/library-ldap#actions-heading'));
      expect(mainText(refused)).toContain('A sync of directory library-ldap is already running');
      const reloaded = await open(admin, '/admin/directories/library-ldap');
      expect(mainText(reloaded)).not.toContain('is already running');
      expect(await syncs()).toBe(before);
    } finally {
      await gateway.models.Directory.update({ syncOwner: null, syncUntil: null }, { where: { name: 'library-ldap' } });
    }
  });

  it('removes a directory with people only when told what it does to them, and then disables them', async () => {
    const page = await open(admin, '/admin/directories/library-ldap');
    expect(mainText(page)).toContain(
      'Its 2 people sign in with its passwords. Removing it disables each of them at once: every session of theirs ends',
    );
    expect(mainText(page)).toContain('I understand: its 2 people are disabled and signed out everywhere at once.');
    const form = filledFormWithAction(page, '/admin/directories/library-ldap/remove');
    // Unticked, it says so on the page it redirects to, beside the box: a reload removes nothing.
    const unticked = await submitFilled(admin, page, form);
    expect(unticked.url).toBe(url('/admin/directories/library-ldap#remove-heading'));
    expect(/id="removal-notice">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to remove directory library-ldap. Nothing was removed.',
    );
    expect(unticked.html).toMatch(/id="remove-understood"[^>]* aria-invalid="true" autofocus>/);
    expect(mainText(await open(admin, '/admin/directories/library-ldap'))).not.toContain('Tick “I understand”');
    expect(await directoryRow()).not.toBeNull();
    expect((await gateway.models.User.findOne({ where: { username: 'una' } }))!.status).toBe('active');

    // Ticked on a page that showed nobody (a sync brought them in since): refused, in the console's words.
    const refused = await submitFilled(admin, page, form, { understood: 'yes', disablePeople: [] });
    expect(refused.url).toBe(url('/admin/directories/library-ldap#remove-heading'));
    expect(mainText(refused)).toContain(
      'Directory library-ldap still has 2 people, who could not sign in without it; ' +
        'see below what removing it does to them, and tick “I understand” again to remove it',
    );
    expect(mainText(refused)).not.toContain('--disable-people');
    expect(await directoryRow()).not.toBeNull();

    const removed = await submitFilled(admin, page, form, { understood: 'yes' });
    expect(removed.url).toBe(url('/admin/directories'));
    expect(mainText(removed)).toContain('Removed directory library-ldap; disabled 2 of its people.');
    expect(await directoryRow()).toBeNull();
    expect((await gateway.models.User.findOne({ where: { username: 'una' } }))!.status).toBe('disabled');
    expect(await gateway.models.DirectoryAccount.count()).toBe(0);
    expect(
      await gateway.models.AuditEvent.count({ where: { action: 'directory.remove', target: 'library-ldap' } }),
    ).toBe(1);
  });

  it('says in plain words why a directory cannot be used, on test and on sync', async () => {
    await register(gateway, 'tls-less', ldap.url, { startTls: 'yes' });
    // In the console's words: what to set on the form, not the CLI's --starttls.
    const plain =
      `the directory at 127.0.0.1:${new URL(ldap.url).port} does not offer StartTLS: use an ldaps:// URL, or ` +
      'set StartTLS to "no" only for a directory on this machine';
    const page = await open(admin, '/admin/directories/tls-less');
    // A directory nobody came from yet says so where it is removed.
    expect(mainText(page)).toContain('I understand: directory tls-less is removed for good.');
    const tested = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/tls-less/test'));
    expect(mainText(tested)).toContain(plain);
    expect(mainText(tested)).not.toMatch(/ProtocolError|Code: 0x|--starttls/);
    const synced = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/tls-less/sync'));
    expect(mainText(synced)).toContain(`Sync of tls-less failed after`);
    expect(mainText(synced)).toContain(plain);
    expect(mainText(synced)).not.toContain('--starttls');
    // The stored report, on the page later, too.
    expect(mainText(await open(admin, '/admin/directories/tls-less'))).toContain(plain);
  });

  it("names the form's CA file, not the CLI's --ca-file, for a certificate from an unknown CA", () => {
    const untrusted = Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const { problem } = unavailable('campus-ldap', untrusted, undefined, 'bind');
    expect(problem).toContain('as the CA file (--ca-file)');
    expect(inConsoleWords(problem)).toBe(
      "the directory's TLS certificate is not signed by a CA the gateway trusts: give the PEM file of the CA " +
        'that signed it as the CA file',
    );
  });
});
