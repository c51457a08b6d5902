import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator } from '../../core/migrator.ts';
import { reloadConsoleActor } from '../../gateway/accounts/console-access.ts';
import { adminScopeOf } from '../../gateway/accounts/scope.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { group, groupDn, inetOrgPerson, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { personOf, register, sync } from './fixtures.ts';

/**
 * Upgrading to the version that tells a unit admin's administered units apart from their memberships
 * (migration 0014): nothing recorded which of a directory person's memberships came from a unit-admin
 * group, so they administer nothing until the directory's next sync; a local unit admin keeps every unit.
 */
let gateway: TestGateway;
let ldap: TestSlapd;
const tess = { uid: 'tess', name: 'Tess Torres' };

/** What the console admits the person to: null when it does not let them in at all. */
const scopeOf = async (username: string) => {
  const user = await gateway.models.User.findOne({ where: { username } });
  const actor = await reloadConsoleActor(gateway.context(null), user!.id);
  return actor && adminScopeOf(actor);
};

beforeAll(async () => {
  gateway = await startTestGateway('dir-upgrade');
  ldap = await startTestSlapd({ ldif: [inetOrgPerson(tess), group('library-admins', [personDn(tess)])].join('\n') });
  await register(gateway, 'campus-ldap', ldap.url, {
    roleGroups: [`unit-admin:campus/library=${groupDn('library-admins')}`],
  });
  expect((await sync(gateway, 'campus-ldap')).added).toBe(1);
  expect(await scopeOf('tess')).toEqual({ all: false, roots: ['campus/library'] });

  // Back to the schema before 0014, with the memberships a sync and the demo seed wrote, then upgraded.
  const migrator = createMigrator(gateway.sequelize, 'gateway');
  await migrator.down({ to: '0014-administered-units.ts' });
  await expect(gateway.sequelize.query('SELECT administers FROM memberships')).rejects.toThrow();
  await migrator.up();
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('upgrading to administered units', () => {
  it("leaves a directory's unit admin administering nothing until the directory's next sync", async () => {
    expect((await personOf(gateway, 'tess'))!.units).toEqual(['campus', 'campus/library']);
    expect(await scopeOf('tess')).toBeNull();

    await sync(gateway, 'campus-ldap');
    expect(await scopeOf('tess')).toEqual({ all: false, roots: ['campus/library'] });
  });

  it('leaves a local unit admin administering every unit they are a member of', async () => {
    expect(await scopeOf('eng-admin')).toEqual({ all: false, roots: ['campus/eng'] });
  });
});
