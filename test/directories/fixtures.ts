import { operator, type GatewayContext } from '../../gateway/context.ts';
import type { Gateway } from '../../gateway/main.ts';
import { registerDirectory } from '../../gateway/directories/register-directory.ts';
import { bindPasswordSealer } from '../../gateway/directories/secrets.ts';
import { syncDirectory } from '../../gateway/directories/sync-directory.ts';
import { PEOPLE, SERVICE_DN, SERVICE_PASSWORD } from '../helpers/slapd.ts';

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
