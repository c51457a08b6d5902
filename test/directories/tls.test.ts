import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'ldapts';
import { runAtrium } from '../helpers/cli.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, SERVICE_DN, SERVICE_PASSWORD, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { authenticate } from '../../gateway/accounts/authenticate.ts';
import { directoryPasswordCheck } from '../../gateway/directories/directory-password.ts';
import { testDirectory } from '../../gateway/directories/test-directory.ts';
import { createRateLimiter } from '../../core/rate-limit.ts';
import { createLogger } from '../../core/logger.ts';
import { asOperator, register, sealerOf, sync } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;
let certs: string;
let caFile: string;

/** A CA of the test's own and a certificate it signed for localhost (or `san`), made with openssl. */
function makeCertificates(dir: string, san = 'DNS:localhost'): { caFile: string; certFile: string; keyFile: string } {
  const file = (name: string) => join(dir, name);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Atrium test campus CA',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  ]);
  writeFileSync(file('san.ext'), `subjectAltName=${san}\n`);
  run([
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('san.ext'),
    '-out',
    file('server.pem'),
  ]);
  return { caFile: file('ca.pem'), certFile: file('server.pem'), keyFile: file('server.key') };
}

const localhost = (url: string) => url.replace('127.0.0.1', 'localhost');

beforeAll(async () => {
  certs = mkdtempSync(join(tmpdir(), 'atrium-dir-tls-'));
  const made = makeCertificates(certs);
  caFile = made.caFile;
  gateway = await startTestGateway('dir-tls', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({
    ldif: inetOrgPerson({ uid: 'yara', name: 'Yara Yilmaz', password: 'yara-in-the-directory' }),
    tls: { certFile: made.certFile, keyFile: made.keyFile },
    // Nothing but TLS: a client that skipped StartTLS could not even bind.
    databaseLines: ['security tls=1'],
  });
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
  if (certs) rmSync(certs, { recursive: true, force: true });
});

describe('a directory reached over TLS', () => {
  it('refuses a client that does not start TLS', async () => {
    const plain = new Client({ url: ldap.url });
    await expect(plain.bind(SERVICE_DN, SERVICE_PASSWORD)).rejects.toThrow(/confidentiality required|TLS/i);
    await plain.unbind();
  });

  it("is synced and signed in to over StartTLS on ldap://, trusting the registration's CA file", async () => {
    await register(gateway, 'starttls', localhost(ldap.url), { startTls: 'yes', caFile });
    const report = await sync(gateway, 'starttls');
    expect(report).toMatchObject({ outcome: 'success', added: 1 });
    const policy = {
      maxFailures: 5,
      lockoutMinutes: 10,
      ipLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
      identifierLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
      directoryPassword: directoryPasswordCheck({ sealer: sealerOf(gateway), logger: createLogger('test', 'silent') }),
    };
    const user = await authenticate(gateway.context(null), 'yara', 'yara-in-the-directory', policy);
    expect(user.username).toBe('yara');
  });

  it('is reached on ldaps:// with the CA file', async () => {
    await register(gateway, 'ldaps', localhost(ldap.ldapsUrl!), {
      startTls: undefined,
      caFile,
      unitRoot: 'campus/arts',
    });
    const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'ldaps');
    expect(result).toMatchObject({ ok: true, connected: true, people: 1 });
  });

  it('refuses a certificate it cannot trust: without the CA file, the directory counts as not answering', async () => {
    await register(gateway, 'untrusted', localhost(ldap.ldapsUrl!), { startTls: undefined });
    const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'untrusted');
    expect(result.ok).toBe(false);
    expect(result.problem).toBe(
      "the directory's TLS certificate is not signed by a CA the gateway trusts: give the PEM file of the CA " +
        'that signed it as the CA file (--ca-file)',
    );
  });

  it('says the same of StartTLS without the CA file, in sync as in test', async () => {
    await register(gateway, 'untrusted-starttls', localhost(ldap.url), { startTls: 'yes' });
    const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'untrusted-starttls');
    expect(result.problem).toMatch(
      /^the directory's TLS certificate is not signed by a CA the gateway trusts: .*--ca-file/,
    );
    const report = await sync(gateway, 'untrusted-starttls');
    expect(report.error).toBe(result.problem);
  });

  it('refuses a certificate for another name', async () => {
    // The certificate names localhost only; the same server reached as 127.0.0.1 is not the one it names.
    await register(gateway, 'wrong-name', ldap.ldapsUrl!, { startTls: undefined, caFile });
    const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'wrong-name');
    expect(result.ok).toBe(false);
    expect(result.problem).toBe(
      "the directory's TLS certificate is not made out to 127.0.0.1 (it names DNS:localhost): use a host name " +
        'the certificate names in the URL',
    );
  });
});

