import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh, mediumText } from '../../core/model-class.ts';
import { tableOptions } from './columns.ts';

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

export class SigningKey extends Model<InferAttributes<SigningKey>, InferCreationAttributes<SigningKey>> {
  declare kid: string;
  declare alg: string;
  declare publicJwk: string;
  declare privateJwkSealed: string;
  declare state: 'active' | 'retired';
  declare createdAt: Date;
  declare retiredAt: Date | null;
}

/**
 * A person (`sub`) or a gateway session (`sid`) whose access tokens issued up to `endedAt` no node
 * accepts; with `domain`, only that domain's node (the person was moved off its units); with `clientId`,
 * only the tokens issued to that app (the person removed its access). Kind `app`: an administrator
 * changed the app of slug `subject` and client `clientId`, and the nodes drop what they keep of it.
 */
export class EndedAccess extends Model<InferAttributes<EndedAccess>, InferCreationAttributes<EndedAccess>> {
  declare id: CreationOptional<number>;
  declare kind: 'sub' | 'sid' | 'app';
  declare subject: string;
  declare endedAt: Date;
  declare domain: CreationOptional<string | null>;
  declare clientId: CreationOptional<string | null>;
  /** The chat addresses of a deleted person (JSON), on the entry that ended their access: they leave their groups. */
  declare deletedAddresses: CreationOptional<string | null>;
}

/**
 * An app still to be told over its back-channel logout URI that a session of the person (`accountId`)
 * in it (`sid`) ended with their access: sent by the gateway (gateway/oidc/app-logouts.ts).
 */
export class AppLogout extends Model<InferAttributes<AppLogout>, InferCreationAttributes<AppLogout>> {
  declare id: CreationOptional<number>;
  declare clientId: string;
  declare accountId: string;
  declare sid: string;
  declare tries: CreationOptional<number>;
  declare nextAt: Date;
  declare createdAt: Date;
}

/**
 * What a gateway session (its `uid`) of the person was signed in from: the browser's User-Agent and the
 * address, noted once at sign-in (gateway/oidc/session-devices.ts) for the account page's device list.
 */
export class SessionDevice extends Model<InferAttributes<SessionDevice>, InferCreationAttributes<SessionDevice>> {
  declare sessionUid: string;
  declare accountId: string;
  declare userAgent: string | null;
  declare ip: string | null;
  declare createdAt: Date;
}

export class WebSession extends Model<InferAttributes<WebSession>, InferCreationAttributes<WebSession>> {
  declare sid: string;
  declare data: string;
  declare expiresAt: Date;
}

export type SignInModels = {
  OidcPayload: typeof OidcPayload;
  SigningKey: typeof SigningKey;
  EndedAccess: typeof EndedAccess;
  AppLogout: typeof AppLogout;
  WebSession: typeof WebSession;
  SessionDevice: typeof SessionDevice;
};

/**
 * Binds the OIDC provider's store, its signing keys, the access ended early (and the apps still to be
 * told of it), what each gateway session was signed in from, and the web sessions of the console and portal.
 */
export function defineSignInModels(sequelize: Sequelize): SignInModels {
  const OidcPayloadModel = fresh(OidcPayload);
  const SigningKeyModel = fresh(SigningKey);
  const EndedAccessModel = fresh(EndedAccess);
  const AppLogoutModel = fresh(AppLogout);
  const WebSessionModel = fresh(WebSession);
  const SessionDeviceModel = fresh(SessionDevice);

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
    { ...tableOptions(sequelize, 'oidc_payloads'), timestamps: false },
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
    { ...tableOptions(sequelize, 'signing_keys'), timestamps: false },
  );

  EndedAccessModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      kind: { type: DataTypes.STRING(8), allowNull: false },
      subject: { type: DataTypes.STRING(255), allowNull: false },
      endedAt: { type: DataTypes.DATE(3), allowNull: false },
      domain: { type: DataTypes.STRING(253), allowNull: true },
      clientId: { type: DataTypes.STRING(255), allowNull: true },
      deletedAddresses: { type: DataTypes.TEXT, allowNull: true },
    },
    { ...tableOptions(sequelize, 'ended_access'), timestamps: false },
  );

  AppLogoutModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      clientId: { type: DataTypes.STRING(255), allowNull: false },
      accountId: { type: DataTypes.STRING(255), allowNull: false },
      sid: { type: DataTypes.STRING(255), allowNull: false },
      tries: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      nextAt: { type: DataTypes.DATE(3), allowNull: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...tableOptions(sequelize, 'app_logouts'), timestamps: false },
  );

  WebSessionModel.init(
    {
      sid: { type: DataTypes.STRING(255), primaryKey: true },
      data: { type: DataTypes.TEXT, allowNull: false },
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...tableOptions(sequelize, 'web_sessions'), timestamps: false },
  );

  SessionDeviceModel.init(
    {
      sessionUid: { type: DataTypes.STRING(255), primaryKey: true },
      accountId: { type: DataTypes.STRING(255), allowNull: false },
      userAgent: { type: DataTypes.STRING(512), allowNull: true },
      ip: { type: DataTypes.STRING(64), allowNull: true },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...tableOptions(sequelize, 'session_devices'), timestamps: false },
  );

  return {
    OidcPayload: OidcPayloadModel,
    SigningKey: SigningKeyModel,
    EndedAccess: EndedAccessModel,
    AppLogout: AppLogoutModel,
    WebSession: WebSessionModel,
    SessionDevice: SessionDeviceModel,
  };
}
