import { AppError, ForbiddenError } from '../../core/errors.ts';
import type { Identity } from '../auth/token-verifier.ts';
import type { NodeContext } from '../context.ts';
import type { AppInfo } from './app-directory.ts';

export type BotIdentity = Extract<Identity, { kind: 'app' }>;

export class BotDisabledError extends AppError {
  constructor(slug: string) {
    super('bot_disabled', 403, `The app ${slug} or its bot is disabled`);
  }
}

/**
 * Whether the app behind a bot, as the gateway describes it now, still lets the bot act: it exists, is not
 * disabled, has its bot enabled, and is still the client the bot's token was issued to.
 */
export function botMayAct(app: AppInfo | null, bot: BotIdentity): app is AppInfo {
  return Boolean(app && !app.disabled && app.botEnabled && app.clientId === bot.clientId);
}

/**
 * The acting bot and its app as the gateway sees it now (cached briefly): a token issued before an
 * administrator disabled the app or its bot stops working here within the cache time, not at its expiry.
 */
export async function requireBot(ctx: NodeContext): Promise<{ bot: BotIdentity; app: AppInfo }> {
  const actor = ctx.actor;
  if (actor.kind !== 'app') throw new ForbiddenError("Only an app's bot may use the bot API");
  const app = await ctx.apps.directory.get(actor.slug);
  if (!botMayAct(app, actor)) throw new BotDisabledError(actor.slug);
  return { bot: actor, app };
}
