import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, filledFormWithAction, htmlText, mainText, submitFilled } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, SERVICE_PASSWORD, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { asOperator, register, sealerOf } from './fixtures.ts';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { showDirectory } from '../../gateway/directories/list-directories.ts';

/** Editing a directory's settings in the console and with the CLI: what the audit log says was changed. */
let gateway: TestGateway;
let ldap: TestSlapd;
let admin: BrowserAgent;

const PAGE = '/admin/directories/library-ldap';
const NEW_PASSWORD = 'a-new-service-secret';

/** The directory's page, its settings form saved with `changes` over what the form shows. */
async function save(changes: Record<string, string>) {
  const page = await admin.navigate(`${gateway.issuer}${PAGE}`);
  return submitFilled(admin, page, filledFormWithAction(page, PAGE), changes);
}

const updates = () =>
  gateway.models.AuditEvent.findAll({
    where: { action: 'directory.update', target: 'library-ldap' },
    order: [['id', 'ASC']],
  });
/** The message under a field of the form, as the person reads it. */
const fieldError = (html: string, field: string) =>
  htmlText(new RegExp(`id="${field}-error">([^<]*)<`).exec(html)?.[1] ?? '');

const changedIn = (event: { details: string | null } | undefined) =>
  (JSON.parse(event?.details ?? '{}') as { changed?: string[] }).changed;

