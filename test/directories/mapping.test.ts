import { describe, expect, it } from 'vitest';
import { normalizeDn, ousBelow, parseDn } from '../../gateway/directories/dn.ts';
import { unitSegment } from '../../gateway/directories/unit-of-entry.ts';
import { roleGroupLineSchema } from '../../gateway/directories/schemas.ts';

describe('reading DNs', () => {
  it('splits on unescaped commas only and unescapes values', () => {
    expect(parseDn('cn=Smith\\, Ana,ou=R\\26D,dc=campus')).toEqual([
      [{ type: 'cn', value: 'Smith, Ana' }],
      [{ type: 'ou', value: 'R&D' }],
      [{ type: 'dc', value: 'campus' }],
    ]);
    expect(parseDn('CN=Caf\\C3\\A9 Staff,OU=Groups')[0]).toEqual([{ type: 'cn', value: 'Café Staff' }]);
    expect(parseDn('cn=Ana+uid=ana,dc=campus')[0]).toEqual([
      { type: 'cn', value: 'Ana' },
      { type: 'uid', value: 'ana' },
    ]);
  });

  it('compares DNs whatever their case and spacing', () => {
    expect(normalizeDn('CN=Staff, OU=Groups, DC=Campus,DC=Test')).toBe(
      normalizeDn('cn=staff,ou=groups,dc=campus,dc=test'),
    );
    expect(normalizeDn('cn=Smith\\2C Ana,dc=campus')).toBe(normalizeDn('cn=smith\\, ana,dc=campus'));
    expect(normalizeDn('uid=ana+cn=Ana,dc=campus')).toBe(normalizeDn('cn=Ana+uid=ana,dc=campus'));
    expect(normalizeDn('cn=Boss\\20,dc=campus')).toBe(normalizeDn('cn=Boss\\ ,dc=campus'));
  });

  it('never takes a value holding an escaped separator for the DN it spells', () => {
    const real = 'cn=Boss,ou=Staff,ou=People,dc=campus';
    expect(normalizeDn('cn=Boss\\,ou=Staff,ou=People,dc=campus')).not.toBe(normalizeDn(real));
    expect(normalizeDn('cn=Boss\\2Cou=Staff,ou=People,dc=campus')).not.toBe(normalizeDn(real));
    expect(normalizeDn('cn=Boss\\+ou=Staff,ou=People,dc=campus')).not.toBe(
      normalizeDn('cn=Boss+ou=Staff,ou=People,dc=campus'),
    );
    expect(normalizeDn('cn=Boss\\ ,dc=campus')).not.toBe(normalizeDn('cn=Boss,dc=campus'));
    expect(normalizeDn('cn=\\#04,dc=campus')).not.toBe(normalizeDn('cn=#04,dc=campus'));
  });

  it('finds the OUs between the user base and an entry, top first', () => {
    expect(ousBelow('uid=ana,ou=Circulation,ou=Library,ou=People,dc=campus', 'ou=People,dc=campus')).toEqual([
      'Library',
      'Circulation',
    ]);
    expect(ousBelow('CN=Ana,CN=Users,OU=Physics,OU=People,DC=campus', 'OU=People,DC=campus')).toEqual(['Physics']);
    expect(ousBelow('uid=ana,ou=People,dc=campus', 'ou=People,dc=campus')).toEqual([]);
  });
});

describe('unit segments from directory names', () => {
  it('keeps letters and digits, lower-cased, dashes between', () => {
    expect(unitSegment('Rare Books & Maps')).toBe('rare-books-maps');
    expect(unitSegment('  Études Françaises ')).toBe('etudes-francaises');
    expect(unitSegment('***')).toBeNull();
    expect(unitSegment('x'.repeat(80))).toHaveLength(63);
  });
});

describe('role group lines', () => {
  it('reads ROLE=DN and unit-admin:UNIT=DN, the first = ending the role', () => {
    expect(roleGroupLineSchema.parse('staff=cn=Staff,ou=Groups,dc=campus')).toEqual({
      role: 'staff',
      unit: null,
      group: 'cn=Staff,ou=Groups,dc=campus',
    });
    expect(roleGroupLineSchema.parse('unit-admin:campus/library=cn=Lib,dc=campus')).toEqual({
      role: 'unit-admin',
      unit: 'campus/library',
      group: 'cn=Lib,dc=campus',
    });
  });

  it('refuses an unknown role, a unit-admin without a unit, and a line without a DN', () => {
    expect(roleGroupLineSchema.safeParse('boss=cn=x,dc=campus').success).toBe(false);
    expect(roleGroupLineSchema.safeParse('unit-admin=cn=x,dc=campus').success).toBe(false);
    expect(roleGroupLineSchema.safeParse('staff').success).toBe(false);
    expect(roleGroupLineSchema.safeParse('staff=not a dn').success).toBe(false);
  });
});
