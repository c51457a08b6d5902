import type { Client } from 'ldapts';
import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import type { DirectoryStanding } from '../accounts/authenticate.ts';
import type { DirectoryAccount } from '../models/directories.ts';
import type { User } from '../models/index.ts';
import { endpointOf, withDirectory } from './connection.ts';
import { definitelyGone, findPersonDn, loggingUnanswered } from './directory-password.ts';
import { disableFoundAtSignIn, type Ending, isTheirEntry } from './ended-at-sign-in.ts';
import { DirectoryUnavailableError } from './errors.ts';
import { disabledThere } from './read-entry.ts';
import type { DirectorySettings } from './schemas.ts';

/*
 * A password sign-in of a directory person asks their directory anyway (directory-password.ts); a sign-in
 * with a passkey alone asks it nothing else, so without this the directory's word would reach a passkey
 * only at the next sync, or never while a sync finds nobody. The passkey as the step after a directory
 * password asks nothing more: the password's bind asked already.
 */

/**
 * LoginPolicy.directoryStanding: asks a directory person's directory, as the service account, for their entry
 * as a password sign-in finds it (findPersonDn: by the id their link keeps, under the user base and filter),
 * with the sync's rule for an entry disabled there. No entry, or a disabled one, refuses the sign-in; when
 * the answer is certain (ended-at-sign-in.ts: gone from the directory, or their own entry disabled there) they
 * are disabled at once as a password sign-in disables them, which ends every session and token they hold
 * (the last active administrator is kept instead, and `kept` says so).
 * A directory that does not answer throws, as it does for a password: the sign-in says to try again, since
 * nobody can tell whether the person is still there.
 */
export function directoryStandingCheck(deps: { sealer: Sealer; logger: Logger }): DirectoryStanding {
  return async (ctx, user) => {
    const link = await ctx.models.DirectoryAccount.findByPk(user.id, { transaction: ctx.tx });
    if (!link) return null;
    const directory = await ctx.models.Directory.findByPk(link.directoryId, { transaction: ctx.tx });
    if (!directory) return { directory: link.directoryId, said: 'its directory is no longer registered' };
    const endpoint = endpointOf(directory, deps.sealer);
    let answer: Answer;
    try {
      answer = await loggingUnanswered(deps.logger, () =>
        withDirectory(endpoint, (client) => answerOf(client, endpoint.settings, user, link)),
      );
    } catch (error) {
      throw error instanceof DirectoryUnavailableError ? error.atPasskeySignIn() : error;
    }
    if (answer.listed) return null;
    if (!answer.ending) return { directory: directory.name, said: 'no entry of theirs found' };
    const done = await disableFoundAtSignIn(ctx, link, directory, answer.ending, deps.logger);
    if (done === 'kept') return { directory: directory.name, said: answer.ending, kept: true };
    return { directory: directory.name, said: answer.ending };
  };
}

/** Whether the directory lists the person, not disabled; if not, what it says for certain (null: nothing). */
type Answer = { listed: true } | { listed: false; ending: Ending | null };

async function answerOf(client: Client, s: DirectorySettings, user: User, link: DirectoryAccount): Promise<Answer> {
  const entry = await findPersonDn(client, s, user.username, link.entryId);
  if (!entry) {
    const gone = await definitelyGone(client, s, user, link);
    return { listed: false, ending: gone ? 'gone from the directory' : null };
  }
  if (!entry.disabled) return { listed: true };
  return { listed: false, ending: isTheirEntry(entry, s, link) ? disabledThere(entry) : null };
}
