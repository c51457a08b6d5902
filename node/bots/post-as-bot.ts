import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema, domainOf } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import { NotHomeError } from '../conversations/group-change.ts';
import { requireMember } from '../conversations/membership.ts';
import { openDirect } from '../conversations/open-direct.ts';
import { cardBody, postedCardSchema, sendsClicks, type Card } from '../cards/card-schema.ts';
import { appendCardUpdate } from '../cards/update-card.ts';
import type { Appended } from '../messages/group-commit.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { AppInfo } from './app-directory.ts';
import { assertBotMayWriteIn, assertBotMayWriteTo } from './bot-reach.ts';
import { editAsBot } from './change-as-bot.ts';
import { paceBotWrite } from './pace-bot-write.ts';
import { requireBot, type BotIdentity } from './require-bot.ts';

const clientMsgId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, { message: '8-64 letters, digits, - or _' });

// The bot API's bodies are strict: a misspelt field is refused by name (`unknown field`), not dropped.
const botMessageSchema = z
  .strictObject({
    to: addressSchema.optional(),
    conversationId: z.string().uuid({ message: 'a conversation id' }).optional(),
    text: z.string().max(100_000).optional(),
    card: postedCardSchema.optional(),
    clientMsgId: clientMsgId.optional(),
  })
  .refine((m) => Boolean(m.to) !== Boolean(m.conversationId), {
    message: 'give either to or conversationId',
    path: ['conversationId'],
  })
  .refine((m) => Boolean(m.text?.trim()) !== Boolean(m.card), {
    message: 'give either text or a card',
    path: ['text'],
  });

// A change of one of the bot's messages: a new card for a card, or new text for a text message.
const botChangeSchema = z
  .strictObject({
    card: postedCardSchema.optional(),
    text: z.string().max(100_000).optional(),
    clientMsgId: clientMsgId.optional(),
  })
  .refine((m) => (m.text === undefined) !== (m.card === undefined), {
    message: 'give either text or a card',
    path: ['text'],
  });

/**
 * A card with buttons from an app that has no callback URL: every click on them would fail (`no_callback`),
 * so it is refused before anything is posted, saying how to give the app one. Links (an action with a
 * `url`) are opened by the client and need no callback: a card of links alone is fine.
 */
function assertClicksCanReach(app: AppInfo, card: Card | undefined, field: string): void {
  if (!card || !card.actions.some(sendsClicks) || (app.interactionCallbackUrl && app.callbackSecret)) return;
  throw new ValidationError(
    `This card has buttons, but ${app.name} has no interaction callback URL, so no click on them could reach it: give the app one ("atrium apps update ${app.slug} --callback-url <URL>", or "Interaction callback URL" in the admin console's app page), or post the card without actions`,
    { [field]: 'buttons need the app to have an interaction callback URL' },
  );
}

/**
 * A bot posts text or a card: to a person of this domain its app is for (opening the direct conversation
 * bot↔person), or into a conversation it belongs to (a group someone invited `slug@domain` into). Refused
 * where it is not a member, in conversations hosted by another domain (whose node orders them and delivers
 * its clicks), and to people its app is not for unless they opened the conversation with it (bot-reach.ts).
 * A client id makes a retry return the first message instead of posting twice. Paced per bot (paceBotWrite).
 */
