import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { FORMER, inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { asOperator, personOf, register, sync } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;
const uma = { uid: 'uma', name: 'Uma Urban', password: 'uma-directory-pw', ous: ['Library'] };
const wes = { uid: 'wes', name: 'Wes Weller', password: 'wes-directory-pw', ous: ['Library'] };
// A third person keeps the directory from looking empty when the others leave it.
const vic = { uid: 'vic', name: 'Vic Vance', password: 'vic-directory-pw', ous: ['Library'] };

// Leaving is a move out of the user base, coming back the move back: the same entry, so the same person.
const formerDn = (person: typeof uma) => `uid=${person.uid},${FORMER}`;
const leaveDirectory = (person: typeof uma) => ldap.moveEntry(personDn(person), formerDn(person));
const backInDirectory = (person: typeof uma) => ldap.moveEntry(formerDn(person), personDn(person));

beforeAll(async () => {
  gateway = await startTestGateway('dir-admin-status');
  ldap = await startTestSlapd({
    ldif: [ouLdif([['Library']]), inetOrgPerson(uma), inetOrgPerson(wes), inetOrgPerson(vic)].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url);
  expect((await sync(gateway, 'campus-ldap')).added).toBe(3);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe("a directory person's status set by an administrator", () => {
  it('stays disabled whatever the directory says, even for someone the sync had once disabled', async () => {
    await leaveDirectory(uma);
    expect((await sync(gateway, 'campus-ldap')).names.disabled).toEqual(['uma']);
    // An administrator enables her in Atrium; she comes back in the directory.
    await updateUser(asOperator(gateway), 'uma', { status: 'active' });
    await backInDirectory(uma);
    expect((await sync(gateway, 'campus-ldap')).reenabled).toBe(0);
    expect((await personOf(gateway, 'uma'))!.status).toBe('active');

    // Later an administrator disables her on purpose: the next sync leaves her so.
    await updateUser(asOperator(gateway), 'uma', { status: 'disabled' });
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.reenabled).toEqual([]);
    expect((await personOf(gateway, 'uma'))!.status).toBe('disabled');
  });

  it('is not set by editing their profile: someone the sync disabled is enabled when they come back', async () => {
    await leaveDirectory(wes);
    expect((await sync(gateway, 'campus-ldap')).names.disabled).toEqual(['wes']);
    // The console's form sends the status with every edit, unchanged here.
    await updateUser(asOperator(gateway), 'wes', { displayName: 'Wes W.', status: 'disabled' });
    await backInDirectory(wes);
    expect((await sync(gateway, 'campus-ldap')).names.reenabled).toEqual(['wes']);
    expect((await personOf(gateway, 'wes'))!.status).toBe('active');
  });
});
