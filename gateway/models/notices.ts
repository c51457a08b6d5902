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

/** Where a security notice is: waiting to be sent (or tried again), sent, or given up on. */
export type NoticeStatus = 'pending' | 'sent' | 'given_up';

/** One security notice mail, written with the change it tells of (gateway/recovery/notice-outbox.ts). */
export class SecurityNotice extends Model<InferAttributes<SecurityNotice>, InferCreationAttributes<SecurityNotice>> {
  declare id: CreationOptional<number>;
  declare recipient: string;
  declare subject: string;
  declare body: string;
  /** The audited action and account, for the log lines about the mail. */
  declare action: string;
  declare account: string;
  declare status: CreationOptional<NoticeStatus>;
  declare tries: CreationOptional<number>;
  declare nextAt: Date;
  declare firstTriedAt: Date | null;
  declare lastError: string | null;
  declare doneAt: Date | null;
  declare createdAt: Date;
}

export type NoticeModels = {
  SecurityNotice: typeof SecurityNotice;
};

/** Binds the security notices' outbox. */
export function defineNoticeModels(sequelize: Sequelize): NoticeModels {
  const SecurityNoticeModel = fresh(SecurityNotice);
  SecurityNoticeModel.init(
    {
      id: {
        type: DataTypes.BIGINT,
        primaryKey: true,
        autoIncrement: true,
        // mysql2 reads a BIGINT as a string; the ids stay below 2^53.
        get(this: Model): number {
          return Number(this.getDataValue('id'));
        },
      },
      recipient: { type: DataTypes.STRING(320), allowNull: false },
      subject: { type: DataTypes.STRING(255), allowNull: false },
      body: { type: DataTypes.TEXT, allowNull: false },
      action: { type: DataTypes.STRING(64), allowNull: false },
      account: { type: DataTypes.STRING(255), allowNull: false },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
      tries: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      nextAt: { type: DataTypes.DATE(3), allowNull: false },
      firstTriedAt: { type: DataTypes.DATE(3), allowNull: true },
      lastError: { type: DataTypes.STRING(500), allowNull: true },
      doneAt: { type: DataTypes.DATE(3), allowNull: true },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...tableOptions(sequelize, 'security_notices'), timestamps: false },
  );
  return { SecurityNotice: SecurityNoticeModel };
}
