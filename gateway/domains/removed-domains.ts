import type { GatewayContext } from '../context.ts';

/** A domain an administrator removed, as its removal was audited: what it was called and which units it served. */
export type RemovedDomain = { name: string; title: string; url: string | null; units: string[]; removedAt: Date };

/**
 * How many of the latest removals are read. Removing a college's chat is rare; a campus that removed more
 * domains than this names the older ones by their domain name and tells their people only that chat is not
 * set up.
 */
const REMOVALS_READ = 200;

function unitsOf(details: Record<string, unknown>): string[] {
  return Array.isArray(details.units) ? details.units.filter((u): u is string => typeof u === 'string') : [];
}

/**
 * Domains removed and not registered again, newest removal first, from the audit log's `domain.remove`
 * lines (remove-domain.ts writes the units and the title there). The audit log is the record the gateway
 * keeps of a removal anyway; a removal audited before it held the units names no units.
 */
export async function removedDomains(ctx: GatewayContext): Promise<RemovedDomain[]> {
  const { AuditEvent, Domain } = ctx.models;
  const [lines, registered] = await Promise.all([
    AuditEvent.findAll({
      attributes: ['at', 'target', 'details'],
      where: { action: 'domain.remove', outcome: 'success' },
      order: [['at', 'DESC']],
      limit: REMOVALS_READ,
      transaction: ctx.tx,
    }),
    Domain.findAll({ attributes: ['name'], transaction: ctx.tx }),
  ]);
  const taken = new Set(registered.map((d) => d.name));
  const removed = new Map<string, RemovedDomain>();
  for (const line of lines) {
    const name = line.target;
    if (!name || taken.has(name) || removed.has(name)) continue;
    let details: Record<string, unknown> = {};
    try {
      details = JSON.parse(line.details ?? '{}') as Record<string, unknown>;
    } catch {
      // A line this code did not write reads as one without details.
    }
    const title = typeof details.title === 'string' && details.title ? details.title : name;
    const url = typeof details.url === 'string' ? details.url : null;
    removed.set(name, { name, title, url, units: unitsOf(details), removedAt: line.at });
  }
  return [...removed.values()];
}

const within = (path: string, unit: string) => path === unit || path.startsWith(`${unit}/`);

/**
 * The removed domain that served a person whose units no domain serves now: one that served one of their
 * units, or a unit above one (the nearest served unit decides a person's IM home). Null when none did.
 */
export async function removedHomeOf(ctx: GatewayContext, unitPaths: string[]): Promise<RemovedDomain | null> {
  if (unitPaths.length === 0) return null;
  const removed = await removedDomains(ctx);
  // Their primary unit first: the domain that served it was their home.
  for (const path of unitPaths) {
    const found = removed.find((d) => d.units.some((unit) => within(path, unit)));
    if (found) return found;
  }
  return null;
}
