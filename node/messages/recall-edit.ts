import type { Transaction } from 'sequelize';
import { z } from 'zod';
import { AppError, ForbiddenError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { takeBackAttachments } from '../attachments/take-back-attachments.ts';
import { requireMember } from '../conversations/membership.ts';
import type { Message, MessageRecord } from '../models.ts';
import { BodyTooLargeError, type Appended } from './group-commit.ts';
import { bodyFits } from '../../protocol/client-frames.ts';
import { parseBody } from './present-message.ts';

const clientMsgId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, { message: '8-64 letters, digits, - or _' });
const recallSchema = z.object({ clientMsgId, messageId: z.string().uuid() });
const editSchema = z.object({ clientMsgId, messageId: z.string().uuid(), text: z.string().min(1).max(100_000) });

export class RecalledError extends AppError {
  constructor() {
    super('recalled', 409, 'That message was recalled');
  }
}

export class RecallWindowPassedError extends AppError {
  constructor(seconds: number) {
    super('recall_window_passed', 403, `Messages can be recalled only within ${seconds} seconds of sending`);
  }
}

/** A change of one of the sender's own messages, made as an entry of its own that refers to it. */
export type Change = { kind: 'recall' | 'edit' | 'file.removed'; clientMsgId: string; messageId: string };

/**
 * An earlier recall or edit with the same client id answers a retry, before any rule is checked again:
 * after a recall the target is recalled, and checking would refuse the very retry it should acknowledge.
 */
export async function earlier(ctx: NodeContext, change: Change): Promise<Appended | undefined> {
  const found = await ctx.models.Message.findOne({
    where: { sender: ctx.actor.address, clientMsgId: change.clientMsgId },
  });
  if (!found) return undefined;
  if (found.kind !== change.kind || found.refId !== change.messageId) {
    throw new ValidationError('That client message id was already used for something else', {
      clientMsgId: 'already used',
    });
  }
  return { message: found, duplicate: true };
}

/**
 * The actor's own, still visible message of one of `kinds` in a conversation they are in: a text, or for a
 * recall also a card (only bots send cards, and they recall them as people recall texts).
 */
async function ownMessage(ctx: NodeContext, messageId: string, kinds: readonly string[] = ['text']): Promise<Message> {
  const target = (await ctx.models.Message.findOne({ where: { id: messageId } })) ?? ackedAtHome(ctx, messageId);
  if (!target) throw new NotFoundError('No such message');
  await requireMember(ctx, target.conversationId);
  if (target.sender !== ctx.actor.address) throw new ForbiddenError('Only the sender can change a message');
  if (!kinds.includes(target.kind))
    throw new ValidationError('Only text messages can be changed', { messageId: 'not a text message' });
  if (target.recalledAt) throw new RecalledError();
  return target;
}

/**
 * An entry this node sent to another domain's home and had acknowledged, whose copy has not come back
 * through federation yet: the sender may recall or edit it at once, as they can a message of their own node.
 */
function ackedAtHome(ctx: NodeContext, messageId: string): Message | null {
  const sent = ctx.federation.home.acked(messageId);
  if (!sent) return null;
  const { submit, ack } = sent;
  return ctx.models.Message.build(
    {
      conversationId: submit.conversationId,
      seq: ack.seq,
      id: ack.messageId,
      sender: submit.sender,
      clientMsgId: submit.clientMsgId,
      kind: submit.kind,
      body: submit.body,
      refId: submit.refId ?? null,
      createdAt: new Date(ack.at),
      editedAt: null,
      recalledAt: null,
    },
    { isNewRecord: false },
  );
}

/**
 * A conversation homed on another domain is ordered there: the change goes to the home, as a send does,
 * and the local copy comes back through federation.
 */
async function submitToHome(
  ctx: NodeContext,
  home: string,
  change: Change,
  target: Message,
  body: string,
): Promise<Appended> {
  const ack = await ctx.federation.home.submit(home, {
    conversationId: target.conversationId,
    sender: ctx.actor.address,
    clientMsgId: change.clientMsgId,
    kind: change.kind,
    body,
    refId: target.id,
  });
  const message = ctx.models.Message.build(
    {
      conversationId: target.conversationId,
      seq: ack.seq,
      id: ack.messageId,
      sender: ctx.actor.address,
      clientMsgId: change.clientMsgId,
      kind: change.kind,
      body,
      refId: target.id,
      createdAt: new Date(ack.at),
      editedAt: null,
      recalledAt: null,
    },
    { isNewRecord: false },
  );
  return { message, duplicate: ack.duplicate };
}

/**
 * The message a change (an edit, a card update) refers to, read with a row lock in the change's transaction,
 * so that a recall or edit committed while this one waited for the conversation lock is seen. Recalled (or
 * gone), it is null, and the change's own entry `stored` is blanked as well: it must not carry its content
 * either, in storage or in what fan-out pushes.
 */
