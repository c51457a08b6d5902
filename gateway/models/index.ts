import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh, mediumText } from '../../core/model-class.ts';
import { defineFactorModels, type FactorModels } from './factors.ts';
import { defineDirectoryModels, type DirectoryModels } from './directories.ts';
import { definePasskeyModels, type PasskeyModels } from './passkeys.ts';

export const ROLES = ['student', 'staff', 'admin', 'unit-admin'] as const;
export type Role = (typeof ROLES)[number];
export type UserStatus = 'active' | 'disabled';

export class OrgUnit extends Model<InferAttributes<OrgUnit>, InferCreationAttributes<OrgUnit>> {
  declare id: string;
  declare path: string;
  declare name: string;
  declare parentId: string | null;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

export class User extends Model<InferAttributes<User>, InferCreationAttributes<User>> {
  declare id: string;
  declare username: string;
  declare email: string;
  declare displayName: string;
  declare status: CreationOptional<UserStatus>;
  declare passwordHash: string | null;
  declare roles: CreationOptional<Role[]>;
  declare failedLogins: CreationOptional<number>;
  declare lockedUntil: Date | null;
  declare lastLoginAt: Date | null;
  /** When an administrator last ended every session of the person (disable, password reset, sign out everywhere). */
  declare accessEndedAt: CreationOptional<Date | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

export class Membership extends Model<InferAttributes<Membership>, InferCreationAttributes<Membership>> {
  declare userId: string;
  declare unitId: string;
  declare isPrimary: CreationOptional<boolean>;
}

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

export class OidcPayload extends Model<InferAttributes<OidcPayload>, InferCreationAttributes<OidcPayload>> {
  declare model: string;
  declare id: string;
  declare payload: string;
  declare grantId: string | null;
  declare userCode: string | null;
  declare uid: string | null;
  /** The person the artefact belongs to (sessions, grants, codes, tokens), so all of theirs can be ended. */
  declare accountId: CreationOptional<string | null>;
  declare expiresAt: Date | null;
  declare consumedAt: Date | null;
}

/** A person (`sub`) or a gateway session (`sid`) whose access tokens issued up to `endedAt` no node accepts. */
export class EndedAccess extends Model<InferAttributes<EndedAccess>, InferCreationAttributes<EndedAccess>> {
  declare id: CreationOptional<number>;
  declare kind: 'sub' | 'sid';
  declare subject: string;
  declare endedAt: Date;
}

export class SigningKey extends Model<InferAttributes<SigningKey>, InferCreationAttributes<SigningKey>> {
  declare kid: string;
  declare alg: string;
  declare publicJwk: string;
  declare privateJwkSealed: string;
  declare state: 'active' | 'retired';
  declare createdAt: Date;
  declare retiredAt: Date | null;
}

export class WebSession extends Model<InferAttributes<WebSession>, InferCreationAttributes<WebSession>> {
  declare sid: string;
  declare data: string;
  declare expiresAt: Date;
}

export class App extends Model<InferAttributes<App>, InferCreationAttributes<App>> {
  declare id: string;
  declare clientId: string;
  declare slug: string;
  declare name: string;
  declare icon: string | null;
  declare description: string | null;
  declare homeUrl: string | null;
  declare interactionCallbackUrl: string | null;
  declare visibilityUnits: CreationOptional<string[]>;
  declare visibilityRoles: CreationOptional<Role[]>;
  declare firstParty: boolean;
  declare botEnabled: CreationOptional<boolean>;
  declare disabled: CreationOptional<boolean>;
  declare ownerUnit: string | null;
  declare callbackSecretSealed: string | null;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
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

/** A "forgot password" link: only the SHA-256 of its random token is kept; usable once, until `expiresAt`. */
export class PasswordReset extends Model<InferAttributes<PasswordReset>, InferCreationAttributes<PasswordReset>> {
  declare tokenHash: string;
  declare userId: string;
  declare createdAt: Date;
  declare expiresAt: Date;
  declare usedAt: CreationOptional<Date | null>;
}

export type GatewayModels = {
  OrgUnit: typeof OrgUnit;
  User: typeof User;
  Membership: typeof Membership;
  Domain: typeof Domain;
  DomainUnit: typeof DomainUnit;
  AuditEvent: typeof AuditEvent;
  OidcPayload: typeof OidcPayload;
  EndedAccess: typeof EndedAccess;
  SigningKey: typeof SigningKey;
  WebSession: typeof WebSession;
  App: typeof App;
  FederationPair: typeof FederationPair;
  FederationProxy: typeof FederationProxy;
  PasswordReset: typeof PasswordReset;
} & FactorModels &
  PasskeyModels &
  DirectoryModels;

const timestamps = { createdAt: DataTypes.DATE(3), updatedAt: DataTypes.DATE(3) };

/** A list stored as a JSON array in a TEXT column (null reads as empty). */
function jsonList<T>(name: string) {
  return {
    type: DataTypes.TEXT,
    allowNull: true,
    get(this: Model): T[] {
      const raw = this.getDataValue(name) as unknown as string | null;
      return raw ? (JSON.parse(raw) as T[]) : [];
    },
    set(this: Model, value: T[]) {
      this.setDataValue(name, JSON.stringify(value ?? []) as never);
    },
  };
}
const options = (sequelize: Sequelize, tableName: string) => ({ sequelize, tableName, underscored: true });

/** Binds the gateway's models to one database (the table shapes live in migrations/gateway). */
export function defineGatewayModels(sequelize: Sequelize): GatewayModels {
  const OrgUnitModel = fresh(OrgUnit);
  const UserModel = fresh(User);
  const MembershipModel = fresh(Membership);
  const DomainModel = fresh(Domain);
  const DomainUnitModel = fresh(DomainUnit);
  const AuditEventModel = fresh(AuditEvent);
  const OidcPayloadModel = fresh(OidcPayload);
  const EndedAccessModel = fresh(EndedAccess);
  const SigningKeyModel = fresh(SigningKey);
  const WebSessionModel = fresh(WebSession);
  const AppModel = fresh(App);
  const FederationPairModel = fresh(FederationPair);
  const FederationProxyModel = fresh(FederationProxy);
  const PasswordResetModel = fresh(PasswordReset);

  OrgUnitModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      path: { type: DataTypes.STRING(255), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: false },
      parentId: { type: DataTypes.STRING(36), allowNull: true },
      ...timestamps,
    },
    options(sequelize, 'org_units'),
  );

  UserModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      username: { type: DataTypes.STRING(64), allowNull: false },
      email: { type: DataTypes.STRING(254), allowNull: false },
      displayName: { type: DataTypes.STRING(200), allowNull: false },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'active' },
      passwordHash: { type: DataTypes.STRING(255), allowNull: true },
      roles: {
        type: DataTypes.STRING(255),
        allowNull: false,
        defaultValue: '',
        get(): Role[] {
          const raw = this.getDataValue('roles') as unknown as string;
          return raw ? (raw.split(',') as Role[]) : [];
        },
        set(value: Role[]) {
          this.setDataValue('roles', [...new Set(value)].sort().join(',') as unknown as Role[]);
        },
      },
      failedLogins: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      lockedUntil: { type: DataTypes.DATE(3), allowNull: true },
      lastLoginAt: { type: DataTypes.DATE(3), allowNull: true },
      accessEndedAt: { type: DataTypes.DATE(3), allowNull: true },
      ...timestamps,
    },
    options(sequelize, 'users'),
  );

  MembershipModel.init(
    {
      userId: { type: DataTypes.STRING(36), primaryKey: true },
      unitId: { type: DataTypes.STRING(36), primaryKey: true },
      isPrimary: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    },
    { ...options(sequelize, 'memberships'), timestamps: false },
  );

  DomainModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      name: { type: DataTypes.STRING(253), allowNull: false },
      url: { type: DataTypes.STRING(500), allowNull: false },
      pinnedKeys: { type: DataTypes.TEXT, allowNull: true },
      pinnedAt: { type: DataTypes.DATE(3), allowNull: true },
      ...timestamps,
    },
    options(sequelize, 'domains'),
  );

  DomainUnitModel.init(
    {
      domainId: { type: DataTypes.STRING(36), primaryKey: true },
      unitId: { type: DataTypes.STRING(36), primaryKey: true },
    },
    { ...options(sequelize, 'domain_units'), timestamps: false },
  );

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
    { ...options(sequelize, 'audit_events'), timestamps: false },
  );

  OidcPayloadModel.init(
    {
      model: { type: DataTypes.STRING(40), primaryKey: true },
      id: { type: DataTypes.STRING(255), primaryKey: true },
      payload: { type: mediumText(sequelize), allowNull: false },
      grantId: { type: DataTypes.STRING(255), allowNull: true },
      userCode: { type: DataTypes.STRING(255), allowNull: true },
      uid: { type: DataTypes.STRING(255), allowNull: true },
      accountId: { type: DataTypes.STRING(255), allowNull: true },
      expiresAt: { type: DataTypes.DATE(3), allowNull: true },
      consumedAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...options(sequelize, 'oidc_payloads'), timestamps: false },
  );

  EndedAccessModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      kind: { type: DataTypes.STRING(8), allowNull: false },
      subject: { type: DataTypes.STRING(255), allowNull: false },
      endedAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...options(sequelize, 'ended_access'), timestamps: false },
  );

  SigningKeyModel.init(
    {
      kid: { type: DataTypes.STRING(64), primaryKey: true },
      alg: { type: DataTypes.STRING(16), allowNull: false },
      publicJwk: { type: DataTypes.TEXT, allowNull: false },
      privateJwkSealed: { type: DataTypes.TEXT, allowNull: false },
      state: { type: DataTypes.STRING(16), allowNull: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      retiredAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...options(sequelize, 'signing_keys'), timestamps: false },
  );

  WebSessionModel.init(
    {
      sid: { type: DataTypes.STRING(255), primaryKey: true },
      data: { type: DataTypes.TEXT, allowNull: false },
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...options(sequelize, 'web_sessions'), timestamps: false },
  );

  AppModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      clientId: { type: DataTypes.STRING(255), allowNull: false },
      slug: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: false },
      icon: { type: DataTypes.STRING(500), allowNull: true },
      description: { type: DataTypes.TEXT, allowNull: true },
      homeUrl: { type: DataTypes.STRING(500), allowNull: true },
      interactionCallbackUrl: { type: DataTypes.STRING(500), allowNull: true },
      visibilityUnits: jsonList<string>('visibilityUnits'),
      visibilityRoles: jsonList<Role>('visibilityRoles'),
      firstParty: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      botEnabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      disabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      ownerUnit: { type: DataTypes.STRING(255), allowNull: true },
      callbackSecretSealed: { type: DataTypes.TEXT, allowNull: true },
      ...timestamps,
    },
    options(sequelize, 'apps'),
  );

  FederationPairModel.init(
    {
      domainA: { type: DataTypes.STRING(253), primaryKey: true },
      domainB: { type: DataTypes.STRING(253), primaryKey: true },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...options(sequelize, 'federation_policy'), timestamps: false },
  );

  FederationProxyModel.init(
    {
      name: { type: DataTypes.STRING(100), primaryKey: true },
      publicJwk: { type: DataTypes.TEXT, allowNull: true },
      peerUrl: { type: DataTypes.STRING(500), allowNull: true },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...options(sequelize, 'federation_proxies'), timestamps: false },
  );

  PasswordResetModel.init(
    {
      tokenHash: { type: DataTypes.STRING(64), primaryKey: true },
      userId: { type: DataTypes.STRING(36), allowNull: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
      usedAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...options(sequelize, 'password_resets'), timestamps: false },
  );

  return {
    PasswordReset: PasswordResetModel,
    FederationPair: FederationPairModel,
    FederationProxy: FederationProxyModel,
    OrgUnit: OrgUnitModel,
    User: UserModel,
    Membership: MembershipModel,
    Domain: DomainModel,
    DomainUnit: DomainUnitModel,
    AuditEvent: AuditEventModel,
    OidcPayload: OidcPayloadModel,
    EndedAccess: EndedAccessModel,
    SigningKey: SigningKeyModel,
    WebSession: WebSessionModel,
    App: AppModel,
    ...defineFactorModels(sequelize),
    ...defineDirectoryModels(sequelize),
    ...definePasskeyModels(sequelize),
  };
}
