import {
  DataTypes,
  Model,
  Op,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { z } from 'zod';
import { bigintColumn, fresh } from '../../core/model-class.ts';
import { addressSchema } from '../../protocol/address.ts';
import type { Bus } from '../bus/bus.ts';

/**
 * A person (`sub`: all their sessions; with `clientId`, their tokens of one app) or one gateway session
 * (`sid`) whose access ended at `endedAt`
 * (epoch ms): access tokens naming it that were issued until then are refused, until `keepUntil` (epoch
 * ms), after which none of them could be valid anyway. Kind `app` ends no token by itself: an administrator
 * changed the app whose slug is `subject` (its client `clientId`) at `endedAt`, and what the node keeps of
 * it is dropped (node/bots/app-changes.ts), so the gateway's word on it holds here at once.
 */
export const endedEntrySchema = z.object({
  kind: z.enum(['sub', 'sid', 'app']),
  subject: z.string().min(1).max(255),
  endedAt: z.number().int().nonnegative(),
  keepUntil: z.number().int().nonnegative(),
  /**
   * Why, where it is not the gateway session or the person's whole access: `left_domain`, the person was
   * moved off this domain's units (their other domains go on); `account_deleted`, the person's account was
   * deleted. Told to the sockets closed; not stored.
   */
  reason: z.string().max(32).optional(),
  /**
   * With reason `account_deleted`: the person's chat addresses when their account was deleted, which leave
   * the groups this domain hosts (node/conversations/deleted-members.ts). Not stored.
   */
  addresses: z.array(addressSchema).max(64).optional(),
  /**
   * With a `sub`: only the person's tokens issued to this app end (they removed its access at the gateway).
   * A node that does not know this field ends all of the person's tokens, the safe side.
   */
  clientId: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,62}$/)
    .optional(),
});
export type EndedEntry = z.infer<typeof endedEntrySchema>;

class EndedAccessRow extends Model<InferAttributes<EndedAccessRow>, InferCreationAttributes<EndedAccessRow>> {
  declare id: CreationOptional<number>;
  declare kind: 'sub' | 'sid' | 'app';
  declare subject: string;
  declare endedAt: number;
  declare keepUntil: Date;
}

function defineRow(sequelize: Sequelize) {
  const Row = fresh(EndedAccessRow);
  Row.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      kind: { type: DataTypes.STRING(8), allowNull: false },
      subject: { type: DataTypes.STRING(255), allowNull: false },
      endedAt: bigintColumn('endedAt') as never,
      keepUntil: { type: DataTypes.DATE(3), allowNull: false },
    },
    { sequelize, tableName: 'ended_access', underscored: true, timestamps: false },
  );
  return Row;
}

/** Who a token speaks for, as far as ending access is concerned. */
export type TokenHolder = { sub: string; sid: string | null; clientId: string; issuedAt: number };

/**
 * Whether `entry` ends the token of `holder`: issued until the end, and naming its session, its person,
 * or its person and app. A token's `iat` has whole seconds: one issued in the same second as the end
 * counts as before it.
 */
export function ends(entry: EndedEntry, holder: TokenHolder): boolean {
  if (entry.kind === 'app' || holder.issuedAt > entry.endedAt) return false;
  if (entry.kind === 'sid') return entry.subject === holder.sid;
  return entry.subject === holder.sub && (entry.clientId === undefined || entry.clientId === holder.clientId);
}

/**
 * A row stores an app's entry as kind `app` with the person and the app in its subject (a client id has
 * no spaces), so that the unique (kind, subject, endedAt) of a person's entries still tells repeats.
 */
function rowOf(entry: EndedEntry) {
  const app = entry.kind === 'sub' && entry.clientId !== undefined;
  return {
    kind: app ? ('app' as const) : entry.kind,
    subject: app ? `${entry.subject} ${entry.clientId}` : entry.subject,
    endedAt: entry.endedAt,
    keepUntil: new Date(entry.keepUntil),
  };
}

