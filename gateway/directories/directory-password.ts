import { AndFilter, EqualityFilter, FilterParser, InvalidCredentialsError, type Client } from 'ldapts';
import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import { AccountDisabledError, type DirectoryPasswordCheck } from '../accounts/authenticate.ts';
import type { GatewayContext } from '../context.ts';
import type { DirectoryAccount } from '../models/directories.ts';
import type { User } from '../models/index.ts';
import { endpointOf, withDirectory } from './connection.ts';
import {
  disableFoundAtSignIn,
  type Ending,
  goneFromDirectory,
  isTheirEntry,
  notePasswordAtSignIn,
} from './ended-at-sign-in.ts';
import { idBytes } from './entry-id.ts';
import { DirectoryUnavailableError, KeptAdministratorError, UnusableEntryError } from './errors.ts';
import { disabledThere, passwordChangedOf, standingOf, valuesOf } from './read-entry.ts';
import type { DirectorySettings } from './schemas.ts';

/**
 * The filter that finds one person's entry: the registration's user filter AND username-attribute =
 * the name, built as filter objects (never pasted into a filter string), so `*`, parentheses and
 * backslashes in a name are sent as the literal characters they are (RFC 4515 escaping by ldapts).
 */
export function personFilter(s: DirectorySettings, username: string): AndFilter {
  return new AndFilter({
    filters: [
      FilterParser.parseString(s.userFilter),
      new EqualityFilter({ attribute: s.usernameAttribute, value: username }),
    ],
  });
}

/**
 * The filter that finds one person's entry by the id their link keeps: the user filter AND id-attribute
 * = the id's bytes (an octet string on the wire, never text pasted into a filter).
 */
export function entryIdFilter(s: DirectorySettings, idAttribute: string, entryId: string): AndFilter {
  return new AndFilter({
    filters: [
      FilterParser.parseString(s.userFilter),
      new EqualityFilter({ attribute: idAttribute, value: idBytes(entryId) }),
    ],
  });
}

/**
 * The DN of the one entry that is this person under the user base, or null (none, or more than one): the
 * entry whose id their link keeps, or, before the link has one, the entry their username matches. Found by
 * id, a person the directory renamed still signs in with their Atrium username, and someone given the
 * username later (a reused one) never signs in as them.
 */
export async function findPersonDn(
  client: Client,
  s: DirectorySettings,
  username: string,
  entryId: string | null = null,
): Promise<{ dn: string; disabled: boolean; expired: boolean; passwordChanged: string | null } | null> {
  const wanted = [s.disabledAttribute, s.expiryAttribute, s.passwordChangedAttribute].filter(
    (a): a is string => a !== null,
  );
  const attributes = wanted.length > 0 ? wanted : ['1.1'];
  const { searchEntries } = await client.search(s.userBase, {
    scope: 'sub',
    filter: entryId !== null && s.idAttribute ? entryIdFilter(s, s.idAttribute, entryId) : personFilter(s, username),
    attributes,
    sizeLimit: 2,
  });
  if (searchEntries.length !== 1) return null;
  const entry = searchEntries[0]!;
  const values = valuesOf(entry);
  const { disabled, expired } = standingOf(values, s);
  return { dn: entry.dn, disabled, expired, passwordChanged: passwordChangedOf(values, s) };
}

/**
 * Whether the directory takes this password for the entry, by a bind as it (the connection is then bound
 * as the entry). An empty password is refused before anything is sent: to LDAP a bind without a password
 * is an anonymous bind, which "succeeds".
 */
export async function bindsAs(client: Client, dn: string, password: string): Promise<boolean> {
  if (password === '') return false;
  try {
    await client.bind(dn, password);
    return true;
  } catch (error) {
    if (error instanceof InvalidCredentialsError) return false;
    throw error;
  }
}

/**
 * Runs a sign-in's work with a directory; one that did not answer is logged with what the person is not
 * shown: the cause, and in plain words what to change when it is known (a service account the directory
 * refuses, a certificate it does not trust…), which is most often IT's to fix rather than an outage.
 */
export async function loggingUnanswered<T>(logger: Logger, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DirectoryUnavailableError) {
      const { directory, cause, problem } = error.details ?? {};
      // A refused service account fails every directory sign-in until IT changes the settings: an error, not a blip.
      const log = error.broken ? logger.error.bind(logger) : logger.warn.bind(logger);
      log(
        { directory, cause, ...(problem ? { problem } : {}) },
        `directory sign-in failed: ${typeof problem === 'string' ? problem : 'the directory did not answer'}`,
      );
    }
    throw error;
  }
}

