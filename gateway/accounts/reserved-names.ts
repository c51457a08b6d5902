import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';

/**
 * People's usernames and apps' slugs are one namespace: on every chat node both become `name@domain`,
 * and whoever holds a name speaks (and reads) as that address. Some names belong to Atrium itself.
 */

/** Prefixes of addresses the nodes make up themselves: `hook-<id>` is an incoming webhook's sender. */
export const RESERVED_PREFIXES: readonly string[] = ['hook-'];

/**
 * Whole names kept for Atrium: `system` is the actor a node acts as for another domain (federation),
 * the units' own names, and names people read as "the service" or as everyone in a conversation.
 */
export const SYSTEM_NAMES: ReadonlySet<string> = new Set([
  'system',
  'atrium',
  'gateway',
  'proxy',
  'node',
  'bot',
  'hook',
  'webhook',
  'root',
  'administrator',
  'postmaster',
  'security',
  'abuse',
  'noreply',
  'no-reply',
  'nobody',
  'everyone',
  'all',
  'here',
]);

/** Why `name` can never be a username or an app slug, or null; needs no database (used by the schemas). */
export function reservedNameProblem(name: string): string | null {
  const normalized = name.trim().toLowerCase();
  const prefix = RESERVED_PREFIXES.find((p) => normalized.startsWith(p));
  if (prefix) return `"${prefix}" is reserved: it names webhook senders in conversations`;
  if (SYSTEM_NAMES.has(normalized)) return `"${normalized}" is reserved for Atrium itself`;
  return null;
}

/** Who already holds a name, so that an account or an app may not take it. */
export type NameHolder = { kind: 'person' | 'app' | 'deleted-app' | 'deleted-person'; reason: string };

/** Why a deleted account's username is refused to anyone new (gateway/accounts/delete-account.ts). */
export const deletedUsernameReason = (username: string) =>
  `${username} was the username of a deleted account; usernames are not reused, so chat history stays with its author — choose another`;

/**
 * For each of `names`, why it cannot become a new person's username or a new app's slug: it is reserved,
 * a person or an app has it, or a deleted app or a deleted person had it (its conversations stay on the
 * nodes, and a new holder of the address would read them; the audit log remembers an app's deletion, and
 * a deleted account leaves its username in `deleted_accounts`). Names free to take are
 * absent from the answer. Looked up in batches, for the CSV import and the directory sync alike.
 */
export async function addressNameProblems(
  ctx: GatewayContext,
  names: readonly string[],
): Promise<Map<string, NameHolder | { kind: 'reserved'; reason: string }>> {
  const out = new Map<string, NameHolder | { kind: 'reserved'; reason: string }>();
  const wanted = [...new Set(names.map((n) => n.trim().toLowerCase()))];
  for (const name of wanted) {
    const reserved = reservedNameProblem(name);
    if (reserved) out.set(name, { kind: 'reserved', reason: reserved });
  }
  const { App, AuditEvent, DeletedAccount, User } = ctx.models;
  for (let i = 0; i < wanted.length; i += 500) {
    const chunk = wanted.slice(i, i + 500).filter((n) => !out.has(n));
    if (chunk.length === 0) continue;
    const [people, apps, deleted, formerPeople] = await Promise.all([
      User.findAll({ where: { username: { [Op.in]: chunk } }, attributes: ['username'], transaction: ctx.tx }),
      App.findAll({ where: { slug: { [Op.in]: chunk } }, attributes: ['slug'], transaction: ctx.tx }),
      AuditEvent.findAll({
        where: { action: 'app.delete', outcome: 'success', target: { [Op.in]: chunk } },
        attributes: ['target'],
        transaction: ctx.tx,
      }),
      DeletedAccount.findAll({
        where: { username: { [Op.in]: chunk } },
        attributes: ['username'],
        transaction: ctx.tx,
      }),
    ]);
    for (const d of deleted)
      if (d.target)
        out.set(d.target, {
          kind: 'deleted-app',
          reason: "a deleted app had this name; its bot's conversations remain",
        });
    for (const f of formerPeople)
      out.set(f.username, { kind: 'deleted-person', reason: deletedUsernameReason(f.username) });
    for (const a of apps) out.set(a.slug, { kind: 'app', reason: 'an app has this name (its bot address)' });
    for (const p of people) out.set(p.username, { kind: 'person', reason: 'a person has this username' });
  }
  return out;
}

/** The same for one name: why it cannot be taken, or null when it is free. */
export async function addressNameProblem(
  ctx: GatewayContext,
  name: string,
): Promise<{ kind: NameHolder['kind'] | 'reserved'; reason: string } | null> {
  return (await addressNameProblems(ctx, [name])).get(name.trim().toLowerCase()) ?? null;
}
