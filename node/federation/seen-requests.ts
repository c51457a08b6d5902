import {
  DataTypes,
  Model,
  Op,
  UniqueConstraintError,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh } from '../../core/model-class.ts';
import { MAX_SKEW_MS } from '../../protocol/signature.ts';

/**
 * How long a taken request is remembered: its timestamp may be up to MAX_SKEW_MS ahead of the clock when it
 * first arrives and still passes until MAX_SKEW_MS behind, two windows; a third allows for the clocks of
 * the domain's processes, which need not agree to the millisecond.
 */
const KEPT_MS = 3 * MAX_SKEW_MS;

class SeenRequest extends Model<InferAttributes<SeenRequest>, InferCreationAttributes<SeenRequest>> {
  declare digest: string;
  declare seenAt: Date;
}

/** The signed requests of other domains this domain took (docs/federation.md, "Signed requests"). */
export type SeenRequests = {
  /** Records a request by its digest (what was signed); false if a process of the domain took it already. */
  takeOnce(digest: string): Promise<boolean>;
};

/**
 * Kept in the database, which every process of the domain shares (a node may run without Redis) and which
 * outlives a restart; each process deletes what has expired at most once a window.
 */
export function createSeenRequests(options: { sequelize: Sequelize; now: () => number }): SeenRequests {
  const Row = fresh(SeenRequest);
  Row.init(
    {
      digest: { type: DataTypes.CHAR(43), primaryKey: true },
      seenAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { sequelize: options.sequelize, tableName: 'seen_requests', underscored: true, timestamps: false },
  );
  let lastSweep = 0;
  return {
    async takeOnce(digest) {
      const at = options.now();
      if (at - lastSweep >= MAX_SKEW_MS) {
        lastSweep = at;
        await Row.destroy({ where: { seenAt: { [Op.lt]: new Date(at - KEPT_MS) } } });
      }
      try {
        await Row.create({ digest, seenAt: new Date(at) });
        return true;
      } catch (error) {
        if (error instanceof UniqueConstraintError) return false;
        throw error;
      }
    },
  };
}
