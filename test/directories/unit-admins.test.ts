import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { group, groupDn, inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { reloadConsoleActor } from '../../gateway/accounts/console-access.ts';
import { adminScopeOf, scopeCovers } from '../../gateway/accounts/scope.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { operator } from '../../gateway/context.ts';
import { personOf, register, sync } from './fixtures.ts';

/**
 * A `unit-admin:UNIT` group makes its members administrators of that unit: of it alone, not of the unit
 * their own entry places them in (for someone in no OU, the whole campus).
 */
let gateway: TestGateway;
let ldap: TestSlapd;

// tess is in no OU (so her unit is the unit root, campus); una is in the Library, the unit she administers.
const tess = { uid: 'tess', name: 'Tess Torres' };
const una = { uid: 'una', name: 'Una Umar', ous: ['Library'] };
const sid = { uid: 'sid', name: 'Sid Sato', ous: ['Science'] };
const lou = { uid: 'lou', name: 'Lou Lund', ous: ['Library'] };

const scopeOf = async (username: string) => {
  const person = (await personOf(gateway, username))!;
  const actor = (await reloadConsoleActor(gateway.context(null), person.user.id))!;
  return { actor, scope: adminScopeOf(actor) };
};

beforeAll(async () => {
  gateway = await startTestGateway('dir-unit-admins');
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Library'], ['Science']]),
      ...[tess, una, sid, lou].map((p) => inetOrgPerson(p)),
      group('library-admins', [personDn(tess), personDn(una)]),
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url, {
    roleGroups: [`unit-admin:campus/library=${groupDn('library-admins')}`],
  });
  expect((await sync(gateway, 'campus-ldap')).added).toBe(4);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('a unit-admin group for campus/library', () => {
  it('makes its members administrators of campus/library only, not of the unit their own OU places them in', async () => {
    expect(await personOf(gateway, 'tess')).toMatchObject({
      roles: ['student', 'unit-admin'],
      units: ['campus', 'campus/library'],
    });
    const { scope } = await scopeOf('tess');
    expect(scope).toEqual({ all: false, roots: ['campus/library'] });
    expect(scopeCovers(scope, 'campus/library')).toBe(true);
    expect(scopeCovers(scope, 'campus/science')).toBe(false);
  });

  it('makes a member whose own OU is that unit its administrator', async () => {
    expect(await personOf(gateway, 'una')).toMatchObject({ units: ['campus/library'] });
    expect((await scopeOf('una')).scope).toEqual({ all: false, roots: ['campus/library'] });
  });

  it('does not let a member disable a person of another unit, and lets them manage one of the library', async () => {
    const { actor } = await scopeOf('tess');
    // Someone outside the scope is not there at all for a unit admin.
    await expect(updateUser({ ...gateway.context(null), actor }, 'sid', { status: 'disabled' })).rejects.toThrow(
      /No such user/,
    );
    expect((await personOf(gateway, 'sid'))!.status).toBe('active');
    await updateUser({ ...gateway.context(null), actor }, 'lou', { displayName: 'Lou Lundqvist' });
    expect((await personOf(gateway, 'lou'))!.user.displayName).toBe('Lou Lundqvist');
  });

  it("takes back, at the next sync, administration of a member's own unit that was granted before", async () => {
    // Memberships as a sync wrote them before it told administered units apart.
    const tessId = (await personOf(gateway, 'tess'))!.user.id;
    await gateway.models.Membership.update({ administers: true }, { where: { userId: tessId } });
    expect(scopeCovers((await scopeOf('tess')).scope, 'campus/science')).toBe(true);
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.updated).toContain('tess');
    expect((await scopeOf('tess')).scope).toEqual({ all: false, roots: ['campus/library'] });
  });
});

describe("an edit of a unit-admin group member's units in Atrium", () => {
  it('keeps what they administer: a unit they stay in keeps its flag, a new one is not administered', async () => {
    const actor = operator('test');
    await updateUser({ ...gateway.context(null), actor }, 'tess', {
      units: ['campus', 'campus/library', 'campus/science'],
    });
    expect((await personOf(gateway, 'tess'))!.units).toEqual(['campus', 'campus/library', 'campus/science']);
    expect((await scopeOf('tess')).scope).toEqual({ all: false, roots: ['campus/library'] });
    // The directory sets their units: its next sync takes the one given here back.
    await sync(gateway, 'campus-ldap');
    expect((await personOf(gateway, 'tess'))!.units).toEqual(['campus', 'campus/library']);
  });
});

describe('a local unit admin', () => {
  it('administers a unit given to them in Atrium', async () => {
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'eng-admin', {
      units: ['campus/eng', 'campus/library'],
    });
    const engAdmin = await gateway.models.User.findOne({ where: { username: 'eng-admin' } });
    const actor = (await reloadConsoleActor(gateway.context(null), engAdmin!.id))!;
    expect(scopeCovers(adminScopeOf(actor), 'campus/library')).toBe(true);
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'eng-admin', { units: ['campus/eng'] });
  });

  it('still administers every unit they are a member of', async () => {
    const engAdmin = await gateway.models.User.findOne({ where: { username: 'eng-admin' } });
    const actor = (await reloadConsoleActor(gateway.context(null), engAdmin!.id))!;
    expect(actor.roles).toContain('unit-admin');
    const scope = adminScopeOf(actor);
    expect(scopeCovers(scope, 'campus/eng/cs')).toBe(true);
    expect(scopeCovers(scope, 'campus/arts')).toBe(false);
  });
});
