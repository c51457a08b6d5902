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
import type { Bus } from '../bus/bus.ts';

/**
 * A person (`sub`: all their sessions) or one gateway session (`sid`) whose access ended at `endedAt`
 * (epoch ms): access tokens naming it that were issued until then are refused, until `keepUntil` (epoch
 * ms), after which none of them could be valid anyway.
 */
export const endedEntrySchema = z.object({
  kind: z.enum(['sub', 'sid']),
  subject: z.string().min(1).max(255),
  endedAt: z.number().int().nonnegative(),
  keepUntil: z.number().int().nonnegative(),
  /**
   * Why, where it is not the gateway session or the person's whole access: `left_domain`, the person was
   * moved off this domain's units (their other domains go on). Told to the sockets closed; not stored.
   */
  reason: z.string().max(32).optional(),
});
export type EndedEntry = z.infer<typeof endedEntrySchema>;

class EndedAccessRow extends Model<InferAttributes<EndedAccessRow>, InferCreationAttributes<EndedAccessRow>> {
  declare id: CreationOptional<number>;
  declare kind: 'sub' | 'sid';
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
export type TokenHolder = { sub: string; sid: string | null; issuedAt: number };

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
  const keyOf = (kind: string, subject: string) => `${kind}:${subject}`;

  /** Keeps the newer of what is known and `entry`; true when `entry` told something new. */
  function remember(entry: EndedEntry): boolean {
    const key = keyOf(entry.kind, entry.subject);
    const known = latest.get(key);
    if (known && known.endedAt >= entry.endedAt) return false;
    latest.set(key, entry);
    return true;
  }

  function endedBy(kind: 'sub' | 'sid', subject: string | null, issuedAt: number): EndedEntry | undefined {
    if (!subject) return undefined;
    const entry = latest.get(keyOf(kind, subject));
    // A token's `iat` has whole seconds: one issued in the same second as the end counts as before it.
    if (!entry || entry.keepUntil <= now() || issuedAt > entry.endedAt) return undefined;
    return entry;
  }

  return {
    async load(): Promise<void> {
      const rows = await Row.findAll({ where: { keepUntil: { [Op.gt]: new Date(now()) } } });
      for (const row of rows)
        remember({
          kind: row.kind,
          subject: row.subject,
          endedAt: Number(row.endedAt),
          keepUntil: row.keepUntil.getTime(),
        });
    },
    async record(entries: EndedEntry[]): Promise<void> {
      const at = now();
      const fresh = entries.filter((e) => e.keepUntil > at && remember(e));
      if (fresh.length === 0) return;
      await Row.bulkCreate(
        fresh.map((e) => ({ kind: e.kind, subject: e.subject, endedAt: e.endedAt, keepUntil: new Date(e.keepUntil) })),
        { ignoreDuplicates: true },
      );
      await options.bus.publish({ kind: 'access.ended', entries: fresh });
    },
    heard(entries: EndedEntry[]): void {
      for (const entry of entries) remember(entry);
    },
    endedFor(holder: TokenHolder): EndedEntry | undefined {
      return endedBy('sid', holder.sid, holder.issuedAt) ?? endedBy('sub', holder.sub, holder.issuedAt);
    },
    async prune(): Promise<void> {
      const at = now();
      for (const [key, entry] of latest) if (entry.keepUntil <= at) latest.delete(key);
      await Row.destroy({ where: { keepUntil: { [Op.lte]: new Date(at) } } });
    },
  };
}
