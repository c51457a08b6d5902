import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, filledFormWithAction, mainText, submitFilled } from '../helpers/browser-agent.ts';
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

