import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, filledFormWithAction, mainText, submitFilled } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { register } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;
let admin: BrowserAgent;

const path = (name: string) => `/admin/directories/${name}`;
const open = (name: string) => admin.navigate(`${gateway.issuer}${path(name)}`);
const settingsOf = async (name: string) =>
  directorySettingsOf((await gateway.models.Directory.findOne({ where: { name } }))!);

/** Saves the directory's settings form as the page shows it, with `changes` typed over it. */
async function save(name: string, changes: Record<string, string | string[]>) {
  const page = await open(name);
  return submitFilled(admin, page, filledFormWithAction(page, path(name)), changes);
}

beforeAll(async () => {
  gateway = await startTestGateway('dir-console-walkthrough', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({ ldif: inetOrgPerson({ uid: 'ona', name: 'Ona Olsen' }) });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('StartTLS left to its default at registration', () => {
  it('shows "default" chosen on the edit form, so a switch to ldaps:// just works', async () => {
    // ldap:// on this machine, StartTLS not chosen: the default, yes.
    await register(gateway, 'tls-default', ldap.url.replace('127.0.0.1', 'localhost'), { startTls: undefined });
    expect((await settingsOf('tls-default')).startTls).toBe(true);
    const page = await open('tls-default');
    expect(page.html).toMatch(/<option value=""\s*selected>default/);
    expect(page.html).not.toMatch(/<option value="yes"\s*selected>/);
    const ldaps = ldap.url.replace('ldap://127.0.0.1', 'ldaps://localhost');
    const saved = await save('tls-default', { url: ldaps, saveUntested: 'on' });
    expect(mainText(saved)).not.toContain('StartTLS is for ldap:// URLs');
    expect(saved.url).toBe(`${gateway.issuer}${path('tls-default')}`);
    expect((await gateway.models.Directory.findOne({ where: { name: 'tls-default' } }))!.url).toBe(ldaps);
    expect((await settingsOf('tls-default')).startTls).toBe(false);
  });
});

describe('the disabled flag attribute left empty', () => {
  it("means the same on the New and edit forms: the preset's, unchanged when editing", async () => {
    await register(gateway, 'locks-read', ldap.url);
    expect((await settingsOf('locks-read')).disabledAttribute).toBe('pwdAccountLockedTime');
    const page = await open('locks-read');
    expect(mainText(page)).not.toContain('empty: none');
    expect(mainText(page)).toContain("Disabled flag attribute (empty: the preset's; when editing, unchanged)");
    const saved = await save('locks-read', { disabledAttribute: '' });
    expect(mainText(saved)).toContain('Directory locks-read already had these settings; nothing changed.');
    expect((await settingsOf('locks-read')).disabledAttribute).toBe('pwdAccountLockedTime');
  });

  it('is turned off only by "none", which says that locked people keep their access', async () => {
    await register(gateway, 'locks-off', ldap.url);
    const saved = await save('locks-off', { disabledAttribute: 'none' });
    expect(mainText(saved)).toContain('disabled flag attribute pwdAccountLockedTime → none');
    expect(mainText(saved)).toContain(
      'The disabled flag is no longer read: people locked or disabled in the directory keep their access here until they leave the directory.',
    );
    expect((await settingsOf('locks-off')).disabledAttribute).toBeNull();
    // Shown as the choice it is, and kept when the form is saved again as it was.
    expect((await open('locks-off')).html).toMatch(/id="disabledAttribute"[^>]*value="none"/);
    expect(mainText(await save('locks-off', {}))).toContain('nothing changed');
  });

  it('is the same on the command line: "" keeps it, none turns it off saying what that means', async () => {
    await register(gateway, 'locks-cli', ldap.url);
    const kept = await runAtrium(gateway.db, ['directories', 'update', 'locks-cli', '--disabled-attribute', '']);
    expect(kept.stdout).toContain('Directory locks-cli already had these settings; nothing changed.');
    expect((await settingsOf('locks-cli')).disabledAttribute).toBe('pwdAccountLockedTime');
    const off = await runAtrium(gateway.db, ['directories', 'update', 'locks-cli', '--expiry-attribute', 'pwdEndTime']);
    expect(off.code).toBe(0);
    const offAgain = await runAtrium(gateway.db, [
      'directories',
      'update',
      'locks-cli',
      '--disabled-attribute',
      'none',
      '--expiry-attribute',
      'none',
    ]);
    expect(offAgain.stdout).toContain('people locked or disabled in the directory keep their access here');
    expect(offAgain.stdout).toContain('people whose account ended in the directory keep their access here');
    expect(await settingsOf('locks-cli')).toMatchObject({ disabledAttribute: null, expiryAttribute: null });
  });
});
