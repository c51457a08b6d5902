import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh } from '../../core/model-class.ts';
import { tableOptions, timestamps } from './columns.ts';

export class Domain extends Model<InferAttributes<Domain>, InferCreationAttributes<Domain>> {
  declare id: string;
  declare name: string;
  declare url: string;
  declare pinnedKeys: CreationOptional<string | null>;
  declare pinnedAt: CreationOptional<Date | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

export class DomainUnit extends Model<InferAttributes<DomainUnit>, InferCreationAttributes<DomainUnit>> {
  declare domainId: string;
  declare unitId: string;
}

export class FederationPair extends Model<InferAttributes<FederationPair>, InferCreationAttributes<FederationPair>> {
  declare domainA: string;
  declare domainB: string;
  declare createdAt: Date;
}

export class FederationProxy extends Model<InferAttributes<FederationProxy>, InferCreationAttributes<FederationProxy>> {
  declare name: string;
  declare publicJwk: string | null;
  declare peerUrl: string | null;
  declare createdAt: Date;
}

export type FederationModels = {
  Domain: typeof Domain;
  DomainUnit: typeof DomainUnit;
  FederationPair: typeof FederationPair;
  FederationProxy: typeof FederationProxy;
};

/** Binds the domain nodes the gateway knows, the units each serves, and the federation between domains and proxies. */
export function defineFederationModels(sequelize: Sequelize): FederationModels {
  const DomainModel = fresh(Domain);
  const DomainUnitModel = fresh(DomainUnit);
  const FederationPairModel = fresh(FederationPair);
  const FederationProxyModel = fresh(FederationProxy);

  DomainModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      name: { type: DataTypes.STRING(253), allowNull: false },
      url: { type: DataTypes.STRING(500), allowNull: false },
      pinnedKeys: { type: DataTypes.TEXT, allowNull: true },
      pinnedAt: { type: DataTypes.DATE(3), allowNull: true },
      ...timestamps,
    },
    tableOptions(sequelize, 'domains'),
  );

  DomainUnitModel.init(
    {
      domainId: { type: DataTypes.STRING(36), primaryKey: true },
      unitId: { type: DataTypes.STRING(36), primaryKey: true },
    },
    { ...tableOptions(sequelize, 'domain_units'), timestamps: false },
  );

  FederationPairModel.init(
    {
      domainA: { type: DataTypes.STRING(253), primaryKey: true },
      domainB: { type: DataTypes.STRING(253), primaryKey: true },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...tableOptions(sequelize, 'federation_policy'), timestamps: false },
  );

  FederationProxyModel.init(
    {
      name: { type: DataTypes.STRING(100), primaryKey: true },
      publicJwk: { type: DataTypes.TEXT, allowNull: true },
      peerUrl: { type: DataTypes.STRING(500), allowNull: true },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...tableOptions(sequelize, 'federation_proxies'), timestamps: false },
  );

  return {
    Domain: DomainModel,
    DomainUnit: DomainUnitModel,
    FederationPair: FederationPairModel,
    FederationProxy: FederationProxyModel,
  };
}
