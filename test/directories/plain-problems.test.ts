import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentServer, type BrokenServer } from '../helpers/broken-servers.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/ports.ts';
import { entry, inetOrgPerson, SUFFIX, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { authenticate } from '../../gateway/accounts/authenticate.ts';
import { directoryPasswordCheck } from '../../gateway/directories/directory-password.ts';
import { DirectoryUnavailableError } from '../../gateway/directories/errors.ts';
import { testDirectory } from '../../gateway/directories/test-directory.ts';
import { createRateLimiter } from '../../core/rate-limit.ts';
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

describe('a directory whose size limit stops the service account', () => {
  // slapd's own default is `sizelimit 500`, which caps a paged search's total too (size.prtotal).
  const LIMITED_DN = `cn=atrium-limited,ou=Services,${SUFFIX}`;
  let limited: TestSlapd;
  beforeAll(async () => {
    limited = await startTestSlapd({
      ldif: [
        entry(LIMITED_DN, {
          objectClass: 'inetOrgPerson',
          cn: 'atrium-limited',
          sn: 'Limited',
          userPassword: 'limited-pw',
        }),
        ...['ria', 'sol', 'tam', 'uma', 'vik'].map((uid) => inetOrgPerson({ uid })),
      ].join('\n'),
      databaseLines: ['sizelimit 3'],
    });
  });
  afterAll(async () => limited?.stop());

  it('says at how many entries the limit stops it, and what to raise for that account', async () => {
    await register(gateway, 'size-limited', limited.url, { bindDn: LIMITED_DN, bindPassword: 'limited-pw' });
    const { tested, synced } = await problemsOf('size-limited');
    const expected =
      "the directory's size limit for the service account stops reading at 3 entries, although the gateway asks " +
      `for paged results (pages of 1,000): raise the limit for ${LIMITED_DN} (OpenLDAP: limits ` +
      `dn.exact="${LIMITED_DN}" size.prtotal=unlimited, or size=unlimited, in the database's configuration)`;
    expect(tested).toBe(expected);
    expect(synced).toBe(expected);
    expect((await lastAudit('directory.sync', 'size-limited')).cause).toMatch(/SizeLimitExceededError/);
    expect(await gateway.models.User.count({ where: { username: 'ria' } })).toBe(0);
  });
});

describe('a sign-in while the directory refuses the service account', () => {
  it('tells the person directory sign-in is not working and IT was told, and logs at error what IT must change', async () => {
    await register(gateway, 'refused-at-sign-in', ldap.url);
    expect(await sync(gateway, 'refused-at-sign-in')).toMatchObject({ outcome: 'success', added: 1 });
    // The service account's password changed in the directory, not in the registration.
    await gateway.models.Directory.update(
      { bindPasswordSealed: sealerOf(gateway).seal('the-old-service-password') },
      { where: { name: 'refused-at-sign-in' } },
    );
    const lines: { msg: string; problem?: string; cause?: string }[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    const policy = {
      maxFailures: 5,
      lockoutMinutes: 10,
      ipLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
      identifierLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
      directoryPassword: directoryPasswordCheck({ sealer: sealerOf(gateway), logger }),
    };
    const signIn = authenticate(gateway.context(null), 'pia', 'pia-in-the-directory', policy);
    await expect(signIn).rejects.toThrow(DirectoryUnavailableError);
    // Waiting fixes nothing: the settings must change.
    await expect(signIn).rejects.toThrow(
      'Sign-in through the campus directory is not working right now: the gateway cannot use the directory as it is set up. IT has been told.',
    );
    const problem = "the directory refused the service account: the service account's DN or password is wrong";
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        msg: `directory sign-in failed: ${problem}`,
        problem,
        cause: expect.stringMatching(/InvalidCredentialsError/),
      }),
    );
  });
});
