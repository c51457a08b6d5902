import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { personOf, register, sync } from './fixtures.ts';

/**
 * A name typed into Atrium with a control or bidi character is refused (core/plain-names.ts); one a
 * directory gives is its word: taken without those characters, never refused, so its person still comes in.
 */
let gateway: TestGateway;
let ldap: TestSlapd;

const people = [
  { uid: 'mallory', name: 'Mallory \u202Eevil', ous: ['Lab \u202Eone'] },
  { uid: 'nora', name: 'Nora\nPike', ous: ['Lab \u202Eone'] },
  { uid: 'zero', name: '\u200B\u2066\u2069', ous: ['Lab \u202Eone'] },
];

beforeAll(async () => {
  gateway = await startTestGateway('dir-control-names');
  ldap = await startTestSlapd({
    ldif: [ouLdif(people.map((p) => p.ous)), ...people.map((p) => inetOrgPerson(p))].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('names a directory gives with control or bidi characters', () => {
  it('are synced without them, a name that shows nothing as the username, and nobody is refused', async () => {
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.refused).toEqual([]);
    expect(report.added).toBe(people.length);
    const names = await Promise.all(people.map(async (p) => (await personOf(gateway, p.uid))!.user.displayName));
    expect(names).toEqual(['Mallory evil', 'Nora Pike', 'zero']);
    const unit = await gateway.models.OrgUnit.findOne({ where: { path: 'campus/lab-one' } });
    expect(unit?.name).toBe('Lab one');
    expect((await sync(gateway, 'campus-ldap')).unchanged).toBe(people.length);
  });
});
