import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { bigintColumn, fresh } from '../core/model-class.ts';

export type ConversationKind = 'direct' | 'group';
export type MemberRole = 'owner' | 'admin' | 'member';
export type MemberState = 'active' | 'left' | 'removed';

export class Conversation extends Model<InferAttributes<Conversation>, InferCreationAttributes<Conversation>> {
  declare id: string;
  declare kind: ConversationKind;
  declare homeDomain: string;
  declare title: string | null;
  declare directKey: string | null;
  declare lastSeq: CreationOptional<number>;
  declare createdBy: string;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

export class Member extends Model<InferAttributes<Member>, InferCreationAttributes<Member>> {
  declare conversationId: string;
  declare address: string;
  declare role: MemberRole;
  declare state: MemberState;
  declare joinedSeq: CreationOptional<number>;
  declare readSeq: CreationOptional<number>;
  declare deliveredSeq: CreationOptional<number>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

export class Message extends Model<InferAttributes<Message>, InferCreationAttributes<Message>> {
  declare conversationId: string;
  declare seq: number;
  declare id: string;
  declare sender: string;
  declare clientMsgId: string;
  declare kind: string;
  declare body: string;
  declare refId: string | null;
  declare createdAt: Date;
  declare editedAt: Date | null;
  declare recalledAt: Date | null;
}

/** A message as plain data: what the send path passes around (building model instances costs more than the write). */
export type MessageRecord = InferAttributes<Message>;

export class Attachment extends Model<InferAttributes<Attachment>, InferCreationAttributes<Attachment>> {
  declare id: string;
  declare owner: string;
  declare conversationId: string | null;
  declare name: string;
  declare contentType: string;
  declare size: number;
  declare sha256: string;
  declare createdAt: Date;
  /**
   * When a send last named the file, until the sweep has seen a visible message of its uploader carry it
   * (then null; null too while unshared): a send can bind a file and then fail (attachments/sweep-uncarried.ts).
   */
  declare unconfirmedSince: Date | null;
}

/**
 * A file its uploader deleted (attachments/remove-own-file.ts): its record and bytes are gone, and this
 * is what is left, so that a download says it was removed rather than that it never was.
 */
export class RemovedAttachment extends Model<
  InferAttributes<RemovedAttachment>,
  InferCreationAttributes<RemovedAttachment>
> {
  declare id: string;
  declare owner: string;
  declare conversationId: string | null;
  declare removedAt: Date;
  /**
   * The home of the file's conversation while it still has to be told of the removal, with when to try
   * next (or until when a try holds it) and how many tries failed (attachments/removal-notices.ts);
   * all cleared once told, or refused for good. Pending: `tellAfter` set.
   */
  declare untoldHome: string | null;
  declare tellAfter: Date | null;
  declare tellAttempts: CreationOptional<number>;
}

export type NodeModels = {
  Conversation: typeof Conversation;
  Member: typeof Member;
  Message: typeof Message;
  Attachment: typeof Attachment;
  RemovedAttachment: typeof RemovedAttachment;
};

const bigint = (name: string) => bigintColumn(name, { defaultValue: 0 });

/** Binds the node's models to one database; each domain node in a process gets its own classes. */
export function defineNodeModels(sequelize: Sequelize): NodeModels {
  const ConversationModel = fresh(Conversation);
  const MemberModel = fresh(Member);
  const MessageModel = fresh(Message);
  const AttachmentModel = fresh(Attachment);
  const RemovedAttachmentModel = fresh(RemovedAttachment);
  const common = { sequelize, underscored: true };

  ConversationModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      kind: { type: DataTypes.STRING(8), allowNull: false },
      homeDomain: { type: DataTypes.STRING(253), allowNull: false },
      title: { type: DataTypes.STRING(200), allowNull: true },
      directKey: { type: DataTypes.STRING(645), allowNull: true },
      lastSeq: bigint('lastSeq'),
      createdBy: { type: DataTypes.STRING(320), allowNull: false },
      createdAt: DataTypes.DATE(3),
      updatedAt: DataTypes.DATE(3),
    },
    { ...common, tableName: 'conversations' },
  );

  MemberModel.init(
    {
      conversationId: { type: DataTypes.STRING(36), primaryKey: true },
      address: { type: DataTypes.STRING(320), primaryKey: true },
      role: { type: DataTypes.STRING(8), allowNull: false },
      state: { type: DataTypes.STRING(8), allowNull: false },
      joinedSeq: bigint('joinedSeq'),
      readSeq: bigint('readSeq'),
      deliveredSeq: bigint('deliveredSeq'),
      createdAt: DataTypes.DATE(3),
      updatedAt: DataTypes.DATE(3),
    },
    { ...common, tableName: 'members' },
  );

  MessageModel.init(
    {
      conversationId: { type: DataTypes.STRING(36), primaryKey: true },
      seq: { ...bigint('seq'), primaryKey: true },
      id: { type: DataTypes.STRING(36), allowNull: false },
      sender: { type: DataTypes.STRING(320), allowNull: false },
      clientMsgId: { type: DataTypes.STRING(64), allowNull: false },
      kind: { type: DataTypes.STRING(16), allowNull: false },
      body: { type: DataTypes.TEXT, allowNull: false },
      refId: { type: DataTypes.STRING(36), allowNull: true },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      editedAt: { type: DataTypes.DATE(3), allowNull: true },
      recalledAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...common, tableName: 'messages', timestamps: false },
  );

  AttachmentModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      owner: { type: DataTypes.STRING(320), allowNull: false },
      conversationId: { type: DataTypes.STRING(36), allowNull: true },
      name: { type: DataTypes.STRING(255), allowNull: false },
      contentType: { type: DataTypes.STRING(100), allowNull: false },
      size: { ...bigint('size') },
      sha256: { type: DataTypes.STRING(64), allowNull: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      unconfirmedSince: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...common, tableName: 'attachments', timestamps: false },
  );

  RemovedAttachmentModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      owner: { type: DataTypes.STRING(320), allowNull: false },
      conversationId: { type: DataTypes.STRING(36), allowNull: true },
      removedAt: { type: DataTypes.DATE(3), allowNull: false },
      untoldHome: { type: DataTypes.STRING(253), allowNull: true },
      tellAfter: { type: DataTypes.DATE(3), allowNull: true },
      tellAttempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    },
    { ...common, tableName: 'removed_attachments', timestamps: false },
  );

  return {
    Conversation: ConversationModel,
    Member: MemberModel,
    Message: MessageModel,
    Attachment: AttachmentModel,
    RemovedAttachment: RemovedAttachmentModel,
  };
}