function entryOf(row: { kind: string; subject: string; endedAt: number; keepUntil: Date }): EndedEntry {
  const base = { endedAt: Number(row.endedAt), keepUntil: row.keepUntil.getTime() };
  if (row.kind !== 'app') return { kind: row.kind === 'sid' ? 'sid' : 'sub', subject: row.subject, ...base };
  const [subject = '', clientId] = row.subject.split(' ');
  return { kind: 'sub', subject, clientId, ...base };
}

/** The sessions and people whose access the gateway ended, as this node knows them. */
export interface EndedAccess {
  /** Reads the entries still in force from the database; called once, before the first token is checked. */
  load(): Promise<void>;
  /** Stores what is new here and tells every process of the domain; resolves once it is durable. */
  record(entries: EndedEntry[]): Promise<void>;
  /** Entries another process (or this one) recorded, heard over the bus. */
  heard(entries: EndedEntry[]): void;
  /** The entry that ends this token, if any. */
  endedFor(holder: TokenHolder): EndedEntry | undefined;
  /** Forgets entries no token can outlive any more. */
  prune(): Promise<void>;
}

/**
 * The ended sessions and people this node knows, in the domain's database (so a restarted or second
 * process refuses too) and in memory (so checking a token costs no query). `record` stores new entries
 * and tells every process over the bus; each process's bus handler passes them to `heard`.
 */
export function createEndedAccess(options: { sequelize: Sequelize; bus: Bus; now?: () => number }): EndedAccess {
  const now = options.now ?? Date.now;
  const Row = defineRow(options.sequelize);
  const latest = new Map<string, EndedEntry>();
  const keyOf = (kind: string, subject: string, clientId?: string) =>
    clientId === undefined ? `${kind}:${subject}` : `app:${clientId}:${subject}`;

  /** Keeps the newer of what is known and `entry`; true when `entry` told something new. */
  function remember(entry: EndedEntry): boolean {
    const key = entry.kind === 'app' ? `changed:${entry.subject}` : keyOf(entry.kind, entry.subject, entry.clientId);
    const known = latest.get(key);
    if (known && known.endedAt >= entry.endedAt) return false;
    latest.set(key, entry);
    return true;
  }

  function endedBy(holder: TokenHolder, key: string): EndedEntry | undefined {
    const entry = latest.get(key);
    if (!entry || entry.keepUntil <= now() || !ends(entry, holder)) return undefined;
    return entry;
  }

  return {
    async load(): Promise<void> {
      const rows = await Row.findAll({ where: { keepUntil: { [Op.gt]: new Date(now()) } } });
      for (const row of rows) remember(entryOf(row));
    },
    async record(entries: EndedEntry[]): Promise<void> {
      const at = now();
      const fresh = entries.filter((e) => e.keepUntil > at && remember(e));
      if (fresh.length === 0) return;
      // A changed app is news for what the processes keep in memory now; a process that starts keeps nothing yet.
      const lasting = fresh.filter((e) => e.kind !== 'app');
      if (lasting.length > 0) await Row.bulkCreate(lasting.map(rowOf), { ignoreDuplicates: true });
      await options.bus.publish({ kind: 'access.ended', entries: fresh });
    },
    heard(entries: EndedEntry[]): void {
      for (const entry of entries) remember(entry);
    },
    endedFor(holder: TokenHolder): EndedEntry | undefined {
      return (
        (holder.sid ? endedBy(holder, keyOf('sid', holder.sid)) : undefined) ??
        endedBy(holder, keyOf('sub', holder.sub)) ??
        endedBy(holder, keyOf('sub', holder.sub, holder.clientId))
      );
    },
    async prune(): Promise<void> {
      const at = now();
      for (const [key, entry] of latest) if (entry.keepUntil <= at) latest.delete(key);
      await Row.destroy({ where: { keepUntil: { [Op.lte]: new Date(at) } } });
    },
  };
}