beforeAll(async () => {
  gateway = await startTestGateway('dir-console-settings', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({
    ldif: [ouLdif([['Library']]), inetOrgPerson({ uid: 'una', name: 'Una Umeda', ous: ['Library'] })].join('\n'),
  });
  await register(gateway, 'library-ldap', ldap.url);
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe("the audit log of a directory's edits", () => {
  it('names only the service password when only it was changed, and never records it', async () => {
    // A password the test directory does not take: saved untested, as for a directory down for maintenance.
    const saved = await save({ bindPassword: NEW_PASSWORD, saveUntested: 'on' });
    expect(mainText(saved)).toContain('Saved directory library-ldap.');
    const [event] = await updates();
    expect(changedIn(event)).toEqual(['bindPassword']);
    expect(event!.details).not.toContain(NEW_PASSWORD);
    const log = await admin.navigate(`${gateway.issuer}/admin/audit?action=directory.update`);
    expect(mainText(log)).toContain('changed: bindPassword ');
    expect(log.html).not.toContain(NEW_PASSWORD);
  });

  it('writes nothing when the form is saved as it was, the same service password typed again included', async () => {
    for (const changes of [{}, { bindPassword: NEW_PASSWORD }] as Record<string, string>[]) {
      const saved = await save(changes);
      expect(mainText(saved)).toContain('Directory library-ldap already had these settings; nothing changed.');
      expect(await updates()).toHaveLength(1);
    }
  });

  it('names each field whose value differs, and no field given again as it was', async () => {
    await save({ timeoutSeconds: '7', url: `${ldap.url.toUpperCase()}/`, resetUrl: 'https://id.campus.test/forgot' });
    expect(changedIn((await updates()).at(-1))).toEqual(['timeoutSeconds', 'resetUrl']);
  });

  it('is the same for the CLI, which changes only what it is given', async () => {
    const same = await runAtrium(gateway.db, ['directories', 'update', 'library-ldap', '--bind-password-stdin'], {
      stdin: `${NEW_PASSWORD}\n`,
    });
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain('Directory library-ldap already had these settings; nothing changed.');
    const count = (await updates()).length;
    const changed = await runAtrium(
      gateway.db,
      ['directories', 'update', 'library-ldap', '--bind-password-stdin', '--timeout', '7', '--default-role', 'staff'],
      { stdin: `${SERVICE_PASSWORD}\n` },
    );
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('Saved directory library-ldap');
    const events = await updates();
    expect(events).toHaveLength(count + 1);
    expect(changedIn(events.at(-1))).toEqual(['bindPassword', 'defaultRole']);
  });
});

describe('a required field left blank', () => {
  it('says what to enter under each on a new directory, and registers nothing', async () => {
    const form = await admin.navigate(`${gateway.issuer}/admin/directories/new`);
    const refused = await submitFilled(admin, form, filledFormWithAction(form, '/admin/directories'), {
      name: 'campus-ad',
      url: '   ',
      bindDn: ' ',
      bindPassword: '',
      userBase: '  ',
      resetUrl: ' ',
    });
    expect(refused.status).toBe(400);
    expect(mainText(refused)).not.toContain('Invalid input');
    expect(fieldError(refused.html, 'url')).toBe("enter the directory's URL, such as ldap://ldap.campus.example");
    expect(fieldError(refused.html, 'bindDn')).toBe(
      "enter the service account's DN, such as cn=atrium,ou=Services,dc=campus,dc=example",
    );
    expect(fieldError(refused.html, 'bindPassword')).toBe("enter the service account's password");
    expect(fieldError(refused.html, 'userBase')).toBe(
      'enter where people are searched, such as ou=People,dc=campus,dc=example',
    );
    expect(fieldError(refused.html, 'resetUrl')).toBe(
      "enter the directory's own password reset page, such as https://password.campus.example",
    );
    expect(await gateway.models.Directory.count({ where: { name: 'campus-ad' } })).toBe(0);
  });

  it('is refused on an edit too, rather than saved as unchanged', async () => {
    const before = await updates();
    const refused = await save({ url: ' ', userBase: '' });
    expect(refused.status).toBe(400);
    expect(fieldError(refused.html, 'url')).toBe("enter the directory's URL, such as ldap://ldap.campus.example");
    expect(fieldError(refused.html, 'userBase')).toBe(
      'enter where people are searched, such as ou=People,dc=campus,dc=example',
    );
    const cli = await runAtrium(gateway.db, ['directories', 'update', 'library-ldap', '--user-base', '  ']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('userBase: enter where people are searched');
    expect(await updates()).toHaveLength(before.length);
  });
});

describe('far too much typed into a form', () => {
  it('brings back the form, saying "too long", and registers, saves or relinks nothing', async () => {
    // Thousands of characters pasted into a field, in a script of three bytes each: over the 32 kB a form takes.
    const far = '密'.repeat(5000);
    const snapshot = async () => ({
      directories: (await gateway.models.Directory.findAll({ order: [['name', 'ASC']] })).map((d) => d.toJSON()),
      audit: await gateway.models.AuditEvent.count(),
    });
    const before = await snapshot();
    const forms: [page: string, action: string, field: string][] = [
      ['/admin/directories/new', '/admin/directories', 'userFilter'],
      [PAGE, PAGE, 'userFilter'],
      [PAGE, `${PAGE}/relink`, 'username'],
    ];
    for (const [path, action, field] of forms) {
      const page = await admin.navigate(`${gateway.issuer}${path}`);
      const answer = await submitFilled(admin, page, filledFormWithAction(page, action), { [field]: far });
      expect({ path, action, status: answer.status }).toEqual({ path, action, status: 413 });
      expect(mainText(answer)).toContain('What was typed is too long to be read, so nothing was saved.');
      expect(
        filledFormWithAction(answer, action).entries.some(([name]) => name === field),
        path,
      ).toBe(true);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('a settings form opened before another change', () => {
  it('saves only what was changed on it, and refuses a field someone else changed since', async () => {
    const stale = await admin.navigate(`${gateway.issuer}${PAGE}`);
    const form = filledFormWithAction(stale, PAGE);
    // Meanwhile another administrator has the directory's disabled people found by their flag.
    await updateDirectory(asOperator(gateway), sealerOf(gateway), 'library-ldap', {
      disabledAttribute: 'nsAccountLock',
    });
    const settings = () => showDirectory(asOperator(gateway), 'library-ldap');

    const saved = await submitFilled(admin, stale, form, { timeoutSeconds: '9' });
    expect(mainText(saved)).toContain('Saved directory library-ldap.');
    expect(changedIn((await updates()).at(-1))).toEqual(['timeoutSeconds']);
    expect(await settings()).toMatchObject({ attributes: { disabled: 'nsAccountLock' }, timeoutSeconds: 9 });

    const count = (await updates()).length;
    const refused = await submitFilled(admin, stale, form, { disabledAttribute: 'userAccountControl' });
    expect(refused.status).toBe(409);
    expect(mainText(refused)).toContain(
      'Directory library-ldap was changed since you opened this page (disabled flag attribute): nothing was saved.',
    );
    expect(fieldError(refused.html, 'disabledAttribute')).toContain('you had chosen: userAccountControl.');
    expect(refused.html).toContain('value="nsAccountLock"');
    expect(await updates()).toHaveLength(count);
    expect((await settings()).attributes.disabled).toBe('nsAccountLock');
  });
});
