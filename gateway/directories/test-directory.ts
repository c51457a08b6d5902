import { NoSuchObjectError, type Client } from 'ldapts';
import type { Sealer } from '../../core/seal.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { endpointOf, unavailable, withDirectory } from './connection.ts';
import type { DirectoryUnavailableError } from './errors.ts';
import { findDirectory } from './find-directory.ts';
import { PAGE_SIZE } from './presets.ts';
import { describeEntryId, entryIdOf, idBufferAttributes } from './entry-id.ts';
import { normalizeDn } from './dn.ts';
import { loadUnitIds } from './directory-units.ts';
import { attributesToRead, groupsFromMemberOf, readEntry, standingOf, valuesOf } from './read-entry.ts';
import { readRoleGroups } from './role-groups.ts';
import type { DirectorySettings } from './schemas.ts';
import type { Refusal } from './sync-report.ts';
import type { KnownUnits } from './unit-of-entry.ts';

export type SampledPerson = {
  username: string;
  /** The entry's id as the directory shows it (entry-id.ts); null when the directory is set to have none. */
  entryId: string | null;
  displayName: string;
  email: string;
  unit: string;
  roles: string[];
  /** Disabled in the directory, or its account expired there (then `expired`). */
  disabled: boolean;
  expired: boolean;
};

export type DirectoryTest = {
  directory: string;
  ok: boolean;
  /** The service account bound, over TLS where the registration says so. */
  connected: boolean;
  problem: string | null;
  /** Entries under the user base matching the filter (counted page by page). */
  people: number;
  /** How the first few would look in Atrium (roles without the groups' member lists). */
  sample: (SampledPerson | Refusal)[];
  /** Each role group, and whether the directory has it. */
  groups: { group: string; found: boolean }[];
  /** How many groups are nested in the role groups (their members get the roles too); null when not followed. */
  nestedGroups: number | null;
  /** Groups in the role groups that a sync cannot follow (unreadable, or nested too deep), and why. */
  groupNotes: string[];
  durationMs: number;
};

const SAMPLE = 5;

/**
 * Checks a registration against the real directory without changing anything: connects and binds as
 * the service account, counts the people the sync would read, shows how the first ones would map,
 * and looks for each role group. Audited.
 */
export async function testDirectory(ctx: GatewayContext, sealer: Sealer, name: string): Promise<DirectoryTest> {
  assertFullAdmin(ctx.actor);
  const directory = await findDirectory(ctx, name);
  const endpoint = endpointOf(directory, sealer);
  const s = endpoint.settings;
  const clock = performance.now();
  const units = await loadUnitIds(ctx);
  const result: DirectoryTest = {
    directory: directory.name,
    ok: false,
    connected: false,
    problem: null,
    people: 0,
    sample: [],
    groups: [],
    nestedGroups: null,
    groupNotes: [],
    durationMs: 0,
  };
  let failure: DirectoryUnavailableError | null = null;
  try {
    const peopleProblem = await withDirectory(endpoint, async (client) => {
      result.connected = true;
      const problem = await samplePeople(client, s, result, units);
      for (const { group } of s.roleGroups) {
        try {
          const found = await client.search(group, { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] });
          result.groups.push({ group, found: found.searchEntries.length > 0 });
        } catch (error) {
          if (!(error instanceof NoSuchObjectError)) throw error;
          result.groups.push({ group, found: false });
        }
      }
      if (s.nestedGroups) await findNested(client, directory.name, s, result);
      return problem;
    });
    if (result.people === 0) result.problem = `nobody under ${s.userBase} matches ${s.userFilter}`;
    else if (peopleProblem) result.problem = peopleProblem;
    else if (!result.groups.every((g) => g.found)) result.problem = 'some role groups do not exist in the directory';
    result.ok = result.problem === null;
  } catch (error) {
    failure = unavailable(directory.name, error, endpoint);
    result.problem = failure.problem;
  } finally {
    result.durationMs = Math.round(performance.now() - clock);
  }
  await audit(ctx, {
    action: 'directory.test',
    target: directory.name,
    outcome: result.ok ? 'success' : 'failure',
    details: { people: result.people, problem: result.problem, ...(failure ? { cause: failure.rawCause } : {}) },
  });
  return result;
}

/**
 * Reads the groups nested in the role groups as a sync would, to say how many there are and which cannot
 * be followed (a missing role group is said already).
 */
async function findNested(client: Client, directory: string, s: DirectorySettings, result: DirectoryTest) {
  const { nested, notes } = await readRoleGroups(client, directory, s);
  const missing = new Set(result.groups.filter((g) => !g.found).map((g) => normalizeDn(g.group)));
  result.nestedGroups = nested;
  result.groupNotes = notes.filter((n) => !missing.has(normalizeDn(n.group))).map((n) => `${n.group}: ${n.problem}`);
}

