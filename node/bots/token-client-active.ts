import type { Identity } from '../auth/token-verifier.ts';
import type { AppDirectory } from './app-directory.ts';
import { botMayAct } from './require-bot.ts';

/**
 * Whether the app a node token was issued to may still be used here, as the gateway says now (cached):
 * a person's token while its client is active; a bot's while its app still lets the bot act. A bot reads
 * the conversations it is in, so its tokens must stop working when its app is disabled, as people's do,
 * not only its posts.
 */
export function tokenClientActive(
  directory: Pick<AppDirectory, 'get' | 'clientActive'>,
): (identity: Identity) => Promise<boolean> {
  return async (identity) =>
    identity.kind === 'user'
      ? directory.clientActive(identity.clientId)
      : botMayAct(await directory.get(identity.slug), identity);
}
