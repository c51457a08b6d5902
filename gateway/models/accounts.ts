import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh } from '../../core/model-class.ts';
import { SEARCH_TEXT_MAX, searchTextOf } from '../../core/search-text.ts';
import { tableOptions, timestamps } from './columns.ts';

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
  /** When the failures counted in failedLogins began (see countFailure). */
  declare failuresSince: Date | null;
  declare lockedUntil: Date | null;
  declare lastLoginAt: Date | null;
  /** When an administrator last ended every session of the person (disable, password reset, sign out everywhere). */
  declare accessEndedAt: CreationOptional<Date | null>;
  /** The password was set by an administrator for the person to replace at their next sign-in (a temporary one). */
  declare mustChangePassword: CreationOptional<boolean>;
  /** Until when a temporary password signs in (TEMPORARY_PASSWORD_DAYS after it was set); null for any other. */
  declare temporaryPasswordUntil: CreationOptional<Date | null>;
  /** Username, name and email as a search finds them (core/search-text.ts); kept by the model's hooks. */
  declare searchText: CreationOptional<string | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

/**
 * Keeps a person's search text with what it is made of, whichever way they are written (a form, the CLI,
 * an import, a directory sync): on every save that changes their username, name or email, and on inserts.
 */
function keepSearchText(user: User): void {
  const { username, displayName, email } = user;
  if (username === undefined || displayName === undefined || email === undefined) return;
  if (!user.isNewRecord && !user.changed('username') && !user.changed('displayName') && !user.changed('email')) return;
  user.searchText = searchTextOf([username, displayName, email]);
}

export class Membership extends Model<InferAttributes<Membership>, InferCreationAttributes<Membership>> {
  declare userId: string;
  declare unitId: string;
  declare isPrimary: CreationOptional<boolean>;
  /**
   * With the unit-admin role, the person administers this unit and those below it. Every unit of a
   * local unit admin does (the default); a directory person administers only their unit-admin groups' units.
   */
  declare administers: CreationOptional<boolean>;
}

/**
 * A "forgot password" link: only the SHA-256 of its random token is kept; usable once, until `expiresAt`,
 * unless cancelled before (`cancelledAt`) because the account changed after it was mailed.
 */
export class PasswordReset extends Model<InferAttributes<PasswordReset>, InferCreationAttributes<PasswordReset>> {
  declare tokenHash: string;
  declare userId: string;
  declare createdAt: Date;
  declare expiresAt: Date;
  declare usedAt: CreationOptional<Date | null>;
  declare cancelledAt: CreationOptional<Date | null>;
}

/**
 * What is left of a deleted account (gateway/accounts/delete-account.ts): its username, never given again,
 * its `sub`, when, and the chat addresses it had then (JSON), which the directory answers as a former member.
 */
export class DeletedAccount extends Model<InferAttributes<DeletedAccount>, InferCreationAttributes<DeletedAccount>> {
  declare username: string;
  declare userId: string;
  declare deletedAt: Date;
  declare addresses: string;
}

export type AccountModels = {
  OrgUnit: typeof OrgUnit;
  User: typeof User;
  Membership: typeof Membership;
  PasswordReset: typeof PasswordReset;
  DeletedAccount: typeof DeletedAccount;
};

/** Binds the units, the people, their memberships and their "forgot password" links to one database. */
export function defineAccountModels(sequelize: Sequelize): AccountModels {
  const OrgUnitModel = fresh(OrgUnit);
  const UserModel = fresh(User);
  const MembershipModel = fresh(Membership);
  const PasswordResetModel = fresh(PasswordReset);
  const DeletedAccountModel = fresh(DeletedAccount);

  OrgUnitModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      path: { type: DataTypes.STRING(255), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: false },
      parentId: { type: DataTypes.STRING(36), allowNull: true },
      ...timestamps,
    },
    tableOptions(sequelize, 'org_units'),
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
      failuresSince: { type: DataTypes.DATE(3), allowNull: true },
      lockedUntil: { type: DataTypes.DATE(3), allowNull: true },
      lastLoginAt: { type: DataTypes.DATE(3), allowNull: true },
      accessEndedAt: { type: DataTypes.DATE(3), allowNull: true },
      mustChangePassword: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      temporaryPasswordUntil: { type: DataTypes.DATE(3), allowNull: true },
      searchText: { type: DataTypes.STRING(SEARCH_TEXT_MAX), allowNull: true },
      ...timestamps,
    },
    {
      ...tableOptions(sequelize, 'users'),
      hooks: {
        beforeSave: keepSearchText,
        beforeBulkCreate: (users) => {
          for (const user of users) keepSearchText(user);
        },
      },
    },
  );

  MembershipModel.init(
    {
      userId: { type: DataTypes.STRING(36), primaryKey: true },
      unitId: { type: DataTypes.STRING(36), primaryKey: true },
      isPrimary: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      administers: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    },
    { ...tableOptions(sequelize, 'memberships'), timestamps: false },
  );

  PasswordResetModel.init(
    {
      tokenHash: { type: DataTypes.STRING(64), primaryKey: true },
      userId: { type: DataTypes.STRING(36), allowNull: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
      usedAt: { type: DataTypes.DATE(3), allowNull: true },
      cancelledAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...tableOptions(sequelize, 'password_resets'), timestamps: false },
  );

  DeletedAccountModel.init(
    {
      username: { type: DataTypes.STRING(64), primaryKey: true },
      userId: { type: DataTypes.STRING(36), allowNull: false },
      deletedAt: { type: DataTypes.DATE(3), allowNull: false },
      addresses: { type: DataTypes.TEXT, allowNull: false },
    },
    { ...tableOptions(sequelize, 'deleted_accounts'), timestamps: false },
  );
  return {
    OrgUnit: OrgUnitModel,
    User: UserModel,
    Membership: MembershipModel,
    PasswordReset: PasswordResetModel,
    DeletedAccount: DeletedAccountModel,
  };
}
