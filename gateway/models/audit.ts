import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh } from '../../core/model-class.ts';
import { tableOptions } from './columns.ts';

export class AuditEvent extends Model<InferAttributes<AuditEvent>, InferCreationAttributes<AuditEvent>> {
  declare id: CreationOptional<number>;
  declare at: Date;
  declare actorId: string | null;
  declare actorName: string | null;
  declare action: string;
  declare target: string | null;
  declare outcome: 'success' | 'failure';
  declare ip: string | null;
  declare details: string | null;
}

export type AuditModels = {
  AuditEvent: typeof AuditEvent;
};

/** Binds the audit log. */
export function defineAuditModels(sequelize: Sequelize): AuditModels {
  const AuditEventModel = fresh(AuditEvent);

  AuditEventModel.init(
    {
      id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
      at: { type: DataTypes.DATE(3), allowNull: false },
      actorId: { type: DataTypes.STRING(36), allowNull: true },
      actorName: { type: DataTypes.STRING(200), allowNull: true },
      action: { type: DataTypes.STRING(64), allowNull: false },
      target: { type: DataTypes.STRING(255), allowNull: true },
      outcome: { type: DataTypes.STRING(16), allowNull: false },
      ip: { type: DataTypes.STRING(64), allowNull: true },
      details: { type: DataTypes.TEXT, allowNull: true },
    },
    { ...tableOptions(sequelize, 'audit_events'), timestamps: false },
  );

  return { AuditEvent: AuditEventModel };
}
