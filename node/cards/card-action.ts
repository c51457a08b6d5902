import { z } from 'zod';
import { AppError, ForbiddenError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import type { AppInfo } from '../bots/app-directory.ts';
import { botMayWriteIn } from '../bots/bot-reach.ts';
import type { NodeContext } from '../context.ts';
import { NotHomeError } from '../conversations/group-change.ts';
import { requireMember } from '../conversations/membership.ts';
import { parseBody } from '../messages/present-message.ts';
import { sendCardCallback } from './callback.ts';
import { cardSchema, sendsClicks } from './card-schema.ts';
import { appendCardUpdate } from './update-card.ts';

const actionSchema = z.object({
  messageId: z.string().uuid({ message: 'a message id' }),
  actionId: z.string().min(1).max(64),
});

export class UnknownActionError extends AppError {
  constructor(actionId: string) {
    super('unknown_action', 400, `This card has no action ${actionId}`);
  }
}

/**
 * Why a click was not sent to the app behind the card, said whole to the person who clicked (the portal
 * shows it as it is): the app was turned off, or its bot; the app is gone; or its bot left the conversation.
 */
export class AppUnavailableError extends AppError {
  constructor(name: string | undefined, why: AppInfo | null | 'left', when: 'before' | 'answered' = 'before') {
    const app = name ?? 'The app behind this card';
    const outcome = when === 'before' ? 'nothing was sent to it' : 'its answer to your click was not shown';
    super('app_unavailable', 409, `${app} ${unavailableBecause(why)}; ${outcome}.`);
  }
}

function unavailableBecause(why: AppInfo | null | 'left'): string {
  if (why === 'left') return 'is no longer in this conversation';
  if (why === null) return 'is no longer available here';
  if (why.disabled) return 'has been turned off by your campus administrators';
  return 'has had its chat bot turned off by your campus administrators';
}

/**
 * A click on a card in a direct conversation the app's bot opened with the person clicking, once the app is
 * no longer for them (its unit, visibility units or roles were changed): the bot may no longer write there,
 * so neither may its answer to a click (bot-reach.ts). Refused before the app hears of it; when the change
 * came while the app was answering, its answer is not written. Said whole, as AppUnavailableError is.
 */
export class NotForClickerError extends AppError {
  constructor(name: string, when: 'before' | 'answered') {
    const outcome = when === 'before' ? 'nothing was sent to it' : 'its answer to your click was not shown';
    super(
      'app_unavailable',
      403,
      `${name} is no longer available to you (your campus administrators changed whom it is for); ${outcome}.`,
    );
  }
}

/** The app's name as its card carries it (cardBody), for an app the gateway no longer names. */
function senderNameOf(message: Parameters<typeof parseBody>[0]): string | undefined {
  const name = parseBody(message).senderName;
  return typeof name === 'string' && name.trim() ? name : undefined;
}

export type { CardActionResult } from '../../protocol/federation-events.ts';
import type { CardActionResult } from '../../protocol/federation-events.ts';

/**
 * Someone clicked a card's button: a member of the card's conversation, on an action the card (as it is
 * now) offers. The node sends the app a signed callback and, when the app answers with a new card, updates
 * the card for every member. The app's bot lives on the conversation's home node: a click on a card of a
 * conversation hosted elsewhere goes there.
 */
export async function cardAction(ctx: NodeContext, input: unknown): Promise<CardActionResult> {
  const { messageId, actionId } = parseInput(actionSchema, input);
  if (ctx.actor.kind !== 'user') throw new ForbiddenError('Only people answer cards');
  const target = await ctx.models.Message.findOne({ where: { id: messageId } });
  if (!target) throw new NotFoundError('No such message');
  const { conversation } = await requireMember(ctx, target.conversationId);
  if (target.kind !== 'card' || target.recalledAt)
    throw new ValidationError('That message is not a card', { messageId: 'not a card' });
  const card = cardSchema.safeParse(parseBody(target).card);
  // A link (an action with a url) is opened by the client; no click on it is ever sent to the app.
  if (!card.success || !card.data.actions.some((a) => a.id === actionId && sendsClicks(a)))
    throw new UnknownActionError(actionId);
  // The app's bot posted the card at the conversation's home, which sends the click on: a member of
  // another domain clicks through their own node, which asks the home.
  if (conversation.homeDomain !== ctx.domain) {
    return ctx.federation.home.cardActionAtHome(conversation.homeDomain, {
      messageId,
      actionId,
      user: { address: ctx.actor.address, name: ctx.actor.name },
    });
  }
  if (domainOf(target.sender) !== ctx.domain) throw new NotHomeError(conversation.homeDomain);

  const app = await ctx.apps.directory.get(userOf(target.sender));
  const named = app?.name ?? senderNameOf(target);
  if (!app || app.disabled || !app.botEnabled) throw new AppUnavailableError(named, app);
  // A bot removed from the conversation hears of no click there, and changes no card there (as it may not itself).
  const { members } = ctx.members.peek(target.conversationId) ?? (await ctx.members.entry(target.conversationId));
  if (!members.has(target.sender)) throw new AppUnavailableError(named, 'left');
  const bot = { address: target.sender };
  if (!(await botMayWriteIn(ctx, bot, app, conversation))) throw new NotForClickerError(app.name, 'before');
  const answer = await sendCardCallback(
    app,
    {
      messageId,
      conversationId: target.conversationId,
      actionId,
      user: { address: ctx.actor.address, name: ctx.actor.name },
      app: app.slug,
    },
    { policy: ctx.config.appCalls, logger: ctx.logger },
  );
  const result: CardActionResult = {
    messageId,
    actionId,
    updated: false,
    ...(answer.toast ? { toast: answer.toast } : {}),
  };
  if (!answer.card) return result;
  // The app may have been turned off, or narrowed, while it answered: its new card is a write by its bot,
  // which such an app may no longer make (as it may not post or update a card itself).
  const now = await ctx.apps.directory.get(app.slug);
  if (!now || now.disabled || !now.botEnabled) throw new AppUnavailableError(app.name, now, 'answered');
  if (!(await botMayWriteIn(ctx, bot, now, conversation))) throw new NotForClickerError(app.name, 'answered');
  const { message } = await appendCardUpdate(ctx, target, answer.card);
  // Recalled by its bot while the app answered, the card stays gone (update-card.ts): nothing was updated.
  if (message.recalledAt) return result;
  return { ...result, updated: true, seq: message.seq };
}
