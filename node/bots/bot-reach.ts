import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { userOf } from '../../protocol/address.ts';
import type { GatewayAsker } from '../../protocol/signature.ts';
import type { NodeContext } from '../context.ts';
import { directIdentity } from '../conversations/open-direct.ts';
import type { Conversation } from '../models.ts';
import type { AppInfo } from './app-directory.ts';
import { createGatewayLookup } from './gateway-lookup.ts';
import type { BotIdentity } from './require-bot.ts';

/** Whom an app is for, as the gateway says (its owner unit, visibility units and roles, as the workbench judges). */
export interface BotReach {
  /**
   * Whether the app `slug` is for the person `username`; asked again after the cache time. While the gateway
   * cannot be reached nothing is guessed (a retryable 503), except with `lastIfAway` (a bot's reads): then
   * the last answer since the app's latest change stands, however old, as the app directory's does.
   */
  isFor(slug: string, username: string, options?: { lastIfAway?: boolean }): Promise<boolean>;
  /**
   * Drops every answer kept about the app `slug` (an administrator changed it, perhaps whom it is for), so
   * that the next `isFor` asks the gateway: an answer already on its way is not kept either.
   */
  forget(slug: string): void;
}

const MAX_REMEMBERED = 10_000;

/**
 * Asks the gateway, over a signed request, whether an app is for a person, and keeps each answer for
 * `ttlMs`, or until the app's change is heard (`forget`, node/bots/app-changes.ts), so that narrowing an
 * app's visibility holds at once, as disabling it does. While the gateway cannot be reached nothing is
 * guessed: the bot is told to try again.
 */
export function createBotReach(
  options: GatewayAsker & { ttlMs: number; logger: Logger; now?: () => number },
): BotReach {
  const clock = options.now ?? Date.now;
  const remembered = new Map<string, { at: number; isFor: boolean }>();
  // Counts forgets: an answer asked for before one may predate the change, so it is not kept (apps change seldom).
  let forgets = 0;

  const lookUp = createGatewayLookup(options);

  function ask(slug: string, username: string): Promise<boolean> {
    return lookUp({
      path: `/federation/v1/apps/${encodeURIComponent(slug)}/people/${encodeURIComponent(username)}`,
      fields: { slug, username },
      // No such app for this node, or a name the gateway takes for no one's: the app is for nobody there.
      answers: [404, 400],
      read: async (response) =>
        response.ok && ((await response.json()) as { person: { appIsFor: boolean } }).person.appIsFor === true,
      unreachable: 'The identity gateway cannot be reached to ask whom the app is for; try again',
    });
  }

  return {
    async isFor(slug, username, { lastIfAway = false } = {}) {
      const key = `${slug}\n${username}`;
      const known = remembered.get(key);
      if (known && clock() - known.at < options.ttlMs) return known.isFor;
      const asked = forgets;
      let isFor: boolean;
      try {
        isFor = await ask(slug, username);
      } catch (error) {
        // An app's change forgets its answers (`forget`): what is left was answered after the latest change.
        const last = remembered.get(key);
        if (lastIfAway && last) return last.isFor;
        throw error;
      }
      if (forgets !== asked) return isFor;
      remembered.delete(key);
      if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
      remembered.set(key, { at: clock(), isFor });
      return isFor;
    },
    forget(slug) {
      forgets += 1;
      const prefix = `${slug}\n`;
      for (const key of remembered.keys()) if (key.startsWith(prefix)) remembered.delete(key);
    },
  };
}

/** A bot wrote, on its own, to someone its app is not for: nothing was created or sent. */
export class NotForAppError extends AppError {
  constructor(appName: string, address: string, field: string) {
    super(
      'forbidden',
      403,
      `${appName} is not for ${address} (the app's unit, visibility units and roles leave them out): its bot may not write to them, and nothing was sent`,
      { fields: { [field]: `${address} is not one of the people this app is for` } },
    );
  }
}

/**
 * The person a bot writes to on its own initiative in a conversation: the other member of a direct
 * conversation the bot opened. Null where people let it in (a group someone invited it to, a direct
 * conversation a person opened with it): they chose to hear from the app.
 */
export function chosenByBot(
  conversation: Pick<Conversation, 'kind' | 'createdBy' | 'directKey'>,
  bot: Pick<BotIdentity, 'address'>,
): string | null {
  if (conversation.kind !== 'direct' || conversation.createdBy !== bot.address) return null;
  return conversation.directKey?.split('|').find((a) => a !== bot.address) ?? null;
}

async function assertIsFor(ctx: NodeContext, app: AppInfo, address: string, field: string): Promise<void> {
  if (!(await ctx.apps.reach.isFor(app.slug, userOf(address)))) throw new NotForAppError(app.name, address, field);
}

/**
 * Before a bot writes to `to` directly: refused unless its app is for that person, or the person opened
 * the conversation with the bot themselves. An address nobody has is told as such first, as to people.
 */
export async function assertBotMayWriteTo(ctx: NodeContext, bot: BotIdentity, app: AppInfo, to: string): Promise<void> {
  const existing = await ctx.models.Conversation.findByPk(directIdentity(bot.address, to).id);
  if (existing && !chosenByBot(existing, bot)) return;
  await ctx.addresses.assertKnown([to], 'to');
  await assertIsFor(ctx, app, to, 'to');
}

/** Before a bot writes into a conversation it belongs to: a direct one it opened only while its app is for the other. */
export async function assertBotMayWriteIn(
  ctx: NodeContext,
  bot: BotIdentity,
  app: AppInfo,
  conversation: Conversation,
  field: string,
): Promise<void> {
  const peer = chosenByBot(conversation, bot);
  if (peer) await assertIsFor(ctx, app, peer, field);
}

/**
 * Whether the bot `bot` may write into a conversation it belongs to, by assertBotMayWriteIn's rule, for what
 * it writes there on a person's doing (its answer to a card click). Nothing is guessed while the gateway
 * cannot be asked: a retryable 503, as for the bot's own writes.
 */
export async function botMayWriteIn(
  ctx: NodeContext,
  bot: Pick<BotIdentity, 'address'>,
  app: Pick<AppInfo, 'slug'>,
  conversation: Pick<Conversation, 'kind' | 'createdBy' | 'directKey'>,
): Promise<boolean> {
  const peer = chosenByBot(conversation, bot);
  return !peer || ctx.apps.reach.isFor(app.slug, userOf(peer));
}
