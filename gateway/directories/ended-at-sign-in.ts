import { AndFilter, EqualityFilter, type Filter, FilterParser, NoSuchObjectError, OrFilter, type Client } from 'ldapts';
import type { Logger } from '../../core/logger.ts';
import { operator, type GatewayContext } from '../context.ts';
import type { Directory, DirectoryAccount } from '../models/directories.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { disableForDirectory } from './apply-page.ts';
import { normalizeDn } from './dn.ts';
import { idBytes } from './entry-id.ts';
import { keptAsLastAdministrator } from './keep-last-administrator.ts';
import { beforeThisSecond, notePasswordChange, PASSWORD_CHANGED } from './note-password-change.ts';
import { passwordChangeStep } from './password-changes.ts';
import type { DirectorySettings } from './schemas.ts';
import type { DisabledThere } from './sync-report.ts';

/*
 * A sign-in by bind asks the directory about the person anyway. When its answer is that they are no longer
 * among its people, or are disabled there (or their account expired there), they are disabled for the directory at once, as the next sync
 * would disable them (disableForDirectory), which ends every session and token they hold: someone taken off
 * the directory does not keep their open sessions until the next sync. Only a definite answer counts: a
 * directory that does not answer, a search that fails, or one that finds nobody at all disables nobody.
 */

/** Why the directory ends a person's access, in the words the sync's audit events use. */
export type Ending = 'gone from the directory' | DisabledThere;

/**
 * Whether the directory says for certain that the person's entry is gone: no entry among its people (the
 * user base and filter, as the sync reads them) has their link's entry id or either of their usernames, none
 * sits at their link's DN, and the same search finds other people, so that it is no base or filter gone
 * wrong, nor a service account that may read nobody (the sync then disables nobody either). An entry that
 * merely carries their username, or sits where theirs was, leaves it to the sync, which tells a reused name
 * or a directory rebuilt with new ids from someone who left. Any failure is no answer.
 */
export async function goneFromDirectory(
  client: Client,
  s: DirectorySettings,
  user: User,
  link: DirectoryAccount,
): Promise<boolean> {
  const people = FilterParser.parseString(s.userFilter);
  const names = new Set([user.username, link.directoryUsername].filter((n): n is string => Boolean(n)));
  const theirs: Filter[] = [...names].map((value) => new EqualityFilter({ attribute: s.usernameAttribute, value }));
  if (link.entryId !== null && s.idAttribute)
    theirs.push(new EqualityFilter({ attribute: s.idAttribute, value: idBytes(link.entryId) }));
  const anyOfTheirs = new AndFilter({ filters: [people, new OrFilter({ filters: theirs })] });
  if (await finds(client, s.userBase, 'sub', anyOfTheirs)) return false;
  if (await finds(client, link.dn, 'base', people)) return false;
  return finds(client, s.userBase, 'sub', people);
}

/** Whether a search finds an entry; nothing at `base` at all is none. */
async function finds(client: Client, base: string, scope: 'sub' | 'base', filter: Filter): Promise<boolean> {
  try {
    const { searchEntries } = await client.search(base, { scope, filter, attributes: ['1.1'], sizeLimit: 1 });
    return searchEntries.length > 0;
  } catch (error) {
    if (scope === 'base' && error instanceof NoSuchObjectError) return false;
    throw error;
  }
}

/**
 * Whether the entry the sign-in found, marked disabled, is the person as the sync would take it: the entry
 * their link's id names, or for a link without one, the entry at its DN (or any, for a directory that has
 * no ids, which the sync matches by username).
 */
export function isTheirEntry(found: { dn: string }, s: DirectorySettings, link: DirectoryAccount): boolean {
  if (!s.idAttribute) return true;
  if (link.entryId !== null) return true;
  return normalizeDn(found.dn) === normalizeDn(link.dn);
}

/**
 * Disables the person for their directory now, as the sync does, unless they are no longer active or their
 * link changed since the directory was asked (a relink, a sync): whoever changed it decided on newer facts.
 * The last active administrator is kept, as the sync keeps them (keep-last-administrator.ts): then it says
 * 'kept', for the sign-in to tell them so rather than call them disabled. A failure here is logged and
 * leaves it to the next sync; the sign-in answers as it would have anyway.
 */
export async function disableFoundAtSignIn(
  ctx: GatewayContext,
  asked: DirectoryAccount,
  directory: Directory,
  ending: Ending,
  logger: Logger,
): Promise<'disabled' | 'kept' | null> {
  try {
    const done = await inTransaction({ ...ctx, actor: operator('directory-sign-in') }, async (ctx) => {
      const user = await ctx.models.User.findByPk(asked.userId, { transaction: ctx.tx, lock: true });
      const link = await ctx.models.DirectoryAccount.findByPk(asked.userId, { transaction: ctx.tx, lock: true });
      if (!user || user.status !== 'active' || !link || !sameLink(link, asked)) return null;
      if (await keptAsLastAdministrator(ctx, user, directory, ending, 'sign-in')) return { kept: true };
      await disableForDirectory(ctx, user, link, directory, `${ending} (found at a sign-in)`);
      return { kept: false, username: user.username };
    });
    if (done?.kept === false)
      logger.info({ directory: directory.name, username: done.username }, `directory sign-in: ${ending}, disabled now`);
    return done && (done.kept ? 'kept' : 'disabled');
  } catch (error) {
    logger.error(
      { err: error, directory: directory.name, userId: asked.userId },
      'directory sign-in: disabling someone the directory ended failed; the next sync does it',
    );
    return null;
  }
}

/**
 * The sign-in read when the person's password last changed there (`seen`): kept on their link, and when it
 * is a change (password-changes.ts), every session and token of theirs ends now, as the next sync would end
 * them (note-password-change.ts), whatever the password typed. Whoever held on with the old password stops
 * at once, rather than at the next sync; and the sync then finds the value kept, so that it does not also
 * end the session this sign-in opens once the directory took the new password: that one starts after the
 * ending (beforeThisSecond), and goes on. Unless the link changed since the directory was asked. A failure
 * is logged and leaves it to the next sync.
 */
export async function notePasswordAtSignIn(
  ctx: GatewayContext,
  asked: DirectoryAccount,
  directory: Directory,
  seen: string | null,
  logger: Logger,
): Promise<void> {
  if (passwordChangeStep(asked.passwordChanged ?? null, seen).keep === undefined) return;
  try {
    const ended = await inTransaction({ ...ctx, actor: operator('directory-sign-in') }, async (ctx) => {
      const user = await ctx.models.User.findByPk(asked.userId, { transaction: ctx.tx, lock: true });
      const link = await ctx.models.DirectoryAccount.findByPk(asked.userId, { transaction: ctx.tx, lock: true });
      if (!user || !link || !sameLink(link, asked)) return null;
      const reason = `${PASSWORD_CHANGED} (found at a sign-in)`;
      const seenNow = { user, link, directory, seen, disabledThere: false, reason, endedAt: beforeThisSecond() };
      return (await notePasswordChange(ctx, seenNow)) ? user.username : null;
    });
    if (ended)
      logger.info(
        { directory: directory.name, username: ended },
        'directory sign-in: the password changed there; every earlier session and token ended',
      );
  } catch (error) {
    logger.error(
      { err: error, directory: directory.name, userId: asked.userId },
      'directory sign-in: noting a password changed there failed; the next sync does it',
    );
  }
}

const sameLink = (a: DirectoryAccount, b: DirectoryAccount) =>
  a.directoryId === b.directoryId && a.entryId === b.entryId && a.dn === b.dn;
