import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { bigintColumn, fresh } from '../../core/model-class.ts';

export class TotpFactor extends Model<InferAttributes<TotpFactor>, InferCreationAttributes<TotpFactor>> {
  declare userId: string;
  /** Sealed (core/seal.ts, purpose `totp-secrets`). */
  declare secret: string;
  declare confirmedAt: Date | null;
  declare lastStep: number | null;
  declare createdAt: Date;
  /** What an unconfirmed secret was shown to (a digest of it), the only one that may confirm it; null once confirmed. */
  declare binding: CreationOptional<string | null>;
  /** A new secret (sealed) replacing the confirmed one once a code from it is given (gateway/factors/replace-totp.ts). */
  declare replacementSecret: CreationOptional<string | null>;
  /** The portal session the replacement was shown to, the only one that may confirm it (a digest, as `binding`). */
  declare replacementBinding: CreationOptional<string | null>;
  declare replacementStartedAt: CreationOptional<Date | null>;
}

export class RecoveryCode extends Model<InferAttributes<RecoveryCode>, InferCreationAttributes<RecoveryCode>> {
  declare id: CreationOptional<number>;
  declare userId: string;
  declare codeHash: string;
  declare usedAt: Date | null;
}

export const REQUIREMENT_KINDS = ['role', 'unit'] as const;
export type RequirementKind = (typeof REQUIREMENT_KINDS)[number];

export class FactorRequirement extends Model<
  InferAttributes<FactorRequirement>,
  InferCreationAttributes<FactorRequirement>
> {
  declare id: CreationOptional<number>;
  declare kind: RequirementKind;
  declare value: string;
  declare createdAt: Date;
  /**
   * Set by a campus administrator or the operator (true), or by a unit admin (false): a unit admin may drop
   * only a unit admin's, so a campus administrator's stays until a campus administrator drops it.
   */
  declare setByCampus: boolean;
}

export type FactorModels = {
  TotpFactor: typeof TotpFactor;
  RecoveryCode: typeof RecoveryCode;
  FactorRequirement: typeof FactorRequirement;
};

export function defineFactorModels(sequelize: Sequelize): FactorModels {
  const TotpFactorModel = fresh(TotpFactor);
  const RecoveryCodeModel = fresh(RecoveryCode);
  const FactorRequirementModel = fresh(FactorRequirement);
  const base = { sequelize, underscored: true, timestamps: false };
  TotpFactorModel.init(
    {
      userId: { type: DataTypes.STRING(36), primaryKey: true },
      secret: { type: DataTypes.STRING(500), allowNull: false },
      confirmedAt: { type: DataTypes.DATE(3), allowNull: true },
      lastStep: bigintColumn('lastStep', { allowNull: true }),
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      binding: { type: DataTypes.STRING(255), allowNull: true },
      replacementSecret: { type: DataTypes.STRING(500), allowNull: true },
      replacementBinding: { type: DataTypes.STRING(255), allowNull: true },
      replacementStartedAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...base, tableName: 'totp_factors' },
  );
  RecoveryCodeModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      userId: { type: DataTypes.STRING(36), allowNull: false },
      codeHash: { type: DataTypes.STRING(64), allowNull: false },
      usedAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...base, tableName: 'recovery_codes' },
  );
  FactorRequirementModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      kind: { type: DataTypes.STRING(8), allowNull: false },
      value: { type: DataTypes.STRING(255), allowNull: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      setByCampus: { type: DataTypes.BOOLEAN, allowNull: false },
    },
    { ...base, tableName: 'factor_requirements' },
  );
  return { TotpFactor: TotpFactorModel, RecoveryCode: RecoveryCodeModel, FactorRequirement: FactorRequirementModel };
}
