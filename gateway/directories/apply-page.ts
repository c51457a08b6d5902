import { randomUUID } from 'node:crypto';
import type { Entry } from 'ldapts';
import { Op } from 'sequelize';
import { endAccessOnDomainsLeft } from '../accounts/chat-moves.ts';
import { endAccessOf } from '../accounts/end-access.ts';
import { addressNameProblems } from '../accounts/reserved-names.ts';
import { audit } from '../audit.ts';
import { spendOpenResetLinks } from '../recovery/spend-reset-links.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory, DirectoryAccount } from '../models/directories.ts';
import type { Role, User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { normalizeDn } from './dn.ts';
import { describeEntryId } from './entry-id.ts';
import { ensureUnits, levelsOfPath, loadUnitIds, type UnitIds } from './directory-units.ts';
import { beforeThisSecond, notePasswordChange, PASSWORD_CHANGED, type PasswordSeen } from './note-password-change.ts';
import { disabledThere, readEntry, type GroupsOf, type Person, type Unread } from './read-entry.ts';
import type { DirectorySettings } from './schemas.ts';
import { count, type DisabledThere, noteUnreadExpiry, noteUnreadFlag, refuse, type SyncReport } from './sync-report.ts';

/** What one sync run carries from page to page. */
export type SyncRun = {
  run: string;
  directory: Directory;
  settings: DirectorySettings;
  groupsOf: GroupsOf;
  unitIds: UnitIds;
  /** Names of the other directories by id, to say where a clashing username comes from. */
  directoryNames: Map<string, string>;
  report: SyncReport;
  /** Entries that could not be read into a person, so far: when that is all of them, nobody is disabled. */
  unread: number;
  /**
   * Readable entries so far, and those of them that carry the username of someone whose link keeps
   * another entry's id: when that is half of them, the directory looks rebuilt with new ids, and nobody
   * is disabled (sync-directory.ts).
   */
  readable: number;
  otherIds: number;
  /**
   * The normalized DNs of every entry under the user base, read first when some of this directory's links
   * have no entry id yet: such a link is matched by username only when no entry sits at its DN any more.
   */
  dnsPresent: Set<string> | null;
  /**
   * The people the directory marks disabled, or whose account expired there, by user id, with which. They
   * are disabled only once the whole directory was read and passed its checks (sync-directory.ts), like the
   * people gone from it: a sync that stops part-way, or that can read none of its entries, disables nobody.
   */
  markedDisabled: Map<string, DisabledThere>;
  /**
   * Active administrators whose entry no longer gives them the admin role, by user id: they keep it until
   * the whole directory was read, and lose it then unless they are the last active administrator
   * (sync-directory.ts), so that whoever the same sync makes an administrator, or disables, counts first; a
   * sign-in's run leaves it to the next sync. `unchanged` when their page counted them so (the role taken
   * then makes them updated).
   */
  adminDropped: Map<string, { unchanged: boolean }>;
  /**
   * A sign-in applies the entry (newcomer-sign-in.ts) and goes on: a password change it finds ends access
   * before the second it signs in (note-password-change.ts), so that the tokens it is given next stand.
   */
  atSignIn?: boolean;
};

/**
 * A run over a directory's entries, before any is read: the units and the other directories' names it
 * needs, and nothing counted yet. The run's id is its report's.
 */
export async function newSyncRun(
  ctx: GatewayContext,
  parts: Pick<SyncRun, 'directory' | 'settings' | 'groupsOf' | 'report' | 'dnsPresent' | 'atSignIn'>,
): Promise<SyncRun> {
  const directories = await ctx.models.Directory.findAll({ attributes: ['id', 'name'], transaction: ctx.tx });
  return {
    ...parts,
    run: parts.report.run,
    unitIds: await loadUnitIds(ctx),
    directoryNames: new Map(directories.map((d) => [d.id, d.name])),
    unread: 0,
    readable: 0,
    otherIds: 0,
    markedDisabled: new Map(),
    adminDropped: new Map(),
  };
}

/** A known person of this directory to bring up to date; `profile` is false when their new email is taken. */
export type Update = { person: Person; user: User; link: DirectoryAccount; profile: boolean };

/** What reading a page leaves to decide on: the people it holds, and the entries it could not read. */
export type PageRead = { people: Person[]; unread: Unread[] };

/** Who the page's people already are in Atrium, looked up once for the whole page. */
export type Known = {
  userByName: Map<string, User>;
  /** The people of every link found (by username, entry id or DN). */
  userById: Map<string, User>;
  linkByUser: Map<string, DirectoryAccount>;
  /** This directory's links that keep the entry ids of the page's entries, read or not. */
  linkByEntryId: Map<string, DirectoryAccount>;
  /** This directory's links at the DNs of the page's entries, read or not, by normalized DN. */
  linkByDn: Map<string, DirectoryAccount>;
  nameProblems: Awaited<ReturnType<typeof addressNameProblems>>;
  emailOwners: Map<string, User>;
};

/**
 * What the page will do: whom to create, whom to update, whom the directory marks disabled or expired
 * (read or not; by user id, with which), and whose link to mark as seen by this run.
 */
export type Decision = {
  creates: Person[];
  updates: Update[];
  markedDisabled: Map<string, DisabledThere>;
  seen: string[];
  /** What the page's entries of known people say of their passwords, read or not (note-password-change.ts). */
  passwords: Omit<PasswordSeen, 'directory' | 'reason'>[];
};

/**
 * One membership as the sync writes it, primary unit first: a directory person administers only the
 * units of their unit-admin groups, never the unit their own entry places them in for that.
 */
export type Placement = { unitId: string; administers: boolean };
export type PlacementsOf = (p: Person) => Placement[];

/** One spelling of a person's memberships, to tell whether they changed. */
export const placementKey = (rows: (Placement & { isPrimary: boolean })[]) =>
  rows
    .map((r) => `${r.unitId}${r.isPrimary ? '*' : ''}${r.administers ? '+' : ''}`)
    .sort()
    .join(' ');

export const rowsOf = (userId: string, placements: Placement[]) =>
  placements.map((m, i) => ({ userId, unitId: m.unitId, isPrimary: i === 0, administers: m.administers }));

/**
 * Applies one page of directory entries (at most PAGE_SIZE): creates the new people, updates the known
 * ones, notes those the directory marks disabled (disabled after the whole read), enables those it no
 * longer does, and marks everyone it saw as seen by this run. A username held by a local account, by
 * another directory, by an app or reserved is refused with its reason, never merged. The database is
 * asked in batches, so a page costs a handful of queries however many people it holds; the lookups and
 * the decisions come before the page's one transaction, to keep it short.
 */
export async function applyPage(ctx: GatewayContext, sync: SyncRun, entries: Entry[]): Promise<void> {
  sync.report.entries += entries.length;
  sync.report.pages += 1;
  const read = readPage(sync, entries);
  const known = await lookUpPeople(ctx, sync, read);
  const { creates, updates, markedDisabled, seen, passwords } = decide(sync, read, known);
  const unitsOf = await unitsBefore(ctx, updates);
  await inTransaction(ctx, async (ctx) => {
    const placementsOf = await ensurePageUnits(ctx, sync, [...creates, ...updates.map((u) => u.person)]);
    await writeCreates(ctx, sync, creates, placementsOf);
    // Before the updates: someone they enable again had their access ended when they were disabled.
    await notePasswordChanges(ctx, sync, passwords);
    for (const update of updates) await applyUpdate(ctx, sync, update, unitsOf.get(update.user.id) ?? '', placementsOf);
    if (seen.length > 0)
      await ctx.models.DirectoryAccount.update(
        { seenRun: sync.run },
        { where: { userId: { [Op.in]: seen } }, transaction: ctx.tx },
      );
  });
  for (const [id, said] of markedDisabled) sync.markedDisabled.set(id, said);
}

/**
 * Reads the page's entries into people, refusing what cannot be read and a second entry with the same
 * username or email: the whole page is decided before anything is written, so the second would not see
 * the first's account and both would claim it.
 */
export function readPage(sync: SyncRun, entries: Entry[]): PageRead {
  const people: Person[] = [];
  const unread: Unread[] = [];
  const inPage = { username: new Set<string>(), email: new Set<string>(), id: new Set<string>() };
  for (const entry of entries) {
    const read = readEntry(entry, sync.settings, sync.groupsOf, sync.unitIds);
    const { disabledProblem, expiryProblem } = 'person' in read ? read.person : read;
    if (disabledProblem) noteUnreadFlag(sync.report, entry.dn, disabledProblem);
    if (expiryProblem) noteUnreadExpiry(sync.report, entry.dn, expiryProblem);
    if ('refusal' in read) {
      unread.push(read);
      sync.unread += 1;
      refuse(sync.report, read.refusal);
      continue;
    }
    const p = read.person;
    const same = inPage.username.has(p.username)
      ? 'username'
      : inPage.email.has(p.email)
        ? 'email'
        : p.entryId !== null && inPage.id.has(p.entryId)
          ? sync.settings.idAttribute
          : null;
    if (same) {
      const refusal = { username: p.username, dn: p.dn, reason: `another entry of this page has the same ${same}` };
      refuse(sync.report, refusal);
      // Refused, it still speaks for the person its id (or DN) names, whom a copy read first must not
      // leave taken for gone; it is not counted as unreadable.
      const { disabled, expired, entryId, passwordChanged } = p;
      unread.push({ refusal, disabled, expired, entryId, passwordChanged });
      continue;
    }
    inPage.username.add(p.username);
    inPage.email.add(p.email);
    if (p.entryId !== null) inPage.id.add(p.entryId);
    people.push(p);
  }
  sync.readable += people.length;
  return { people, unread };
}

/**
 * Looks up, for the whole page at once, the accounts holding its usernames and their directory links,
 * why a new username cannot be taken, and who holds the emails. The unread entries are looked up too,
 * by DN, so that their people are not taken for gone.
 */
export async function lookUpPeople(ctx: GatewayContext, sync: SyncRun, { people, unread }: PageRead): Promise<Known> {
  const { User, DirectoryAccount } = ctx.models;
  const names = people.map((p) => p.username);
  const users = names.length
    ? await User.findAll({ where: { username: { [Op.in]: names } }, transaction: ctx.tx })
    : [];
  const userByName = new Map(users.map((u) => [u.username, u]));
  const links = users.length
    ? await DirectoryAccount.findAll({ where: { userId: { [Op.in]: users.map((u) => u.id) } }, transaction: ctx.tx })
    : [];
  const newNames = people.filter((p) => !userByName.has(p.username)).map((p) => p.username);
  const nameProblems = newNames.length ? await addressNameProblems(ctx, newNames) : new Map();
  // Only an email that would be new to its person can clash with someone else's.
  const emails = people.filter((p) => userByName.get(p.username)?.email !== p.email).map((p) => p.email);
  const emailOwners = emails.length
    ? new Map(
        (
          await User.findAll({
            where: { email: { [Op.in]: emails } },
            attributes: ['id', 'email', 'username'],
            transaction: ctx.tx,
          })
        ).map((u) => [u.email, u]),
      )
    : new Map<string, User>();
  // Most entries' ids are kept by the links just read for their usernames; only the others are asked for.
  const ids = new Set([...people, ...unread].flatMap((e) => (e.entryId === null ? [] : [e.entryId])));
  const ownLinks = links.filter((l) => l.directoryId === sync.directory.id && l.entryId !== null && ids.has(l.entryId));
  const kept = new Set(ownLinks.map((l) => l.entryId));
  const missing = [...ids].filter((id) => !kept.has(id));
  const idLinks = [
    ...ownLinks,
    ...(missing.length
      ? await DirectoryAccount.findAll({
          where: { directoryId: sync.directory.id, entryId: { [Op.in]: missing } },
          transaction: ctx.tx,
        })
      : []),
  ];
  // An entry whose id no link keeps may still be found by the DN its link keeps: an unread one, and a
  // readable one while some links have no id yet (dnsPresent; otherwise every link is found by its id,
  // and the page costs no look-up by DN, which no index serves). A link keeps the DN as the directory
  // wrote it the last time the entry was read, and a directory writes one entry's DN the same way each
  // time; the comparison itself is on the normalized DN.
  const dns = [...(sync.dnsPresent ? people.map((p) => p.dn) : []), ...unread.map((u) => u.refusal.dn)];
  const dnLinks = dns.length
    ? await DirectoryAccount.findAll({
        where: { directoryId: sync.directory.id, dn: { [Op.in]: dns } },
        transaction: ctx.tx,
      })
    : [];
  const held = new Set(users.map((u) => u.id));
  const linked = [...idLinks, ...dnLinks].map((l) => l.userId).filter((id) => !held.has(id));
  const userById = new Map(
    [
      ...users,
      ...(linked.length ? await User.findAll({ where: { id: { [Op.in]: linked } }, transaction: ctx.tx }) : []),
    ].map((u) => [u.id, u]),
  );
  return {
    userByName,
    userById,
    linkByUser: new Map(links.map((l) => [l.userId, l])),
    linkByEntryId: new Map(idLinks.map((l) => [l.entryId!, l])),
    linkByDn: new Map(dnLinks.map((l) => [normalizeDn(l.dn), l])),
    nameProblems,
    emailOwners,
  };
}

/**
 * Sorts the page's people into creates, updates and refusals. An entry whose id a link keeps is that
 * link's person, whatever its DN or username now. Otherwise the username says who it is, as long as no
 * id says otherwise: an entry that carries the username of someone whose link keeps another entry's id
 * (a reused username, or a copy) is refused rather than given their account. Only this directory's own
 * people are updated: an account from elsewhere is refused rather than merged, since taking it over would
 * hand someone else's account to whoever holds the entry.
 */
export function decide(sync: SyncRun, { people, unread }: PageRead, known: Known): Decision {
  const { report, directory, settings } = sync;
  const { userByName, userById, linkByUser, linkByEntryId, linkByDn, nameProblems, emailOwners } = known;
  // People of this directory whose entry could not be read this time stay as they are, rather than
  // being taken for gone: a missing mail attribute, or a username attribute the service account may
  // not read, should not lock anyone out. Only the directory's disabled flag still counts: off-boarding
  // often clears the mailbox too. Found by their entry's id, or by the DN their link keeps unless the
  // link's id says the entry now at that DN is another; never by username alone: anyone who may add an
  // entry could add one with someone else's username, and disable them or keep them on. An account expired
  // there counts as the flag does.
  const seen: string[] = [];
  const flagged = new Map<string, DisabledThere>();
  // Nor does a password changed there go unnoticed for an entry that cannot be read this time.
  const passwords: Decision['passwords'] = [];
  for (const { refusal: r, disabled, expired, entryId, passwordChanged } of unread) {
    const atDn = linkByDn.get(normalizeDn(r.dn));
    const link =
      (entryId === null ? undefined : linkByEntryId.get(entryId)) ??
      (atDn && (atDn.entryId === null || entryId === null) ? atDn : undefined);
    if (!link) continue;
    seen.push(link.userId);
    const user = userById.get(link.userId);
    if (disabled && user?.status === 'active') flagged.set(link.userId, disabledThere({ expired }));
    if (user) passwords.push({ user, link, seen: passwordChanged, disabledThere: disabled });
  }

  const creates: Person[] = [];
  const updates: Update[] = [];
  const update = (p: Person, user: User, link: DirectoryAccount) => {
    seen.push(user.id);
    const emailOwner = emailOwners.get(p.email);
    const emailClash = emailOwner && emailOwner.id !== user.id;
    if (emailClash)
      refuse(report, {
        username: p.username,
        dn: p.dn,
        reason: `email ${p.email} is already used by account ${emailOwner.username}; the profile is kept as before`,
      });
    updates.push({ person: p, user, link, profile: !emailClash });
  };
  for (const p of people) {
    const byId = p.entryId === null ? undefined : linkByEntryId.get(p.entryId);
    // A link without an id yet is the entry at its DN, as the last sync read it.
    const atDn = p.entryId === null ? undefined : linkByDn.get(normalizeDn(p.dn));
    const known = byId ?? (atDn?.entryId === null ? atDn : undefined);
    const knownUser = known && userById.get(known.userId);
    if (known && knownUser) {
      if (known.seenRun === sync.run && normalizeDn(known.dn) !== normalizeDn(p.dn)) {
        refuse(report, {
          username: p.username,
          dn: p.dn,
          reason: `another entry of this directory (${known.dn}) has the same ${settings.idAttribute}`,
        });
        continue;
      }
      // A username is the person's address in chat, which their contacts and other domains hold: it
      // stays, and the person keeps signing in with it (their entry is found by its id). A rename is
      // news once: measured from the name the link last read there (their own when it has none yet),
      // which the update then keeps, never from the Atrium username, which stays different for good.
      const before = known.directoryUsername ?? knownUser.username;
      if (before !== p.username) count(report, 'renamed', `${knownUser.username} (${p.username} there)`);
      update(p, knownUser, known);
      continue;
    }
    const user = userByName.get(p.username);
    if (!user) {
      const problem = nameProblems.get(p.username);
      const emailOwner = emailOwners.get(p.email);
      if (problem)
        refuse(report, { username: p.username, dn: p.dn, reason: `username not available: ${problem.reason}` });
      else if (p.disabled) report.skippedDisabled += 1;
      else if (emailOwner)
        refuse(report, {
          username: p.username,
          dn: p.dn,
          reason: `email ${p.email} is already used by account ${emailOwner.username}`,
        });
      else creates.push(p);
      continue;
    }
    const link = linkByUser.get(user.id);
    if (!link) {
      refuse(report, {
        username: p.username,
        dn: p.dn,
        reason: 'a local account (not from a directory) has this username; not merged',
      });
      continue;
    }
    if (link.directoryId !== directory.id) {
      refuse(report, {
        username: p.username,
        dn: p.dn,
        reason: `this username already comes from directory ${sync.directoryNames.get(link.directoryId) ?? link.directoryId}; not merged`,
      });
      continue;
    }
    if (link.entryId !== null && p.entryId !== null) {
      sync.otherIds += 1;
      refuse(report, {
        username: p.username,
        dn: p.dn,
        reason: `this username belongs to another entry of this directory (${settings.idAttribute} ${describeEntryId(link.entryId, settings.idAttribute)}, last at ${link.dn}); not merged`,
      });
      continue;
    }
    if (link.seenRun === sync.run && normalizeDn(link.dn) !== normalizeDn(p.dn)) {
      refuse(report, {
        username: p.username,
        dn: p.dn,
        reason: `another entry of this directory (${link.dn}) has the same username`,
      });
      continue;
    }
    // A link without an id yet (kept from before ids, or cleared) takes the entry's, unless another entry
    // sits at the link's DN: that one is the person as the last sync read them (renamed since, or this is a
    // copy of their username), and it is matched by its DN.
    if (link.entryId === null && p.entryId !== null && sync.dnsPresent?.has(normalizeDn(link.dn))) {
      refuse(report, {
        username: p.username,
        dn: p.dn,
        reason: `the person with this username is the entry at ${link.dn}, which is still there; not merged`,
      });
      continue;
    }
    update(p, user, link);
  }
  // An entry of the page that could be read speaks for its person, disabled there or not; an unread one does not.
  for (const { person, user, link } of updates) {
    if (person.disabled && user.status === 'active') flagged.set(user.id, disabledThere(person));
    else flagged.delete(user.id);
    passwords.push({ user, link, seen: person.passwordChanged, disabledThere: person.disabled });
  }
  return { creates, updates, markedDisabled: flagged, seen, passwords };
}

/**
 * The memberships of the people to update as they are now (placementKey), in one query for the page:
 * memberships are rewritten only when they differ.
 */
async function unitsBefore(ctx: GatewayContext, updates: Update[]): Promise<Map<string, string>> {
  const memberships = updates.length
    ? await ctx.models.Membership.findAll({
        where: { userId: { [Op.in]: updates.map((u) => u.user.id) } },
        attributes: ['userId', 'unitId', 'isPrimary', 'administers'],
        raw: true,
        transaction: ctx.tx,
      })
    : [];
  const rowsByUser = new Map<string, (Placement & { isPrimary: boolean })[]>();
  for (const m of memberships) {
    const rows = rowsByUser.get(m.userId) ?? [];
    rows.push({ unitId: m.unitId, isPrimary: Boolean(m.isPrimary), administers: Boolean(m.administers) });
    rowsByUser.set(m.userId, rows);
  }
  return new Map([...rowsByUser].map(([userId, rows]) => [userId, placementKey(rows)]));
}

/**
 * Creates the units the page's people are placed in, and answers each person's memberships, primary
 * unit first. Every unit exists once this returns, so no membership points at a missing unit.
 */
async function ensurePageUnits(ctx: GatewayContext, sync: SyncRun, wanted: Person[]): Promise<PlacementsOf> {
  const levels = levelsOfPeople(sync, wanted);
  sync.report.unitsCreated += await ensureUnits(ctx, sync.unitIds, levels, sync.directory.name);
  return placementsIn(sync.unitIds);
}

/** The levels of the units the people are placed in: their own, and those their unit-admin groups name. */
export const levelsOfPeople = (sync: SyncRun, people: Person[]) =>
  people.flatMap((p) => [
    ...p.unit.levels,
    ...p.adminUnits.flatMap((path) => levelsOfPath(path, sync.settings.unitRoot)),
  ]);

/** Each person's memberships, primary unit first, among the units of `unitIds`. */
export function placementsIn(unitIds: UnitIds): PlacementsOf {
  return (p) => {
    const administered = new Set(p.adminUnits);
    return [p.unit.path, ...p.adminUnits.filter((path) => path !== p.unit.path)].flatMap((path) => {
      const unitId = unitIds.get(path);
      return unitId === undefined ? [] : [{ unitId, administers: administered.has(path) }];
    });
  };
}

/**
 * Creates the new people with their links and memberships, three inserts for the whole page. No password:
 * a directory person's password is the directory's.
 */
async function writeCreates(
  ctx: GatewayContext,
  sync: SyncRun,
  creates: Person[],
  placementsOf: PlacementsOf,
): Promise<void> {
  if (creates.length === 0) return;
  const { User, DirectoryAccount, Membership } = ctx.models;
  const rows = creates.map((p) => ({ id: randomUUID(), person: p }));
  await User.bulkCreate(
    rows.map(({ id, person: p }) => ({
      id,
      username: p.username,
      displayName: p.displayName,
      email: p.email,
      passwordHash: null,
      roles: p.roles,
      lockedUntil: null,
      lastLoginAt: null,
    })),
    { transaction: ctx.tx },
  );
  await DirectoryAccount.bulkCreate(
    rows.map(({ id, person: p }) => ({
      userId: id,
      directoryId: sync.directory.id,
      dn: p.dn,
      entryId: p.entryId,
      directoryUsername: p.username,
      seenRun: sync.run,
      // Their first value is the one a later change is measured from.
      passwordChanged: sync.settings.passwordChangedAttribute ? (p.passwordChanged ?? '') : null,
    })),
    { transaction: ctx.tx },
  );
  await Membership.bulkCreate(
    rows.flatMap(({ id, person: p }) => rowsOf(id, placementsOf(p))),
    { transaction: ctx.tx },
  );
  for (const { person } of rows) count(sync.report, 'added', person.username);
}

/**
 * Keeps what the page's entries say of their people's passwords, and signs out everywhere each active
 * person whose password changed there (note-password-change.ts); nothing when no attribute is read.
 */
async function notePasswordChanges(ctx: GatewayContext, sync: SyncRun, passwords: Decision['passwords']) {
  if (!sync.settings.passwordChangedAttribute) return;
  const ending = sync.atSignIn
    ? { reason: `${PASSWORD_CHANGED} (found at a sign-in)`, endedAt: beforeThisSecond() }
    : { reason: PASSWORD_CHANGED };
  for (const seen of passwords)
    if (await notePasswordChange(ctx, { ...seen, directory: sync.directory, ...ending }))
      count(sync.report, 'signedOut', seen.user.username);
}

/**
 * Brings one known person in line with their entry: profile and units (unless their new email is
 * taken), DN, entry id and directory username, and status. Only what changed is written, so a person
 * whose entry did not change costs no write and is counted as unchanged.
 */
async function applyUpdate(
  ctx: GatewayContext,
  sync: SyncRun,
  update: Update,
  before: string,
  placementsOf: PlacementsOf,
): Promise<void> {
  const { person: p, user, link, profile } = update;
  const { report, directory } = sync;
  let changed = false;
  let emailBefore: { email: string; displayName: string } | null = null;
  if (profile) {
    const rows = rowsOf(user.id, placementsOf(p));
    const unitsChanged = placementKey(rows) !== before;
    const roles = adminKeptForNow(sync, user, p.roles);
    if (user.displayName !== p.displayName || user.email !== p.email || user.roles.join(',') !== roles.join(',')) {
      if (user.email !== p.email) emailBefore = { email: user.email, displayName: user.displayName };
      user.displayName = p.displayName;
      user.email = p.email;
      user.roles = roles;
      changed = true;
    }
    if (unitsChanged) {
      // The directory decides: a domain it takes them off ends their access there, unasked.
      await endAccessOnDomainsLeft(
        ctx,
        user,
        rows.map((r) => r.unitId),
      );
      await ctx.models.Membership.destroy({ where: { userId: user.id }, transaction: ctx.tx });
      await ctx.models.Membership.bulkCreate(rows, { transaction: ctx.tx });
      changed = true;
    }
  }
  // The username the entry carries now, renamed or not: the sign-in takes it for the person as well.
  if (link.dn !== p.dn || link.entryId !== p.entryId || link.directoryUsername !== p.username) {
    link.dn = p.dn;
    link.entryId = p.entryId;
    link.directoryUsername = p.username;
    await link.save({ transaction: ctx.tx });
  }
  let statusChanged = true;
  if (!p.disabled && user.status === 'disabled' && link.disabledByDirectory) {
    await enableForDirectory(ctx, user, link, directory);
    count(report, 'reenabled', user.username);
  } else {
    // Disabled once the whole directory was read (SyncRun.markedDisabled).
    statusChanged = p.disabled && user.status === 'active';
    if (changed) await user.save({ transaction: ctx.tx });
  }
  // Once saved: the new address is greeted by the name this sync gives them, the old one by the name it had.
  if (emailBefore !== null) await noteNewEmail(ctx, directory, user, emailBefore);
  if (changed) count(report, 'updated', user.username);
  else if (profile && !statusChanged) {
    report.unchanged += 1;
    const dropped = sync.adminDropped.get(user.id);
    if (dropped) dropped.unchanged = true;
  }
}

/**
 * A new address from the directory is what a console edit of it is: the reset and new-account links mailed to
 * the old one stop working (whoever reads that mailbox now may not be the person), and it is audited, so that
 * the old address is told (security-notices.ts). In the sync's transaction, with the change.
 */
async function noteNewEmail(
  ctx: GatewayContext,
  directory: Directory,
  user: User,
  before: { email: string; displayName: string },
): Promise<void> {
  await spendOpenResetLinks(ctx, user.id);
  await audit(ctx, {
    action: 'user.update',
    target: user.username,
    details: {
      directory: directory.name,
      before,
      changes: {
        email: user.email,
        ...(before.displayName !== user.displayName ? { displayName: user.displayName } : {}),
      },
    },
  });
}

/**
 * The roles the entry gives its person; an active administrator whom it no longer makes one keeps the
 * admin role until the whole directory was read (SyncRun.adminDropped).
 */
function adminKeptForNow(sync: SyncRun, user: User, roles: Role[]): Role[] {
  if (roles.includes('admin') || !user.roles.includes('admin') || user.status !== 'active') return roles;
  sync.adminDropped.set(user.id, { unchanged: false });
  return [...roles, 'admin' as const].sort();
}

/**
 * Disables a person for their directory (gone from it, or disabled there): the account stops signing in
 * and everything it holds ends at once (end-access.ts: sessions, refresh tokens, and the nodes refuse
 * its access tokens and close its sockets). Marked, so that only the sync enables it again.
 */
export async function disableForDirectory(
  ctx: GatewayContext,
  user: User,
  link: DirectoryAccount,
  directory: Directory,
  reason: string,
): Promise<void> {
  user.status = 'disabled';
  const { artefacts } = await endAccessOf(ctx, user);
  link.disabledByDirectory = true;
  await link.save({ transaction: ctx.tx });
  await audit(ctx, {
    action: 'user.disable',
    target: user.username,
    details: { directory: directory.name, reason, endedArtefacts: artefacts, ...syncOf(ctx) },
  });
}

async function enableForDirectory(
  ctx: GatewayContext,
  user: User,
  link: DirectoryAccount,
  directory: Directory,
): Promise<void> {
  user.status = 'active';
  await user.save({ transaction: ctx.tx });
  link.disabledByDirectory = false;
  await link.save({ transaction: ctx.tx });
  await audit(ctx, {
    action: 'user.enable',
    target: user.username,
    details: { directory: directory.name, reason: 'back in the directory', ...syncOf(ctx) },
  });
}

/**
 * Which sync found what the directory said, for a person's history: the event's actor is whoever started
 * it, so an administrator's Sync now must not read as if they had disabled the person. Nothing for what a
 * sign-in found (its reason says so).
 */
function syncOf(ctx: GatewayContext): { sync?: 'scheduled' | 'started by an administrator' } {
  const { actor } = ctx;
  if (actor.kind === 'anonymous') return {};
  if (actor.kind === 'operator' && actor.name === 'directory-schedule') return { sync: 'scheduled' };
  if (actor.kind === 'operator' && actor.name.startsWith('directory-')) return {};
  return { sync: 'started by an administrator' };
}
