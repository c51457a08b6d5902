import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { bigintColumn, fresh, mediumText } from '../../core/model-class.ts';

export class NodeKey extends Model<InferAttributes<NodeKey>, InferCreationAttributes<NodeKey>> {
  declare kid: string;
  declare publicJwk: string;
  declare privateJwkSealed: string;
  /** `next`: published, not yet signing (waiting for the gateway to pin it); `active` signs; `retired` verifies for a grace period. */
  declare state: 'next' | 'active' | 'retired';
  declare createdAt: Date;
  declare retiredAt: Date | null;
}

export class OutboxEntry extends Model<InferAttributes<OutboxEntry>, InferCreationAttributes<OutboxEntry>> {
  declare id: CreationOptional<number>;
  declare destination: string;
  declare event: string;
  declare createdAt: Date;
}

export class OutboxPeer extends Model<InferAttributes<OutboxPeer>, InferCreationAttributes<OutboxPeer>> {
  declare destination: string;
  declare txnId: string | null;
  declare txnLastId: number | null;
  /** The outbox ids the open transaction carries (JSON), so that a retry sends exactly them. */
  declare txnIds: CreationOptional<string | null>;
  declare attempts: CreationOptional<number>;
  declare nextAttemptAt: Date | null;
  declare lastError: string | null;
  declare leaseOwner: string | null;
  declare leaseUntil: Date | null;
  /** Since when the gateway's registry has been without this destination, as last confirmed (removed-destination.ts). */
  declare unregisteredSince: CreationOptional<Date | null>;
}

export class InboxEntry extends Model<InferAttributes<InboxEntry>, InferCreationAttributes<InboxEntry>> {
  declare origin: string;
  declare txnId: string;
  declare receivedAt: Date;
}

/** A running process of this domain, for telling whether an outbox lease's holder is still alive. */
export class NodeProcess extends Model<InferAttributes<NodeProcess>, InferCreationAttributes<NodeProcess>> {
  declare processId: string;
  /** Where it runs (host and port): only one process at a time can be a given instance. */
  declare instance: string;
  declare startedAt: Date;
  declare seenAt: Date;
}

export type FederationModels = {
  NodeKey: typeof NodeKey;
  OutboxEntry: typeof OutboxEntry;
  OutboxPeer: typeof OutboxPeer;
  InboxEntry: typeof InboxEntry;
  NodeProcess: typeof NodeProcess;
};

const bigintOrNull = (name: string) => bigintColumn(name, { allowNull: true });

export function defineFederationModels(sequelize: Sequelize): FederationModels {
  const NodeKeyModel = fresh(NodeKey);
  const OutboxEntryModel = fresh(OutboxEntry);
  const OutboxPeerModel = fresh(OutboxPeer);
  const InboxEntryModel = fresh(InboxEntry);
  const NodeProcessModel = fresh(NodeProcess);
  const common = { sequelize, underscored: true, timestamps: false };

  NodeKeyModel.init(
    {
      kid: { type: DataTypes.STRING(64), primaryKey: true },
      publicJwk: { type: DataTypes.TEXT, allowNull: false },
      privateJwkSealed: { type: DataTypes.TEXT, allowNull: false },
      state: { type: DataTypes.STRING(16), allowNull: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      retiredAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...common, tableName: 'node_keys' },
  );
  OutboxEntryModel.init(
    {
      id: {
        type: DataTypes.BIGINT,
        primaryKey: true,
        autoIncrement: true,
        get(this: Model) {
          return Number(this.getDataValue('id'));
        },
      },
      destination: { type: DataTypes.STRING(253), allowNull: false },
      event: { type: mediumText(sequelize), allowNull: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...common, tableName: 'outbox' },
  );
  OutboxPeerModel.init(
    {
      destination: { type: DataTypes.STRING(253), primaryKey: true },
      txnId: { type: DataTypes.STRING(64), allowNull: true },
      txnLastId: bigintOrNull('txnLastId'),
      txnIds: { type: DataTypes.TEXT, allowNull: true },
      attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      nextAttemptAt: { type: DataTypes.DATE(3), allowNull: true },
      lastError: { type: DataTypes.STRING(500), allowNull: true },
      leaseOwner: { type: DataTypes.STRING(64), allowNull: true },
      leaseUntil: { type: DataTypes.DATE(3), allowNull: true },
      unregisteredSince: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...common, tableName: 'outbox_peers' },
  );
  InboxEntryModel.init(
    {
      origin: { type: DataTypes.STRING(253), primaryKey: true },
      txnId: { type: DataTypes.STRING(64), primaryKey: true },
      receivedAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...common, tableName: 'inbox' },
  );
  NodeProcessModel.init(
    {
      processId: { type: DataTypes.STRING(64), primaryKey: true },
      instance: { type: DataTypes.STRING(300), allowNull: false },
      startedAt: { type: DataTypes.DATE(3), allowNull: false },
      seenAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...common, tableName: 'node_processes' },
  );
  return {
    NodeKey: NodeKeyModel,
    OutboxEntry: OutboxEntryModel,
    OutboxPeer: OutboxPeerModel,
    InboxEntry: InboxEntryModel,
    NodeProcess: NodeProcessModel,
  };
}
