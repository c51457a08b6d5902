import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Attribute, Change, Client } from 'ldapts';
import { SLAPD_INSTALL_HINT, slapdInstalled, startPrivateSlapd, type PrivateSlapd } from '../../cli/private-slapd.ts';

/**
 * A real OpenLDAP server per test file (cli/private-slapd.ts), loaded with LDIF the test writes.
 * `activeDirectoryLike` adds the tests' own schema of AD's attributes (ad-lite.schema: sAMAccountName,
 * userAccountControl, memberOf, department, objectGUID, accountExpires; a `group` class whose entries carry
 * memberOf too) and gives the service account AD's 1,000-entry page limit.
 */

export const SUFFIX = 'dc=campus,dc=test';
export const PEOPLE = `ou=People,${SUFFIX}`;
export const GROUPS = `ou=Groups,${SUFFIX}`;
/** Outside the user base: an entry moved here is gone for the sync, and is the same entry when moved back. */
export const FORMER = `ou=Former,${SUFFIX}`;
export const SERVICE_DN = `cn=atrium,ou=Services,${SUFFIX}`;
export const SERVICE_PASSWORD = 'service-account-secret';
const ROOT_PASSWORD = 'root-secret';
const AD_SCHEMA = fileURLToPath(new URL('./ad-lite.schema', import.meta.url));
/** 389 Directory Server's (and Oracle's, FreeIPA's) account lock, `nsAccountLock: TRUE`, for the tests' slapd. */
export const DS389_SCHEMA = fileURLToPath(new URL('./ds389-lite.schema', import.meta.url));

/** Fails (never skips) a test file that needs slapd on a machine without it, saying how to get it. */
export function requireSlapd(): void {
  if (!slapdInstalled())
    throw new Error(
      `These tests need OpenLDAP's slapd, which is not installed. Install it with: ${SLAPD_INSTALL_HINT}`,
    );
}

export type TestSlapd = PrivateSlapd & {
  /** A client bound as the root DN, to change the directory under the gateway's feet. */
  admin<T>(work: (client: Client) => Promise<T>): Promise<T>;
  addEntry(dn: string, attributes: Record<string, string | string[] | Buffer>): Promise<void>;
  removeEntry(dn: string): Promise<void>;
  /** Gives an entry a new DN (another RDN, another parent, or both); it stays the same entry, id and all. */
  moveEntry(dn: string, newDn: string): Promise<void>;
  replace(dn: string, attribute: string, values: string[]): Promise<void>;
};

export async function startTestSlapd(options: {
  ldif: string;
  activeDirectoryLike?: boolean;
  tls?: { certFile: string; keyFile: string };
  databaseLines?: string[];
  /** More schema files (DS389_SCHEMA). */
  schemaFiles?: string[];
}): Promise<TestSlapd> {
  requireSlapd();
  const slapd = await startPrivateSlapd({
    suffix: SUFFIX,
    rootPassword: ROOT_PASSWORD,
    schemaFiles: [...(options.activeDirectoryLike ? [AD_SCHEMA] : []), ...(options.schemaFiles ?? [])],
    databaseLines: [
      options.activeDirectoryLike
        ? `limits dn.exact="${SERVICE_DN}" size.soft=1000 size.hard=1000 size.pr=1000 size.prtotal=unlimited`
        : `limits dn.exact="${SERVICE_DN}" size=unlimited`,
      ...(options.databaseLines ?? []),
    ],
    tls: options.tls,
    ldif: `${baseLdif()}\n${options.ldif}`,
  });
  const admin = async <T>(work: (client: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ url: slapd.url, timeout: 5000, connectTimeout: 5000 });
    await client.bind(slapd.rootDn, ROOT_PASSWORD);
    try {
      return await work(client);
    } finally {
      await client.unbind();
    }
  };
  return Object.assign(slapd, {
    admin,
    addEntry: (dn: string, attributes: Record<string, string | string[] | Buffer>) =>
      admin((c) =>
        c.add(
          dn,
          Object.entries(attributes).map(
            ([type, v]) => new Attribute({ type, values: Buffer.isBuffer(v) ? [v] : Array.isArray(v) ? v : [v] }),
          ),
        ),
      ),
    removeEntry: (dn: string) => admin((c) => c.del(dn)),
    moveEntry: (dn: string, newDn: string) => admin((c) => c.modifyDN(dn, newDn)),
    replace: (dn: string, attribute: string, values: string[]) =>
      admin((c) =>
        c.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: attribute, values }) })),
      ),
  });
}

