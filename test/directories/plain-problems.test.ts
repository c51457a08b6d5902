import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentServer, type BrokenServer } from '../helpers/broken-servers.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/ports.ts';
import { inetOrgPerson, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { testDirectory } from '../../gateway/directories/test-directory.ts';
import { asOperator, register, sealerOf, sync } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;
let silent: BrokenServer;

beforeAll(async () => {
  gateway = await startTestGateway('dir-problems');
  // A directory without TLS: it answers StartTLS with "unsupported extended operation".
  ldap = await startTestSlapd({ ldif: inetOrgPerson({ uid: 'pia', name: 'Pia Park' }) });
  silent = await silentServer();
});
afterAll(async () => {
  await silent?.close();
  await ldap?.stop();
  await gateway?.stop();
});

const lastAudit = async (action: string, target: string) => {
  const [event] = await gateway.models.AuditEvent.findAll({ where: { action, target }, order: [['id', 'DESC']] });
  return JSON.parse(event?.details ?? 'null') as Record<string, unknown>;
};

/** What `test` and `sync` tell the administrator about one registration that cannot work. */
async function problemsOf(name: string): Promise<{ tested: string | null; synced: string | null | undefined }> {
  const tested = await testDirectory(asOperator(gateway), sealerOf(gateway), name);
  expect(tested.ok).toBe(false);
  const report = await sync(gateway, name);
  expect(report.outcome).toBe('failure');
  return { tested: tested.problem, synced: report.error };
}

describe('a directory that cannot be used, as test and sync say it', () => {
  it('says the server offers no StartTLS and what to use instead, keeping the raw cause for IT', async () => {
    await register(gateway, 'no-starttls', ldap.url, { startTls: 'yes' });
    const { tested, synced } = await problemsOf('no-starttls');
    const port = new URL(ldap.url).port;
    const expected =
      `the directory at 127.0.0.1:${port} does not offer StartTLS: use an ldaps:// URL, or turn StartTLS off ` +
      '(--starttls no) only for a directory on this machine';
    expect(tested).toBe(expected);
    expect(synced).toBe(expected);
    expect(tested).not.toMatch(/ProtocolError|Code: 0x/);
    expect((await lastAudit('directory.test', 'no-starttls')).cause).toMatch(/ProtocolError.*unsupported extended/);
    expect((await lastAudit('directory.sync', 'no-starttls')).cause).toMatch(/ProtocolError.*unsupported extended/);
  });

  it('says nothing listens at a closed port', async () => {
    const port = await freePort();
    await register(gateway, 'closed', `ldap://127.0.0.1:${port}`);
    const { tested, synced } = await problemsOf('closed');
    const expected = `nothing listens at 127.0.0.1:${port}: check the host and port in the URL, and that the directory server is running`;
    expect(tested).toBe(expected);
    expect(synced).toBe(expected);
    expect((await lastAudit('directory.test', 'closed')).cause).toMatch(/ECONNREFUSED/);
  });

  it('says a host name cannot be found', async () => {
    await register(gateway, 'nowhere', 'ldap://no-such-directory.invalid:389', { startTls: 'yes', timeoutSeconds: 5 });
    const { tested, synced } = await problemsOf('nowhere');
    expect(tested).toMatch(/^the host name no-such-directory\.invalid cannot be found .*: check the host in the URL$/);
    expect(synced).toBe(tested);
  });

  it('says a directory did not answer within its timeout', async () => {
    await register(gateway, 'silent', silent.url, { timeoutSeconds: 1 });
    const { tested, synced } = await problemsOf('silent');
    const expected = `the directory at 127.0.0.1:${new URL(silent.url).port} did not answer within 1 s: check that it is running and that no firewall drops the traffic in between`;
    expect(tested).toBe(expected);
    expect(synced).toBe(expected);
  });

  it("says the service account's DN or password is wrong", async () => {
    await register(gateway, 'wrong-password', ldap.url, { bindPassword: 'not-the-service-password' });
    const { tested, synced } = await problemsOf('wrong-password');
    const expected = "the directory refused the service account: the service account's DN or password is wrong";
    expect(tested).toBe(expected);
    expect(synced).toBe(expected);
    expect((await lastAudit('directory.test', 'wrong-password')).cause).toMatch(/InvalidCredentialsError/);
  });

  it('says the user base does not exist', async () => {
    const base = 'ou=Nobody-Here,dc=campus,dc=test';
    await register(gateway, 'no-base', ldap.url, { userBase: base });
    const { tested, synced } = await problemsOf('no-base');
    const expected = `the directory has no entry ${base}: check the user base`;
    expect(tested).toBe(expected);
    expect(synced).toBe(expected);
  });
});
