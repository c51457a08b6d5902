import { domainToUnicode } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUnit } from '../../gateway/accounts/units.ts';
import { testDirectory } from '../../gateway/directories/test-directory.ts';
import { earlierUnitSegment, unitSegment } from '../../gateway/directories/unit-of-entry.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import {
  asOperator,
  type DirectoryPerson,
  passedLogin,
  personOf,
  register,
  sealerOf,
  type SignInGateway,
  startSignInGateway,
  sync,
} from './fixtures.ts';

/**
 * Every OU name gives its people a unit: Latin names folded as people search them (Straße → strasse), names
 * in other scripts spelled as IDNA spells a domain label (中文系 → xn--fiq228cwsq), the unit named as the OU
 * is. Units earlier versions made under their own spelling (stra-e) keep their people.
 */
let gateway: TestGateway;
let attempt: SignInGateway['attempt'];
let ldap: TestSlapd;
let older: TestSlapd;

const person = (uid: string, name: string, ous: string[]): DirectoryPerson => ({
  uid,
  name,
  password: `${uid}-directory-pw`,
  ous,
});
const wang = person('wang.fang', '王芳', ['College of Arts', '中文系']);
const zhao = person('zhao.lei', '赵磊', ['College of Arts', '中文系']);
const others = [
  person('ivan', 'Иван Петров', ['Физика']),
  person('eleni', 'Ελένη Παππά', ['Φυσική']),
  person('anja', 'Anja Weiß', ['Straße']),
  person('odile', 'Odile Roux', ['Œuvres']),
  person('lech', 'Lech Nowak', ['Łódź']),
  person('mei', 'Mei Lin', ['Physics 物理']),
];
const ldif = (people: DirectoryPerson[]) =>
  [ouLdif(people.map((p) => p.ous)), ...people.map((p) => inetOrgPerson(p))].join('\n');

beforeAll(async () => {
  ({ gateway, attempt } = await startSignInGateway('dir-unit-names', 'Unit Names App', 5));
  ldap = await startTestSlapd({ ldif: ldif([wang, zhao, ...others]) });
  await register(gateway, 'campus-ldap', ldap.url);
});
afterAll(async () => {
  await older?.stop();
  await ldap?.stop();
  await gateway?.stop();
});

describe('unit segments of OU names', () => {
  it('folds Latin letters as a search does, and spells other scripts as IDNA does, within the path rules', () => {
    expect(unitSegment('Straße')).toBe('strasse');
    expect(unitSegment('Œuvres')).toBe('oeuvres');
    expect(unitSegment('Łódź')).toBe('lodz');
    expect(unitSegment('  Études Françaises ')).toBe('etudes-francaises');
    expect(unitSegment('Rare Books & Maps')).toBe('rare-books-maps');
    expect(unitSegment('中文系')).toBe('xn--fiq228cwsq');
    expect(unitSegment('Физика')).toBe('xn--80ancbk0d');
    // Greek capitals are written without their accents: the same unit either way.
    expect(unitSegment('ΦΥΣΙΚΗ')).toBe(unitSegment('Φυσική'));
    expect(unitSegment('***')).toBeNull();
    for (const name of ['中文系', 'Физика', 'हिन्दी विभाग', 'قسم الفيزياء cs', 'Physics 物理', '経済学部'.repeat(20)]) {
      const segment = unitSegment(name)!;
      expect(segment).toMatch(/^[a-z0-9][a-z0-9-]{0,62}$/);
      expect(unitSegment(name)).toBe(segment);
      expect(domainToUnicode(segment)).not.toBe('');
    }
    expect(domainToUnicode(unitSegment('中文系')!)).toBe('中文系');
    expect(domainToUnicode(unitSegment('Physics 物理')!)).toBe('physics-物理');
  });
});

describe('a directory with OUs named in any script', () => {
  it('signs in someone of 中文系 before any sync, in a unit named 中文系', async () => {
    expect(passedLogin(await attempt(wang.uid, wang.password))).toBe(true);
    expect((await personOf(gateway, wang.uid))!.units).toEqual(['campus/college-of-arts/xn--fiq228cwsq']);
  });

  it('syncs everyone into units named as their OUs, and shows those units in a test', async () => {
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.refused).toEqual([]);
    expect(report.added).toBe(1 + others.length);
    const units = new Map(
      (await Promise.all([zhao, ...others].map((p) => personOf(gateway, p.uid)))).map((p) => [
        p!.user.username,
        p!.units,
      ]),
    );
    expect(Object.fromEntries(units)).toEqual({
      'zhao.lei': ['campus/college-of-arts/xn--fiq228cwsq'],
      ivan: ['campus/xn--80ancbk0d'],
      eleni: [`campus/${unitSegment('Φυσική')}`],
      anja: ['campus/strasse'],
      odile: ['campus/oeuvres'],
      lech: ['campus/lodz'],
      mei: [`campus/${unitSegment('Physics 物理')}`],
    });
    const named = await gateway.models.OrgUnit.findAll();
    const nameOf = (path: string) => named.find((u) => u.path === path)?.name;
    expect(nameOf('campus/college-of-arts/xn--fiq228cwsq')).toBe('中文系');
    expect(nameOf('campus/xn--80ancbk0d')).toBe('Физика');
    expect(nameOf('campus/strasse')).toBe('Straße');

    const test = await testDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap');
    expect(test.problem).toBeNull();
    expect(test.sample.map((p) => ('unit' in p ? p.unit : p.reason))).toContain(
      'campus/college-of-arts/xn--fiq228cwsq',
    );
    expect((await sync(gateway, 'campus-ldap')).unchanged).toBe(2 + others.length);
  });
});

describe('units an earlier version made under its own spelling of OU names', () => {
  it('keep their people, and no second unit is made beside them', async () => {
    // What syncs before this version left: units at the earlier spelling, one made by another OU (Strasse)
    // at the new spelling of Straße.
    const ctx = asOperator(gateway);
    await createUnit(ctx, { path: 'older', name: 'Older campus' });
    const earlier = [
      ['Straße', 'older/stra-e'],
      ['Strasse', 'older/strasse'],
      ['Œuvres', 'older/uvres'],
      ['Physics 物理', 'older/physics'],
    ] as const;
    for (const [name, path] of earlier) {
      expect(`older/${earlierUnitSegment(name)}`).toBe(path);
      await createUnit(ctx, { path, name });
    }
    const people = [
      person('stefan', 'Stefan Weiß', ['Straße']),
      person('simon', 'Simon Strass', ['Strasse']),
      person('oscar', 'Oscar Roux', ['Œuvres']),
      person('ming', 'Ming Li', ['Physics 物理']),
      person('lukas', 'Lukas Nowak', ['Łódź']),
    ];
    older = await startTestSlapd({ ldif: ldif(people) });
    await register(gateway, 'older-ldap', older.url, { unitRoot: 'older' });
    const units = await gateway.models.OrgUnit.count();

    const report = await sync(gateway, 'older-ldap');
    expect(report.added).toBe(people.length);
    // Only Łódź had no unit yet, and gets the new spelling.
    expect(report.unitsCreated).toBe(1);
    expect(await gateway.models.OrgUnit.count()).toBe(units + 1);
    const placed = await Promise.all(people.map(async (p) => (await personOf(gateway, p.uid))!.units[0]));
    expect(placed).toEqual(['older/stra-e', 'older/strasse', 'older/uvres', 'older/physics', 'older/lodz']);
    expect((await sync(gateway, 'older-ldap')).unchanged).toBe(people.length);
  });
});
