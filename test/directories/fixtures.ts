import { operator, type GatewayContext } from '../../gateway/context.ts';
import type { Gateway } from '../../gateway/main.ts';
import { registerDirectory } from '../../gateway/directories/register-directory.ts';
import { bindPasswordSealer } from '../../gateway/directories/secrets.ts';
import { syncDirectory } from '../../gateway/directories/sync-directory.ts';
import { decodeJwt } from 'jose';
import type { Page } from '../helpers/browser-agent.ts';
import { registerTestApp, startTestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover, loginAttempt } from '../helpers/rp.ts';
import {
  GROUPS,
  groupDn,
  PEOPLE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  startTestSlapd,
  type TestSlapd,
} from '../helpers/slapd.ts';

export const RESET_URL = 'https://password.campus.test/reset';

export const asOperator = (gateway: Gateway): GatewayContext => ({ ...gateway.context(null), actor: operator('test') });
export const sealerOf = (gateway: Gateway) => bindPasswordSealer(gateway.config.secretKey);

/** Registers a directory at `url` with the test slapd's service account; `input` overrides any field. */
export function register(gateway: Gateway, name: string, url: string, input: Record<string, unknown> = {}) {
  return registerDirectory(asOperator(gateway), sealerOf(gateway), {
    name,
    url,
    startTls: 'no',
    bindDn: SERVICE_DN,
    bindPassword: SERVICE_PASSWORD,
    userBase: PEOPLE,
    unitRoot: 'campus',
    resetUrl: RESET_URL,
    ...input,
  });
}

export const sync = (gateway: Gateway, name: string) =>
  syncDirectory(asOperator(gateway), { sealer: sealerOf(gateway) }, name);

/**
 * A test slapd holding the LDIF `entries`, registered as campus-ldap with its `roleGroups` read from
 * ou=Groups, and synced once (`firstSync`: that sync's report).
 */
export async function startCampusLdap(gateway: Gateway, entries: string[], roleGroups: string[]) {
  const ldap = await startTestSlapd({ ldif: entries.join('\n') });
  try {
    await register(gateway, 'campus-ldap', ldap.url, { groupBase: GROUPS, roleGroups });
    return { ldap, firstSync: await sync(gateway, 'campus-ldap') };
  } catch (error) {
    await ldap.stop();
    throw error;
  }
}

/** Someone in a test directory: signs in as `uid` with `password`, below ou=People in the OU path `ous`. */
export type DirectoryPerson = { uid: string; name: string; password: string; ous: string[]; mail?: string | null };

/** A person of the test directory, in the Library unless told otherwise, whose password is `<uid>-directory-pw`. */
export const directoryPerson = (uid: string, name: string, ous = ['Library']): DirectoryPerson => ({
  uid,
  name,
  password: `${uid}-directory-pw`,
  ous,
});

/** Makes `dns` the members of group `cn`; an empty group lists the service account, as `group` writes one. */
export const setGroupMembers = (ldap: TestSlapd, cn: string, dns: string[]) =>
  ldap.replace(groupDn(cn), 'member', dns.length > 0 ? dns : [SERVICE_DN]);

/** Adds `dn` to the members of group `cn`, who stay. */
export async function addGroupMember(ldap: TestSlapd, cn: string, dn: string): Promise<void> {
  const { searchEntries } = await ldap.admin((c) => c.search(groupDn(cn), { scope: 'base', attributes: ['member'] }));
  await ldap.replace(groupDn(cn), 'member', [...[searchEntries[0]!.member].flat().map(String), dn]);
}

/** A person's roles, units (primary first) and status, as the gateway keeps them. */
export async function personOf(gateway: Gateway, username: string) {
  const user = await gateway.models.User.findOne({ where: { username } });
  if (!user) return null;
  const memberships = await gateway.models.Membership.findAll({ where: { userId: user.id } });
  const units = await gateway.models.OrgUnit.findAll();
  const pathOf = new Map(units.map((u) => [u.id, u.path]));
  const ordered = memberships
    .sort((a, b) => Number(b.isPrimary) - Number(a.isPrimary))
    .map((m) => pathOf.get(m.unitId)!);
  const [primary, ...others] = ordered;
  return {
    user,
    status: user.status,
    roles: user.roles,
    units: [primary, ...others.sort()],
    passwordHash: user.passwordHash,
  };
}

const SIGN_IN_REDIRECT = 'http://localhost:9/cb';

/**
 * A gateway with an app whose login page a test drives (a lockout after `maxFailures`, no per-address
 * limit in the way), and what such a test asks: a login attempt's page, the ID token's claims of a
 * whole sign-in, and the last audit event of an action.
 */
export async function startSignInGateway(label: string, appName: string, maxFailures: number) {
  const gateway = await startTestGateway(label, {
    LOGIN_MAX_FAILURES: String(maxFailures),
    LOGIN_LOCKOUT_MINUTES: '10',
    LOGIN_IP_LIMIT: '1000',
  });
  const app = await registerTestApp(gateway, { name: appName, redirectUris: [SIGN_IN_REDIRECT] });
  const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  return {
    gateway,
    attempt: (username: string, password: string) => loginAttempt(rp, SIGN_IN_REDIRECT, username, password),
    claimsOf: async (username: string, password: string) => {
      const { tokens } = await codeFlow(rp, SIGN_IN_REDIRECT, username, {}, undefined, password);
      const { sub, preferred_username, roles, org_units, im_home_domain } = decodeJwt(tokens.id_token!);
      return { sub, preferred_username, roles, org_units, im_home_domain };
    },
    lastEvent: async (action: string, target: string) => {
      const [event] = await gateway.models.AuditEvent.findAll({
        where: { action, target },
        order: [['id', 'DESC']],
        limit: 1,
      });
      return event && { outcome: event.outcome, details: JSON.parse(event.details ?? 'null') as unknown };
    },
  };
}

/** The login page's alert, as the person reads it. */
export const alertOf = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1]?.replace(/&#x27;/g, "'") ?? null;
/**
 * The login page let the person on: to the consent page, or straight back to the app when they allowed it
 * before (the gateway remembers that per person and app, not per browser).
 */
export const passedLogin = (page: Page) =>
  page.html.includes('/confirm"') ||
  (page.url.startsWith(SIGN_IN_REDIRECT) && new URL(page.url).searchParams.has('code'));

export type SignInGateway = Awaited<ReturnType<typeof startSignInGateway>>;
