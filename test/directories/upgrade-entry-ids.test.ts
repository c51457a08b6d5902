import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator } from '../../core/migrator.ts';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { adUser, inetOrgPerson, PEOPLE, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { personOf, register, sync } from './fixtures.ts';

/**
 * Upgrading to the version whose links keep their entry's id (migration 0015): each registration gets
 * its preset's id attribute, and the links, which had none, take their entry's at the next sync, found by
 * username as before; nobody is disabled on the way.
 */
let gateway: TestGateway;
let ldap: TestSlapd;
let ad: TestSlapd;

const idsOf = async () =>
  (await gateway.models.DirectoryAccount.findAll({ order: [['dn', 'ASC']] })).map((l) => l.entryId);

beforeAll(async () => {
  gateway = await startTestGateway('dir-upgrade-ids');
  ldap = await startTestSlapd({
    ldif: [inetOrgPerson({ uid: 'uli', name: 'Uli Ufer' }), inetOrgPerson({ uid: 'wren', name: 'Wren Wolf' })].join(
      '\n',
    ),
  });
  ad = await startTestSlapd({ activeDirectoryLike: true, ldif: adUser({ uid: 'vala', name: 'Vala Voss' }) });
  await register(gateway, 'campus-ldap', ldap.url);
  await register(gateway, 'campus-ad', ad.url, { preset: 'active-directory' });
  expect((await sync(gateway, 'campus-ldap')).added).toBe(2);
  expect((await sync(gateway, 'campus-ad')).added).toBe(1);

  // Back to the schema before 0015, with the links and registrations a sync wrote, then upgraded.
  const migrator = createMigrator(gateway.sequelize, 'gateway');
  await migrator.down({ to: '0015-directory-entry-ids.ts' });
  await expect(gateway.sequelize.query('SELECT entry_id FROM directory_accounts')).rejects.toThrow();
  const [rows] = await gateway.sequelize.query('SELECT settings FROM directories');
  for (const row of rows as { settings: string }[]) expect(JSON.parse(row.settings)).not.toHaveProperty('idAttribute');
  await migrator.up();
});
afterAll(async () => {
  await ldap?.stop();
  await ad?.stop();
  await gateway?.stop();
});

describe('upgrading to entry ids', () => {
  it("gives each registration its preset's id attribute", async () => {
    const settingsOf = async (name: string) =>
      directorySettingsOf((await gateway.models.Directory.findOne({ where: { name } }))!);
    expect((await settingsOf('campus-ldap')).idAttribute).toBe('entryUUID');
    expect((await settingsOf('campus-ad')).idAttribute).toBe('objectGUID');
  });

  it('lets the links take their ids at the next sync, and disables nobody', async () => {
    expect(await idsOf()).toEqual([null, null, null]);
    // Wren's entry cannot be read at that sync (no mail): her link has no id yet, and her DN still finds her.
    // An entry added with her username is not taken for her: an entry still sits at her link's DN.
    await ldap.replace(personDn({ uid: 'wren' }), 'mail', []);
    await ldap.addEntry(`cn=mallory,${PEOPLE}`, {
      objectClass: 'inetOrgPerson',
      cn: 'mallory',
      sn: 'Mallory',
      uid: 'wren',
      mail: 'mallory@campus.test',
    });
    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'success', disabled: 0, refused: 2 });
    expect(report.names.refused).toContainEqual({
      username: 'wren',
      dn: `cn=mallory,${PEOPLE}`,
      reason: `the person with this username is the entry at ${personDn({ uid: 'wren' })}, which is still there; not merged`,
    });
    expect(await sync(gateway, 'campus-ad')).toMatchObject({ outcome: 'success', disabled: 0, refused: 0 });
    expect(await idsOf()).toEqual([
      expect.stringMatching(/^[0-9a-f]{32}$/),
      expect.stringMatching(/^[0-9a-f]{72}$/),
      null,
    ]);
    expect((await personOf(gateway, 'uli'))!.status).toBe('active');
    expect((await personOf(gateway, 'wren'))!).toMatchObject({ status: 'active' });
    expect((await personOf(gateway, 'wren'))!.user.email).toBe('wren@campus.test');
    const wren = await gateway.models.User.findOne({ where: { username: 'wren' } });
    expect((await gateway.models.DirectoryAccount.findByPk(wren!.id))!.dn).toBe(personDn({ uid: 'wren' }));
    expect((await personOf(gateway, 'vala'))!.status).toBe('active');
  });
});