export async function postAsBot(ctx: NodeContext, input: unknown): Promise<Appended> {
  const { bot, app } = await requireBot(ctx);
  await paceBotWrite(ctx, bot);
  const data = parseInput(botMessageSchema, input);
  assertClicksCanReach(app, data.card, 'card.actions');
  if (data.text && data.text.length > ctx.config.maxTextChars) {
    throw new ValidationError('The message is too long', { text: `at most ${ctx.config.maxTextChars} characters` });
  }
  let conversationId: string;
  if (data.to) {
    if (domainOf(data.to) !== ctx.domain) {
      throw new ValidationError("A bot writes to people of its node's domain", {
        to: `a person of ${ctx.domain}; use a token of that person's node`,
      });
    }
    await assertBotMayWriteTo(ctx, bot, app, data.to);
    conversationId = (await openDirect(ctx, data.to, 'to')).conversation.id;
  } else {
    conversationId = data.conversationId!;
    const { conversation } = await requireMember(ctx, conversationId).catch((error: unknown) => {
      throw error instanceof NotFoundError ? unknownHere(ctx.domain, bot.address) : error;
    });
    if (conversation.homeDomain !== ctx.domain) throw new NotHomeError(conversation.homeDomain);
    await assertBotMayWriteIn(ctx, bot, app, conversation, 'conversationId');
  }
  // A bot writes only where this node orders: a group goes to the members it can reach (policy.ts, mustReach).
  const members = (await ctx.members.of([conversationId])).get(conversationId) ?? new Set<string>();
  await ctx.federation.policy.assertAllowedDomains(
    ctx.federation.policy.mustReach(conversationId, { home: ctx.domain, members }),
  );
  const body = data.card
    ? cardBody(data.card, app.name)
    : { text: data.text!, senderName: app.name, senderKind: 'bot' };
  return ctx.committer.append({
    conversationId,
    sender: bot.address,
    clientMsgId: data.clientMsgId ?? `bot-${randomUUID()}`,
    kind: data.card ? 'card' : 'text',
    body: JSON.stringify(body),
  });
}

/**
 * `PATCH /api/v1/bot/messages/:id`: a bot replaces one of its own cards (`{card}`, updateCardAsBot) or
 * edits one of its own text messages (`{text}`, change-as-bot.ts). Paced per bot, as a post is.
 */
export async function changeAsBot(ctx: NodeContext, messageId: string, input: unknown): Promise<Appended> {
  const who = await requireBot(ctx);
  await paceBotWrite(ctx, who.bot);
  const data = parseInput(botChangeSchema, input);
  if (data.card) return updateCardAsBot(ctx, who, messageId, data.card, data.clientMsgId);
  return editAsBot(ctx, who, messageId, data.text!, data.clientMsgId);
}

/**
 * A bot replaces one of its own cards, for everyone in the conversation (the app's news, not a click's
 * answer). Updating a card writes into its conversation: refused, as a post is, once the bot is no longer a
 * member (removed from the group), in a conversation hosted by another domain, and in a direct conversation
 * the bot opened with someone its app is no longer for.
 */
async function updateCardAsBot(
  ctx: NodeContext,
  { bot, app }: { bot: BotIdentity; app: AppInfo },
  messageId: string,
  card: Card,
  clientMsgId: string | undefined,
): Promise<Appended> {
  assertClicksCanReach(app, card, 'card.actions');
  const target = await ctx.models.Message.findOne({ where: { id: messageId } });
  if (!target || target.sender !== bot.address || target.kind !== 'card')
    throw new NotFoundError('This bot sent no such card');
  const { conversation } = await requireMember(ctx, target.conversationId);
  if (conversation.homeDomain !== ctx.domain) throw new NotHomeError(conversation.homeDomain);
  await assertBotMayWriteIn(ctx, bot, app, conversation, 'messageId');
  if (target.recalledAt) throw new ValidationError('That card was recalled', { messageId: 'recalled' });
  return appendCardUpdate(ctx, target, card, clientMsgId);
}

/**
 * A conversation this node does not hold: most likely a group of another college, whose node hosts it and
 * knows this app's bot there by another address. Said so, since a bot holds one token per node.
 */
function unknownHere(domain: string, bot: string): NotFoundError {
  const slug = bot.split('@')[0];
  return new NotFoundError(
    `No such conversation on this node (${domain}). A group of another college is on its own node: post there as ${slug}@<that domain>, with a token for that node (GET /api/v1/conversations on a node lists the groups its bot is in)`,
  );
}