/**
 * Counts the people and reads the first few as the sync would; says what is wrong when sampled entries
 * have no usable id. The sync refuses every such entry, so a service account that may not read the id
 * attribute (or a directory without it) would make every sync fail as unreadable. Else, says when any
 * entry's disabled attribute, or expiry attribute, cannot be read (unreadFlagsProblem, unreadExpiriesProblem).
 */
async function samplePeople(
  client: Client,
  s: DirectorySettings,
  result: DirectoryTest,
  units: KnownUnits,
): Promise<string | null> {
  const withoutId: { dn: string; problem: string }[] = [];
  const flags: UnreadValues = { count: 0, first: null };
  const expiries: UnreadValues = { count: 0, first: null };
  const pages = client.searchPaginated(s.userBase, {
    scope: 'sub',
    filter: s.userFilter,
    attributes: attributesToRead(s),
    explicitBufferAttributes: idBufferAttributes(s),
    paged: { pageSize: PAGE_SIZE },
  });
  for await (const page of pages) {
    result.people += page.searchEntries.length;
    for (const entry of page.searchEntries) {
      const { disabledProblem, expiryProblem } = standingOf(valuesOf(entry), s);
      noteUnread(flags, entry.dn, disabledProblem);
      noteUnread(expiries, entry.dn, expiryProblem);
    }
    for (const entry of page.searchEntries.slice(0, SAMPLE - result.sample.length)) {
      const id = entryIdOf(entry, s);
      if ('problem' in id) withoutId.push({ dn: entry.dn, problem: id.problem });
      const read = readEntry(entry, s, groupsFromMemberOf, units);
      result.sample.push(
        'refusal' in read
          ? read.refusal
          : {
              ...read.person,
              unit: read.person.unit.path,
              entryId: read.person.entryId && describeEntryId(read.person.entryId, s.idAttribute),
            },
      );
    }
  }
  const first = withoutId[0];
  if (!first) {
    const unread = [unreadFlagsProblem(flags, result.people, s), unreadExpiriesProblem(expiries, result.people, s)];
    return unread.filter((problem) => problem !== null).join('; ') || null;
  }
  const which =
    withoutId.length === result.sample.length
      ? `none of the ${result.sample.length} entries sampled has a usable ${s.idAttribute}`
      : `${withoutId.length} of the ${result.sample.length} entries sampled have no usable ${s.idAttribute}`;
  return (
    `${which} (${first.dn} ${first.problem}), and a sync refuses every entry without one: let the service ` +
    `account read ${s.idAttribute}, or set the id attribute to none (people are then matched by username)`
  );
}

/** How many entries' disabled (or expiry) attribute cannot be read, and the first (`DN: why`). */
type UnreadValues = { count: number; first: string | null };

function noteUnread(unread: UnreadValues, dn: string, problem: string | null | undefined): void {
  if (!problem) return;
  unread.count += 1;
  unread.first ??= `${dn}: ${problem}`;
}

/** `every entry's ATTR`, or `ATTR of 2 of the 40 entries`. */
const whichEntries = ({ count }: UnreadValues, people: number, attribute: string | null) =>
  count === people ? `every entry's ${attribute}` : `${attribute} of ${count} of the ${people} entries`;

/**
 * Entries whose disabled attribute holds what says neither disabled nor not: a sync counts them as not
 * disabled, so the directory's disabled people would stay active here.
 */
function unreadFlagsProblem(unread: UnreadValues, people: number, s: DirectorySettings): string | null {
  const { first } = unread;
  if (!first) return null;
  const which = whichEntries(unread, people, s.disabledAttribute);
  return (
    `${which} cannot be read as disabled or not (${first}), and a sync counts such entries as ` +
    `not disabled: set the disabled attribute to one the directory keeps for it (userAccountControl, ` +
    `pwdAccountLockedTime, nsAccountLock), or to none`
  );
}

/**
 * Entries whose expiry attribute holds what is no time: a sync counts them as not expired, so the people
 * whose account ended there would stay active here.
 */
function unreadExpiriesProblem(unread: UnreadValues, people: number, s: DirectorySettings): string | null {
  const { first } = unread;
  if (!first) return null;
  return (
    `${whichEntries(unread, people, s.expiryAttribute)} cannot be read as a time (${first}), and a sync ` +
    'counts such entries as not expired: set the account expiry attribute to one the directory keeps for it ' +
    '(accountExpires), or to none'
  );
}
