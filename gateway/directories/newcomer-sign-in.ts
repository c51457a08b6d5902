import { randomUUID } from 'node:crypto';
import type { Client, Entry } from 'ldapts';
import type { Logger } from '../../core/logger.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import { AccountDisabledError, type DirectoryNewcomer, type DirectoryQuestion } from '../accounts/authenticate.ts';
import { audit } from '../audit.ts';
import { operator, type GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import type { User } from '../models/index.ts';
import { applyPage, newSyncRun, type SyncRun } from './apply-page.ts';
import { endpointOf, withDirectory, type DirectoryEndpoint } from './connection.ts';
import { bindsAs, entryIdFilter, loggingUnanswered, personFilter } from './directory-password.ts';
import { normalizeDn } from './dn.ts';
import { entryIdOf, idBufferAttributes } from './entry-id.ts';
import { DirectoryUnavailableError, SyncRunningError, UnusableEntryError } from './errors.ts';
import { attributesToRead, readEntry, type GroupsOf, type ReadEntry } from './read-entry.ts';
import { readRoleGroups, RoleGroupUnreadableError } from './role-groups.ts';
import type { DirectorySettings } from './schemas.ts';
import { takeLease } from './sync-lease.ts';
import { emptyReport } from './sync-report.ts';

/*
 * Someone new in a campus directory signs in before the next sync: on the first day of term a student's
 * account is there, and "wrong username or password" until the hour's sync would be wrong. The sign-in
 * asks the directories for the name only when no account has it (authenticate.ts), binds as the one entry
 * that carries it, and only then brings the person in with the sync's own code, under the sync's lease.
 */

type Deps = { sealer: Sealer; logger: Logger };

/** The one entry that carries a username, in its directory, read with the attributes a sync reads. */
type Candidate = { name: string; directory: Directory; endpoint: DirectoryEndpoint; entry: Entry };

/**
 * The sign-in's LoginPolicy.directoryNewcomer: nobody unless exactly one entry in all the directories
 * carries the name; a locked person already here is refused before their password is sent; then a bind as
 * the entry, and only past it are the role groups read and the entry applied.
 */
export function directoryNewcomer(deps: Deps): DirectoryNewcomer {
  return async (ctx, name, password) => {
    const candidate = await entryNamed(ctx, deps, name, password);
    if (!candidate) return { kind: 'nobody' };
    const person = await personOfEntry(ctx, candidate);
    if (person?.lockedUntil && person.lockedUntil > new Date()) return { kind: 'locked', person };
    // Past the bind, an entry that cannot sign in is refused before the role groups are read: reading
    // every member list of a big campus for each try of an unusable entry would cost the directory dearly.
    const usable = () => refuseUnusable(ctx, candidate, person, deps.logger);
    const groupsOf = await loggingUnanswered(deps.logger, () =>
      bindAndReadGroups(candidate, password, usable, deps.logger),
    );
    if (!groupsOf) return { kind: 'wrong_password', person };
    const writer = { ...ctx, actor: operator('directory-sign-in') };
    const applying = { candidate, groupsOf, person };
    return { kind: 'signed_in', person: await bringIn(writer, applying, deps.logger) };
  };
}

/**
 * The sign-in's LoginPolicy.directoryQuestion: a local account's wrong password asks what a name no
 * account has asks (entryNamed), answering nothing, a directory that does not answer included.
 */
export function directoryQuestion(deps: Deps): DirectoryQuestion {
  return async (ctx, user, name, password) => {
    const link = await ctx.models.DirectoryAccount.findByPk(user.id, { attributes: ['userId'], transaction: ctx.tx });
    if (link) return;
    await entryNamed(ctx, deps, name, password).catch(() => null);
  };
}

/** The one entry that carries the name in the registered directories (onlyEntryNamed), asked for a sign-in. */
async function entryNamed(ctx: GatewayContext, deps: Deps, name: string, password: string) {
  // To LDAP a bind without a password is an anonymous bind, which "succeeds": nothing is asked for one.
  if (password === '') return null;
  // Asked for each name no account has, and each local account's wrong password: without the last reports,
  // which are the rows' bulk.
  const directories = await ctx.models.Directory.findAll({
    attributes: { exclude: ['lastReport'] },
    transaction: ctx.tx,
  });
  if (directories.length === 0) return null;
  return loggingUnanswered(deps.logger, () => onlyEntryNamed(directories, deps.sealer, name, deps.logger));
}

/**
 * The one entry with this username under the user bases of all the registered directories, or null: a
 * name that two entries carry, in one directory or in two, is nobody's. A directory that does not answer
 * (logged) makes the name nobody's when no other directory has it: "try again" there would tell, while a
 * directory is down, which names have no account here. When another directory has the name, nobody can
 * tell that it is only that entry's, and the sign-in is "try again".
 */
async function onlyEntryNamed(
  directories: Directory[],
  sealer: Sealer,
  name: string,
  logger: Logger,
): Promise<Candidate | null> {
  const settled = await Promise.allSettled(
    directories.map(async (directory) => {
      const endpoint = endpointOf(directory, sealer);
      const entries = await withDirectory(endpoint, (client) => entriesNamed(client, endpoint.settings, name));
      return entries.map((entry) => ({ name, directory, endpoint, entry }));
    }),
  );
  const found: Candidate[] = [];
  const unanswered: DirectoryUnavailableError[] = [];
  for (const result of settled) {
    if (result.status === 'fulfilled') found.push(...result.value);
    else if (result.reason instanceof DirectoryUnavailableError) unanswered.push(result.reason);
    else throw result.reason;
  }
  if (unanswered.length > 0) {
    if (found.length > 0) throw unanswered[0];
    for (const error of unanswered)
      logger.warn(
        { directory: error.details?.directory, cause: error.details?.cause },
        'directory sign-in: a directory did not answer the search for someone new',
      );
  }
  return found.length === 1 ? found[0]! : null;
}

/**
 * The entries that may be the person with this username: those that carry it (searched with the same
 * escaped filter as every sign-in, two at most), and with a lone one, any other entry with its id. An id
 * two entries have (a copy, or an id attribute that is no id) names neither, as when a person a sync
 * brought signs in.
 */
async function entriesNamed(client: Client, s: DirectorySettings, name: string): Promise<Entry[]> {
  const { searchEntries } = await client.search(s.userBase, {
    scope: 'sub',
    filter: personFilter(s, name),
    attributes: attributesToRead(s),
    explicitBufferAttributes: idBufferAttributes(s),
    sizeLimit: 2,
  });
  const id = searchEntries.length === 1 && s.idAttribute ? entryIdOf(searchEntries[0]!, s) : null;
  if (!id || !('id' in id) || id.id === null) return searchEntries;
  const sameId = await client.search(s.userBase, {
    scope: 'sub',
    filter: entryIdFilter(s, s.idAttribute!, id.id),
    attributes: ['1.1'],
    sizeLimit: 2,
  });
  const dn = normalizeDn(searchEntries[0]!.dn);
  return [...searchEntries, ...sameId.searchEntries.filter((e) => normalizeDn(e.dn) !== dn)];
}

/**
 * The person already here whom the entry is: the one whose link keeps its id (someone the directory renamed
 * since the last sync). Only an id says so. A sync also takes an entry at the DN of a link without an id
 * for that link's person, and an entry by the first value of its username attribute: that keeps people from
 * being disabled, but proves nothing about who may sign in as them, since whoever may add entries can put
 * one at a DN someone left, or give it a second username.
 */
async function personOfEntry(ctx: GatewayContext, { directory, endpoint, entry }: Candidate): Promise<User | null> {
  const id = entryIdOf(entry, endpoint.settings);
  if (!('id' in id) || id.id === null) return null;
  const { DirectoryAccount, User } = ctx.models;
  const link = await DirectoryAccount.findOne({
    where: { directoryId: directory.id, entryId: id.id },
    transaction: ctx.tx,
  });
  return link && User.findByPk(link.userId, { transaction: ctx.tx });
}

/**
 * Binds as the entry with the typed password; only once the directory takes it, and `usable` did not refuse
 * the entry, reads the role groups as a sync does (nested ones included), bound again as the service
 * account. Null for a wrong password.
 */
async function bindAndReadGroups(
  { directory, endpoint, entry }: Candidate,
  password: string,
  usable: () => Promise<void>,
  logger: Logger,
): Promise<GroupsOf | null> {
  return withDirectory(endpoint, async (client) => {
    if (!(await bindsAs(client, entry.dn, password))) return null;
    await usable();
    await client.bind(endpoint.bindDn, endpoint.bindPassword);
    const { groupsOf, notes, unreadable } = await readRoleGroups(client, directory.name, endpoint.settings);
    // Brought in without the role of a group that cannot be read, they would be given the wrong one, as a
    // sync would not (role-groups.ts): the directory is not answering what the sign-in needs.
    if (unreadable.length > 0) {
      const { message } = new RoleGroupUnreadableError(directory.name, endpoint.settings, unreadable);
      throw new DirectoryUnavailableError(directory.name, message, message);
    }
    for (const { group, problem } of notes)
      logger.warn(
        { directory: directory.name, group },
        `directory sign-in: group ${group} gives no role through it: ${problem}`,
      );
    return groupsOf;
  });
}

/** What a first sign-in applies: the one entry, the role groups read for it, and whom its id names. */
type Applying = { candidate: Candidate; groupsOf: GroupsOf; person: User | null };

/**
 * Applies the entry as a sync applies a page that holds it alone, under the directory's sync lease, so that
 * no sync writes beside it: a new person is created with their units and roles, or the person whose link
 * keeps the entry's id (renamed since the last sync) is brought up to date, their link taking the new
 * name. Anything else is refused before a write (stranger). The person is read back before the lease is
 * let go, so that a sync waiting for it cannot mark the link as its own first. While a sync runs it is a
 * "try again in a minute", as for a directory that cannot answer now.
 */
async function bringIn(ctx: GatewayContext, applying: Applying, logger: Logger): Promise<User> {
  const { candidate, groupsOf, person } = applying;
  const { directory, endpoint, entry } = candidate;
  const lease = await takeLease(ctx, directory, { short: true }).catch((error: unknown) => {
    // Removed by an administrator meanwhile: as for a directory that cannot answer.
    if (error instanceof NotFoundError) throw new DirectoryUnavailableError(directory.name, 'it was removed');
    if (!(error instanceof SyncRunningError)) throw error;
    logger.info({ directory: directory.name }, 'directory sign-in of someone new waits: a sync of the directory runs');
    throw new DirectoryUnavailableError(directory.name, 'a sync of the directory is running');
  });
  try {
    const sync = await oneEntryRun(ctx, directory, endpoint.settings, groupsOf);
    await applyPage(ctx, sync, [entry]);
    return await whoSignsIn(ctx, sync, candidate, person, logger);
  } finally {
    await lease.release();
  }
}

/**
 * Refuses, before anything is written, an entry the directory marks disabled (or whose account expired
 * there) and, for someone no link's id names, anyone but a newcomer (stranger). Neither depends on the
 * groups, which give only roles and units.
 */
async function refuseUnusable(
  ctx: GatewayContext,
  candidate: Candidate,
  person: User | null,
  logger: Logger,
): Promise<void> {
  const read = readEntry(candidate.entry, candidate.endpoint.settings, () => new Set());
  if ('person' in read ? read.person.disabled : read.disabled) throw new AccountDisabledError();
  if (!person) await stranger(ctx, candidate, read, logger);
}

/**
 * Someone no link's id names may only be new: readable, carrying the typed name as the username a sync
 * takes from it (the first value of the username attribute), and not at the DN of a link without an id
 * (a sync would take them for that link's person). Otherwise nobody signs in, and nothing is written.
 */
async function stranger(ctx: GatewayContext, candidate: Candidate, read: ReadEntry, logger: Logger): Promise<void> {
  const { name, directory, entry } = candidate;
  let reason: string | null = null;
  if ('refusal' in read) reason = read.refusal.reason;
  else if (read.person.username !== name) reason = `its username is ${read.person.username} there, not ${name}`;
  else if (
    await ctx.models.DirectoryAccount.findOne({
      where: { directoryId: directory.id, entryId: null, dn: entry.dn },
      attributes: ['userId'],
      transaction: ctx.tx,
    })
  )
    reason = 'it is where the entry of a person here was, and until the next sync nothing shows it is theirs';
  if (reason !== null) await refuseEntry(ctx, candidate, reason, logger);
}

/**
 * An entry that cannot be someone new here: logged and audited with why (`detail`, which may name someone
 * else here), and told to the person, who knew its password, as `reason`.
 */
async function refuseEntry(
  ctx: GatewayContext,
  candidate: Candidate,
  reason: string,
  logger: Logger,
  detail = reason,
): Promise<never> {
  const { name, directory, entry } = candidate;
  const where = { directory: directory.name, dn: entry.dn };
  logger.warn({ ...where, reason: detail }, 'directory sign-in: the entry cannot become a person');
  await audit(ctx, {
    action: 'directory.provision',
    target: name,
    outcome: 'failure',
    details: { ...where, reason: detail },
  });
  throw new UnusableEntryError(reason);
}

/** A sync run over one entry (newSyncRun, as a sync starts one). */
async function oneEntryRun(
  ctx: GatewayContext,
  directory: Directory,
  settings: DirectorySettings,
  groupsOf: GroupsOf,
): Promise<SyncRun> {
  // A link without an id yet is the entry at the DN the last sync read for it, and may be claimed by an
  // entry with its username only once no entry sits at that DN any more, which only a sync's full read can
  // tell (a null dnsPresent would let any such entry claim it). Each of their DNs is taken as present: an
  // entry at one is still that person, and nobody is claimed by username before the next sync.
  const idless = settings.idAttribute
    ? await ctx.models.DirectoryAccount.findAll({
        where: { directoryId: directory.id, entryId: null },
        attributes: ['dn'],
        transaction: ctx.tx,
      })
    : [];
  const report = emptyReport(directory.name, randomUUID(), new Date());
  const dnsPresent = idless.length > 0 ? new Set(idless.map((l) => normalizeDn(l.dn))) : null;
  return newSyncRun(ctx, { directory, settings, groupsOf, report, dnsPresent, atSignIn: true });
}

/**
 * Who signs in after the entry was applied: the person its id named, or the person made from this very
 * entry under the typed name (by this run, or by a sync that took the lease first), whose link keeps the
 * entry's id (its DN for a directory without ids). A sync's own refusal of a readable entry (its email
 * someone else's here) names whoever holds it: the person is told only that it is in use.
 */
async function whoSignsIn(
  ctx: GatewayContext,
  sync: SyncRun,
  candidate: Candidate,
  person: User | null,
  logger: Logger,
): Promise<User> {
  const { name, directory, endpoint, entry } = candidate;
  if (person) return (await ctx.models.User.findByPk(person.id, { transaction: ctx.tx })) ?? person;
  const user = await ctx.models.User.findOne({ where: { username: name }, transaction: ctx.tx });
  const link = user && (await ctx.models.DirectoryAccount.findByPk(user.id, { transaction: ctx.tx }));
  const id = entryIdOf(entry, endpoint.settings);
  const entryId = 'id' in id ? id.id : null;
  const fromThisEntry =
    link?.directoryId === directory.id &&
    (entryId !== null ? link.entryId === entryId : normalizeDn(link.dn) === normalizeDn(entry.dn));
  if (!user || !fromThisEntry)
    return refuseEntry(
      ctx,
      candidate,
      'its username or email address is already in use here',
      logger,
      sync.report.names.refused[0]?.reason ?? 'not brought in',
    );
  if (sync.report.added === 1)
    await audit(ctx, {
      action: 'directory.provision',
      target: user.username,
      details: { directory: directory.name, dn: entry.dn },
    });
  return user;
}
