/**
 * The benchmark's campus directory, as LDIF for `slapadd -q`: colleges and their departments as OUs,
 * people spread over the departments, a staff group with every tenth person and an admins group.
 */
export const SUFFIX = 'dc=bench,dc=campus,dc=test';
export const PEOPLE = `ou=People,${SUFFIX}`;
export const SERVICE_DN = `cn=atrium,ou=Services,${SUFFIX}`;
export const STAFF_GROUP = `cn=staff,ou=Groups,${SUFFIX}`;
export const ADMINS_GROUP = `cn=admins,ou=Groups,${SUFFIX}`;

export type Shape = { people: number; colleges: number; departmentsPerCollege: number };

const record = (dn: string, attributes: [string, string][]) =>
  [`dn: ${dn}`, ...attributes.map(([k, v]) => `${k}: ${v}`), ''].join('\n');
const college = (c: number) => `College ${String(c + 1).padStart(2, '0')}`;
const department = (c: number, d: number) =>
  `Department ${String(c + 1).padStart(2, '0')}-${String(d + 1).padStart(2, '0')}`;

export function personUid(i: number): string {
  return `p${String(i).padStart(6, '0')}`;
}

export function personDnOf(i: number, shape: Shape): string {
  const units = shape.colleges * shape.departmentsPerCollege;
  const u = i % units;
  const c = Math.floor(u / shape.departmentsPerCollege);
  const d = u % shape.departmentsPerCollege;
  return `uid=${personUid(i)},ou=${department(c, d)},ou=${college(c)},${PEOPLE}`;
}

export function benchLdif(
  shape: Shape,
  servicePassword: string,
  personPassword: string,
): { ldif: string; ous: number } {
  const out: string[] = [
    record(SUFFIX, [
      ['objectClass', 'dcObject'],
      ['objectClass', 'organization'],
      ['o', 'Atrium benchmark campus'],
      ['dc', 'bench'],
    ]),
    record(`ou=Services,${SUFFIX}`, [
      ['objectClass', 'organizationalUnit'],
      ['ou', 'Services'],
    ]),
    record(SERVICE_DN, [
      ['objectClass', 'inetOrgPerson'],
      ['cn', 'atrium'],
      ['sn', 'Atrium'],
      ['userPassword', servicePassword],
    ]),
    record(PEOPLE, [
      ['objectClass', 'organizationalUnit'],
      ['ou', 'People'],
    ]),
    record(`ou=Groups,${SUFFIX}`, [
      ['objectClass', 'organizationalUnit'],
      ['ou', 'Groups'],
    ]),
  ];
  let ous = 0;
  for (let c = 0; c < shape.colleges; c++) {
    out.push(
      record(`ou=${college(c)},${PEOPLE}`, [
        ['objectClass', 'organizationalUnit'],
        ['ou', college(c)],
      ]),
    );
    ous += 1;
    for (let d = 0; d < shape.departmentsPerCollege; d++) {
      out.push(
        record(`ou=${department(c, d)},ou=${college(c)},${PEOPLE}`, [
          ['objectClass', 'organizationalUnit'],
          ['ou', department(c, d)],
        ]),
      );
      ous += 1;
    }
  }
  for (let i = 0; i < shape.people; i++) {
    const uid = personUid(i);
    out.push(
      record(personDnOf(i, shape), [
        ['objectClass', 'inetOrgPerson'],
        ['uid', uid],
        ['cn', `Person ${i}`],
        ['sn', `P${i}`],
        ['displayName', `Person ${i}`],
        ['mail', `${uid}@bench.campus.test`],
        ['userPassword', personPassword],
      ]),
    );
  }
  const members = (every: number, limit: number) =>
    Array.from(
      { length: Math.min(limit, Math.ceil(shape.people / every)) },
      (_, k) => ['member', personDnOf(k * every, shape)] as [string, string],
    );
  out.push(
    record(STAFF_GROUP, [['objectClass', 'groupOfNames'], ['cn', 'staff'], ...members(10, Number.MAX_SAFE_INTEGER)]),
  );
  out.push(record(ADMINS_GROUP, [['objectClass', 'groupOfNames'], ['cn', 'admins'], ...members(4_001, 5)]));
  return { ldif: out.join('\n'), ous };
}