describe('a directory reached on the wrong port for its kind of TLS', () => {
  it('says an ldaps:// URL names a port that does not speak TLS from the start', async () => {
    await register(gateway, 'ldaps-to-plain', localhost(ldap.url).replace('ldap://', 'ldaps://'), {
      startTls: undefined,
      caFile,
    });
    const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'ldaps-to-plain');
    const at = `localhost:${new URL(ldap.url).port}`;
    expect(result.problem).toBe(
      `the directory at ${at} closed the connection when the gateway began TLS: that port does not speak TLS from ` +
        'the start. ldaps:// needs the LDAPS port (636 by default); for the plain LDAP port (389 by default) use ' +
        'ldap://, which the gateway upgrades with StartTLS',
    );
    expect((await sync(gateway, 'ldaps-to-plain')).error).toBe(result.problem);
  });

  it('says StartTLS was asked of a port that may expect TLS from the start', async () => {
    await register(gateway, 'starttls-to-ldaps', localhost(ldap.ldapsUrl!).replace('ldaps://', 'ldap://'), {
      startTls: 'yes',
      caFile,
    });
    const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'starttls-to-ldaps');
    const at = `localhost:${new URL(ldap.ldapsUrl!).port}`;
    expect(result.problem).toBe(
      `the directory at ${at} closed the connection when asked for StartTLS: that port may expect TLS from the ` +
        'start (an LDAPS port, 636 by default). Use ldaps:// for that port, or ldap:// with the plain LDAP port ' +
        '(389 by default)',
    );
    expect((await sync(gateway, 'starttls-to-ldaps')).error).toBe(result.problem);
  });
});

describe('the CA file', () => {
  it('is refused as a relative path, which the gateway would read from another folder, naming the full one', async () => {
    const given = relative(process.cwd(), caFile);
    await expect(
      register(gateway, 'relative-ca', localhost(ldap.url), { startTls: 'yes', caFile: given }),
    ).rejects.toMatchObject({
      details: {
        fields: {
          caFile: `${given} is a relative path: give it in full (from this folder, ${caFile}), since the gateway reads it from its own working directory`,
        },
      },
    });
    expect(await gateway.models.Directory.count({ where: { name: 'relative-ca' } })).toBe(0);
  });

  it('given as a relative path before that was refused, is said to be one when it cannot be read', async () => {
    await register(gateway, 'relative-ca-before', localhost(ldap.url), { startTls: 'yes', caFile });
    await gateway.models.Directory.update({ caFile: 'tls/ca.pem' }, { where: { name: 'relative-ca-before' } });
    const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'relative-ca-before');
    expect(result.problem).toMatch(/^cannot read the CA file tls\/ca\.pem: ENOENT/);
    expect(result.problem).toContain(
      ` (a relative path, so it was looked for in ${process.cwd()}): give its absolute path as the CA file (--ca-file)`,
    );
  });
});

describe('a directory reached by its IP address over StartTLS', () => {
  let byAddress: TestSlapd;
  let addressCa: string;
  beforeAll(async () => {
    const made = makeCertificates(mkdtempSync(join(certs, 'by-address-')), 'IP:127.0.0.1');
    addressCa = made.caFile;
    byAddress = await startTestSlapd({
      ldif: inetOrgPerson({ uid: 'zia', name: 'Zia Zorn' }),
      tls: { certFile: made.certFile, keyFile: made.keyFile },
      databaseLines: ['security tls=1'],
    });
  });
  afterAll(async () => byAddress?.stop());

  it('is tested and synced without Node warning of an IP address as TLS server name', async () => {
    await register(gateway, 'by-address', byAddress.url, {
      startTls: 'yes',
      caFile: addressCa,
      unitRoot: 'campus/eng',
    });
    for (const command of ['test', 'sync']) {
      const run = await runAtrium(gateway.db, ['directories', command, 'by-address']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).not.toMatch(/DEP0123|ServerName/);
    }
    expect(await gateway.models.User.count({ where: { username: 'zia' } })).toBe(1);
  });
});
