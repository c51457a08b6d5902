import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh } from '../../core/model-class.ts';

export class Webhook extends Model<InferAttributes<Webhook>, InferCreationAttributes<Webhook>> {
  declare id: string;
  declare conversationId: string;
  declare name: string;
  declare secretHash: string;
  declare createdBy: string;
  /** The creator's `sub` at the gateway; null for a webhook made before the node kept it. */
  declare creatorSub: string | null;
  /** The client of the app whose token made it, and the app's name then; null when made in the portal. */
  declare clientId: CreationOptional<string | null>;
  declare appName: CreationOptional<string | null>;
  declare createdAt: Date;
  declare revokedAt: Date | null;
  declare revokedBy: string | null;
}

export function defineWebhookModel(sequelize: Sequelize): typeof Webhook {
  const WebhookModel = fresh(Webhook);
  WebhookModel.init(
    {
      id: { type: DataTypes.STRING(32), primaryKey: true },
      conversationId: { type: DataTypes.STRING(36), allowNull: false },
      name: { type: DataTypes.STRING(80), allowNull: false },
      secretHash: { type: DataTypes.STRING(64), allowNull: false },
      createdBy: { type: DataTypes.STRING(320), allowNull: false },
      creatorSub: { type: DataTypes.STRING(255), allowNull: true },
      clientId: { type: DataTypes.STRING(255), allowNull: true },
      appName: { type: DataTypes.STRING(200), allowNull: true },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      revokedAt: { type: DataTypes.DATE(3), allowNull: true },
      revokedBy: { type: DataTypes.STRING(320), allowNull: true },
    },
    { sequelize, tableName: 'webhooks', underscored: true, timestamps: false },
  );
  return WebhookModel;
}