/**
 * Checks the password of a person who came from a directory, by a bind there as that person; null for
 * a local account. Their entry is found by the service account first (a search, not a DN put together
 * from the name). A directory that does not answer throws DirectoryUnavailableError, which the sign-in
 * shows as "try again later" without counting a failure. An active person whom the directory answers
 * it no longer has, or marks disabled, is disabled for it at once (ended-at-sign-in.ts), whatever the
 * password typed; the answer is the one it would have been anyway, but for the last administrator, kept
 * enabled, who is told so (KeptAdministratorError) once the directory took the password. So is a password changed there noted,
 * which ends their other sessions and tokens (notePasswordAtSignIn).
 */
export function directoryPasswordCheck(deps: { sealer: Sealer; logger: Logger }): DirectoryPasswordCheck {
  return async (ctx: GatewayContext, user: User, password: string) => {
    const link = await ctx.models.DirectoryAccount.findByPk(user.id, { transaction: ctx.tx });
    if (!link) return null;
    const directory = await ctx.models.Directory.findByPk(link.directoryId, { transaction: ctx.tx });
    if (!directory) return false;
    if (password === '') return false;
    const endpoint = endpointOf(directory, deps.sealer);
    const found: Found = { ending: null };
    let answer: { right: boolean } | { error: unknown };
    try {
      answer = {
        right: await loggingUnanswered(deps.logger, () =>
          withDirectory(endpoint, (client) => bindAsPerson(client, endpoint.settings, { user, link, password }, found)),
        ),
      };
    } catch (error) {
      answer = { error };
    }
    if (found.ending) {
      const kept = (await disableFoundAtSignIn(ctx, link, directory, found.ending, deps.logger)) === 'kept';
      // The password was theirs (the bind took it) but their entry is disabled: kept, they are told so.
      if (kept && 'error' in answer && answer.error instanceof AccountDisabledError)
        throw new KeptAdministratorError(found.ending);
    } else if (found.password) await notePasswordAtSignIn(ctx, link, directory, found.password.seen, deps.logger);
    if ('error' in answer) throw answer.error;
    return answer.right;
  };
}

/**
 * What the directory says of the person on the way, before any bind (as the service account): gone from
 * it, or disabled there; else, when their password there last changed (`seen` null: never that it shows).
 */
type Found = { ending: Ending | null; password?: { seen: string | null } };

/** Finds the person's entry and binds as it with the password, leaving in `found` what it learnt of them. */
async function bindAsPerson(
  client: Client,
  s: DirectorySettings,
  { user, link, password }: { user: User; link: DirectoryAccount; password: string },
  found: Found,
): Promise<boolean> {
  const entry = await findPersonDn(client, s, user.username, link.entryId);
  const active = user.status === 'active';
  if (!entry) {
    if (active && (await definitelyGone(client, s, user, link))) found.ending = 'gone from the directory';
    if (link.entryId !== null) await refuseNewEntry(client, s, user.username, password);
    return false;
  }
  if (active && entry.disabled && isTheirEntry(entry, s, link)) found.ending = disabledThere(entry);
  else if (s.passwordChangedAttribute && !entry.disabled && isTheirEntry(entry, s, link))
    found.password = { seen: entry.passwordChanged };
  if (!(await bindsAs(client, entry.dn, password))) return false;
  if (entry.disabled) throw new AccountDisabledError();
  return true;
}

/** goneFromDirectory, where a search that fails is no answer, and the sign-in goes on as it would. */
export async function definitelyGone(client: Client, s: DirectorySettings, user: User, link: DirectoryAccount) {
  try {
    return await goneFromDirectory(client, s, user, link);
  } catch {
    return false;
  }
}

/**
 * The entry the person's link names is gone, and another one carries their username (the directory was
 * rebuilt, or the name given to someone new): when that entry takes the password, whoever typed it is told
 * to ask IT, who can relink the account after checking who it is (relink-person.ts), instead of "wrong
 * password", which would be false, and would count toward locking the account. It never signs in: only the
 * link's id names the person (findPersonDn).
 */
async function refuseNewEntry(client: Client, s: DirectorySettings, username: string, password: string) {
  const carrying = await findPersonDn(client, s, username);
  if (carrying && (await bindsAs(client, carrying.dn, password)))
    throw new UnusableEntryError(
      'it is a new entry under this username, not the one this account was made from (an administrator can relink it)',
    );
}