export async function lockedUnlessRecalled(
  ctx: NodeContext,
  tx: Transaction,
  targetId: string,
  stored: MessageRecord,
): Promise<Message | null> {
  const { Message } = ctx.models;
  const current = await Message.findOne({ where: { id: targetId }, lock: tx.LOCK.UPDATE, transaction: tx });
  if (current && !current.recalledAt) return current;
  const gone = { body: '{}', recalledAt: current?.recalledAt ?? stored.createdAt };
  await Message.update(gone, { where: { conversationId: stored.conversationId, seq: stored.seq }, transaction: tx });
  Object.assign(stored, gone);
  return null;
}

/** Appends a change of `target`: here, with `alsoWrite` in its transaction, or at the conversation's home. */
export async function appendChange(
  ctx: NodeContext,
  change: Change,
  target: Message,
  body: string,
  alsoWrite: (tx: Transaction, stored: MessageRecord) => Promise<void>,
) {
  const home = await ctx.members.homeOf(target.conversationId);
  if (home && home !== ctx.domain) return submitToHome(ctx, home, change, target, body);
  return ctx.committer.append({
    conversationId: target.conversationId,
    sender: ctx.actor.address,
    clientMsgId: change.clientMsgId,
    kind: change.kind,
    body,
    refId: target.id,
    alsoWrite,
    ...(ctx.connectionId ? { origin: ctx.connectionId } : {}),
  });
}

/**
 * The sender takes a message back within the recall window (a bot its card too). The recall is an entry of
 * its own (so devices learn of it in order); in the same transaction the target and any edits or card
 * updates of it lose their content and keep their place, and the files it shared are taken back (deleted, unless another visible
 * message still shares them).
 */
export async function recallMessage(ctx: NodeContext, input: unknown): Promise<Appended> {
  const data = parseInput(recallSchema, input);
  const change: Change = { kind: 'recall', ...data };
  const retried = await earlier(ctx, change);
  if (retried) return retried;
  const target = await ownMessage(ctx, data.messageId, ['text', 'card']);
  const windowMs = ctx.config.recallWindowSeconds * 1000;
  if (ctx.clock.now() - target.createdAt.getTime() > windowMs)
    throw new RecallWindowPassedError(ctx.config.recallWindowSeconds);
  const { Message } = ctx.models;
  const appended = await appendChange(ctx, change, target, '{}', async (tx, stored) => {
    const gone = { body: '{}', recalledAt: stored.createdAt };
    await Message.update(gone, { where: { id: target.id, recalledAt: null }, transaction: tx });
    await Message.update(gone, {
      where: { conversationId: target.conversationId, refId: target.id, kind: ['edit', 'card.update'] },
      transaction: tx,
    });
    await ctx.federation.delivery.forgetRecalled(tx, target.id, stored.createdAt);
    await takeBackAttachments(ctx, tx, target);
  });
  // In a conversation hosted elsewhere the home took the recall (the writes above ran there, not here),
  // but the files stay here, where they are served from: take them back here too.
  const home = await ctx.members.homeOf(target.conversationId);
  if (home && home !== ctx.domain) await ctx.sequelize.transaction((tx) => takeBackAttachments(ctx, tx, target));
  return appended;
}

/** The sender replaces the text of their message, at any time, unless it was recalled. */
export async function editMessage(ctx: NodeContext, input: unknown): Promise<Appended> {
  const data = parseInput(editSchema, input);
  if (!data.text.trim()) throw new ValidationError('A message needs text', { text: 'required' });
  if (data.text.length > ctx.config.maxTextChars) {
    throw new ValidationError('The message is too long', { text: `at most ${ctx.config.maxTextChars} characters` });
  }
  const change: Change = { kind: 'edit', clientMsgId: data.clientMsgId, messageId: data.messageId };
  const retried = await earlier(ctx, change);
  if (retried) return retried;
  const target = await ownMessage(ctx, data.messageId);
  // The edited message keeps its mentions and files: with the new text, they must fit as it is stored.
  if (!bodyFits(JSON.stringify({ ...parseBody(target), text: data.text }))) throw new BodyTooLargeError();
  const { Message } = ctx.models;
  return appendChange(ctx, change, target, JSON.stringify({ text: data.text }), async (tx, stored) => {
    const current = await lockedUnlessRecalled(ctx, tx, target.id, stored);
    if (!current) return;
    const body = JSON.stringify({ ...parseBody(current), text: data.text });
    await Message.update(
      { body, editedAt: stored.createdAt },
      { where: { id: target.id, recalledAt: null }, transaction: tx },
    );
  });
}