function baseLdif(): string {
  return [
    entry(SUFFIX, { objectClass: ['dcObject', 'organization'], o: 'Atrium test campus', dc: 'campus' }),
    entry(`ou=Services,${SUFFIX}`, { objectClass: 'organizationalUnit', ou: 'Services' }),
    entry(SERVICE_DN, { objectClass: 'inetOrgPerson', cn: 'atrium', sn: 'Atrium', userPassword: SERVICE_PASSWORD }),
    entry(PEOPLE, { objectClass: 'organizationalUnit', ou: 'People' }),
    entry(GROUPS, { objectClass: 'organizationalUnit', ou: 'Groups' }),
    entry(FORMER, { objectClass: 'organizationalUnit', ou: 'Former' }),
  ].join('\n');
}

/** One LDIF record; values that LDIF cannot hold as plain text are written base64 (`attr:: …`). */
export function entry(dn: string, attributes: Record<string, string | string[] | Buffer>): string {
  const lines = [line('dn', dn)];
  for (const [name, value] of Object.entries(attributes))
    for (const v of Array.isArray(value) ? value : [value])
      lines.push(Buffer.isBuffer(v) ? `${name}:: ${v.toString('base64')}` : line(name, v));
  return `${lines.join('\n')}\n`;
}

function line(name: string, value: string): string {
  const safe =
    /^[\x01-\x09\x0b-\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b-\x0c\x0e-\x7f]*$/.test(value) &&
    !value.endsWith(' ');
  return safe ? `${name}: ${value}` : `${name}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

export type LdifPerson = {
  uid: string;
  name?: string;
  mail?: string | null;
  password?: string;
  ous?: string[];
  extra?: Record<string, string | string[]>;
};

/** The DN of a person in the OU path `ous` (top first) below ou=People. */
export function personDn(p: Pick<LdifPerson, 'uid' | 'ous'>, rdn = 'uid'): string {
  return [`${rdn}=${p.uid}`, ...[...(p.ous ?? [])].reverse().map((ou) => `ou=${ou}`), PEOPLE].join(',');
}

/** OUs below ou=People, parents first, each once. */
export function ouLdif(paths: string[][]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const path of paths) {
    for (let i = 1; i <= path.length; i++) {
      const dn = [...path.slice(0, i)]
        .reverse()
        .map((ou) => `ou=${ou}`)
        .concat(PEOPLE)
        .join(',');
      if (seen.has(dn)) continue;
      seen.add(dn);
      out.push(entry(dn, { objectClass: 'organizationalUnit', ou: path[i - 1]! }));
    }
  }
  return out.join('\n');
}

/** An inetOrgPerson (OpenLDAP style). */
export function inetOrgPerson(p: LdifPerson): string {
  const name = p.name ?? p.uid;
  return entry(personDn(p), {
    objectClass: 'inetOrgPerson',
    uid: p.uid,
    cn: name,
    sn: name.split(' ').at(-1)!,
    displayName: name,
    ...(p.mail === null ? {} : { mail: p.mail ?? `${p.uid}@campus.test` }),
    ...(p.password ? { userPassword: p.password } : {}),
    ...(p.extra ?? {}),
  });
}

/** A person as Active Directory shows one (the tests' `user` class of ad-lite.schema), named by cn. */
export function adUser(
  p: LdifPerson & {
    sAMAccountName?: string;
    disabled?: boolean;
    memberOf?: string[];
    department?: string;
    /** AD's binary id of the entry (16 bytes); a fresh one unless given. */
    objectGUID?: Buffer;
  },
): string {
  const name = p.name ?? p.uid;
  return entry(personDn(p, 'cn'), {
    objectClass: 'user',
    objectCategory: 'person',
    cn: p.uid,
    sn: name.split(' ').at(-1)!,
    displayName: name,
    sAMAccountName: p.sAMAccountName ?? p.uid,
    userPrincipalName: `${p.uid}@ad.campus.test`,
    userAccountControl: String(p.disabled ? 514 : 512),
    objectGUID: p.objectGUID ?? randomBytes(16),
    ...(p.mail === null ? {} : { mail: p.mail ?? `${p.uid}@campus.test` }),
    ...(p.password ? { userPassword: p.password } : {}),
    ...(p.memberOf ? { memberOf: p.memberOf } : {}),
    ...(p.department ? { department: p.department } : {}),
    ...(p.extra ?? {}),
  });
}

/** A groupOfNames; it needs at least one member, so an empty group lists the service account. */
export function group(cn: string, members: string[]): string {
  return entry(`cn=${cn},${GROUPS}`, {
    objectClass: 'groupOfNames',
    cn,
    member: members.length > 0 ? members : [SERVICE_DN],
  });
}

export const groupDn = (cn: string) => `cn=${cn},${GROUPS}`;
