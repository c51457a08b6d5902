import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { NotHomeError } from '../conversations/group-change.ts';
import { requireMember } from '../conversations/membership.ts';
import type { Appended } from '../messages/group-commit.ts';
import { parseBody } from '../messages/present-message.ts';
import { earlier, editMessage, recallMessage, RecalledError, type Change } from '../messages/recall-edit.ts';
import type { Message } from '../models.ts';
import type { AppInfo } from './app-directory.ts';
import { assertBotMayWriteIn } from './bot-reach.ts';
import { paceBotWrite } from './pace-bot-write.ts';
import { requireBot, type BotIdentity } from './require-bot.ts';

type Bot = { bot: BotIdentity; app: AppInfo };

const messageIdSchema = z.string().uuid();

/** A bot named a message of someone else: it changes only its own. */
export class NotOwnMessageError extends AppError {
  constructor(sender: string) {
    super('forbidden', 403, `This bot may edit or recall only its own messages; this one was sent by ${sender}`, {
      fields: { messageId: `sent by ${sender}, not by this bot` },
    });
  }
}

/**
 * One of the bot's own messages, in a conversation it still writes in: a member (403 `not_member`), at
 * this node's home (409 `not_home`), and in a direct conversation it opened only while its app is for the
 * other person. Each refusal is the one a post there gets.
 */
async function ownBotMessage(ctx: NodeContext, { bot, app }: Bot, messageId: string): Promise<Message> {
  const target = messageIdSchema.safeParse(messageId).success
    ? await ctx.models.Message.findOne({ where: { id: messageId } })
    : null;
  if (!target) throw new NotFoundError('No such message');
  const { conversation } = await requireMember(ctx, target.conversationId);
  if (conversation.homeDomain !== ctx.domain) throw new NotHomeError(conversation.homeDomain);
  if (target.sender !== bot.address) throw new NotOwnMessageError(target.sender);
  await assertBotMayWriteIn(ctx, bot, app, conversation, 'messageId');
  return target;
}

/** The entry that gave a message the text it shows now: its latest edit, or the message itself. */
async function entryShowing(ctx: NodeContext, target: Message): Promise<Message> {
  const latest = await ctx.models.Message.findOne({
    where: { conversationId: target.conversationId, refId: target.id, kind: 'edit' },
    order: [['seq', 'DESC']],
  });
  return latest ?? target;
}

/**
 * A bot replaces the text of one of its own text messages, by the person's edit (recall-edit.ts: its length
 * and size limits, never a recalled message, pushed and federated alike). A retry is safe: with the same
 * `clientMsgId` it gets the first edit's ack, as a person's does; without one, an edit to the text the
 * message already shows changes nothing and answers with the entry that gave it that text (`duplicate`).
 */
export async function editAsBot(
  ctx: NodeContext,
  who: Bot,
  messageId: string,
  text: string,
  clientMsgId: string | undefined,
): Promise<Appended> {
  if (clientMsgId) {
    const retried = await earlier(ctx, { kind: 'edit', clientMsgId, messageId });
    if (retried) return retried;
  }
  const target = await ownBotMessage(ctx, who, messageId);
  if (target.kind !== 'text') {
    const card = target.kind === 'card';
    throw new ValidationError(
      card ? 'A card is replaced with {card}, not edited' : 'Only text messages can be edited',
      {
        messageId: card ? 'a card: send {card} to replace it' : 'not a text message',
      },
    );
  }
  if (target.recalledAt) throw new RecalledError();
  if (!clientMsgId && parseBody(target).text === text)
    return { message: await entryShowing(ctx, target), duplicate: true };
  return editMessage(ctx, { clientMsgId: clientMsgId ?? `bot-edit-${randomUUID()}`, messageId, text });
}

const recallBodySchema = z.strictObject({}).optional();

/**
 * A bot takes back one of its own messages, text or card, by the person's recall (recall-edit.ts: within
 * RECALL_WINDOW_SECONDS, pushed, federated, the search index and files kept in step). Its client id is
 * the message's own, so a retry, or two at once, recall once and answer alike (`duplicate` for the later).
 */
export async function recallAsBot(ctx: NodeContext, messageId: string, input: unknown): Promise<Appended> {
  const who = await requireBot(ctx);
  await paceBotWrite(ctx, who.bot);
  parseInput(recallBodySchema, input);
  const id = messageId.toLowerCase();
  if (!messageIdSchema.safeParse(id).success) throw new NotFoundError('No such message');
  const change: Change = { kind: 'recall', clientMsgId: `bot-recall-${id}`, messageId: id };
  const retried = await earlier(ctx, change);
  if (retried) return retried;
  const target = await ownBotMessage(ctx, who, id);
  if (target.kind !== 'text' && target.kind !== 'card') {
    throw new ValidationError('Only text messages and cards can be recalled', {
      messageId: `a ${target.kind} entry, not a message`,
    });
  }
  return recallMessage(ctx, { clientMsgId: change.clientMsgId, messageId: id });
}
