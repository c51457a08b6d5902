import { createServer, connect, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { group, groupDn, inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { alertOf, passedLogin, register, type SignInGateway, startSignInGateway } from './fixtures.ts';

/**
 * What a first sign-in costs the directory: the role groups' member lists (on a campus, tens of thousands
 * of names each) are read only for an entry that may sign in, not for every try of one that is refused.
 */
const STUDENTS = 3_000;
let gateway: TestGateway;
let attempt: SignInGateway['attempt'];
let ldap: TestSlapd;
let relay: Server;
/** Bytes the directory sent the gateway, through the relay in front of it. */
let fromDirectory = 0;

const person = (uid: string, name: string, mail?: null) => ({
  uid,
  name,
  password: `${uid}-directory-pw`,
  ous: ['Library'],
  mail,
});
const nia = person('nia', 'Nia Nolan');
/** An entry without an email, which no sync can make a person of. */
const ned = person('ned', 'Ned Nash', null);

/** A TCP relay in front of slapd that counts what the directory answers. */
async function startCountingRelay(target: URL): Promise<string> {
  relay = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    outbound.on('data', (chunk: Buffer) => {
      fromDirectory += chunk.length;
    });
    inbound.pipe(outbound).pipe(inbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return `ldap://127.0.0.1:${(relay.address() as AddressInfo).port}`;
}

/** A sign-in's page, and the bytes the directory sent while it ran. */
async function measured(username: string, password: string) {
  const before = fromDirectory;
  const page = await attempt(username, password);
  return { page, bytes: fromDirectory - before };
}

beforeAll(async () => {
  ({ gateway, attempt } = await startSignInGateway('dir-first-sign-in-load', 'Reading List', 5));
  const students = Array.from({ length: STUDENTS }, (_, i) => personDn({ uid: `student${i}`, ous: ['Library'] }));
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Library']]),
      inetOrgPerson(nia),
      inetOrgPerson(ned),
      group('students', [...students, personDn(nia), personDn(ned)]),
    ].join('\n'),
  });
  const url = await startCountingRelay(new URL(ldap.url));
  await register(gateway, 'campus-ldap', url, { roleGroups: [`student=${groupDn('students')}`] });
});
afterAll(async () => {
  relay?.close();
  await ldap?.stop();
  await gateway?.stop();
});

describe('a first sign-in', () => {
  it('reads the role groups for an entry that may sign in, and not for one that is refused', async () => {
    const memberList = STUDENTS * personDn({ uid: 'student0', ous: ['Library'] }).length;

    const admitted = await measured('nia', nia.password);
    expect(passedLogin(admitted.page)).toBe(true);
    expect(admitted.bytes).toBeGreaterThan(memberList);

    const refused = await measured('ned', ned.password);
    expect(alertOf(refused.page)).toMatch(/IT/);
    expect(refused.bytes).toBeLessThan(memberList / 10);
  });
});
