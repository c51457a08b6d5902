import { Router } from 'express';
import { z } from 'zod';
import { AppError, ForbiddenError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import type { Identity, TokenVerifier } from '../auth/token-verifier.ts';
import type { AppDirectory } from '../bots/app-directory.ts';
import { actorOf, bearerAuth } from '../http/bearer.ts';
import { paceDirectorySearch, type PersonLimits } from '../limits/person-limits.ts';
import { searchTextSchema } from '../../protocol/search-query.ts';
import { signedGatewayRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';
import type { DirectoryPerson, DisabledPerson, FormerMember } from '../../protocol/directory-person.ts';

/** A search (`q`), or the people of some usernames at once (`usernames`, comma-separated: a group's names). */
const querySchema = z
  .object({
    q: searchTextSchema(100).optional(),
    limit: z.coerce.number().int().min(1).max(50).default(20),
    usernames: z.string().min(1).max(6_600).optional(),
  })
  .refine((d) => (d.q === undefined) !== (d.usernames === undefined), {
    message: 'give either q or usernames',
    path: ['q'],
  });

/** A person, or (in a search only) an app's bot at this node (protocol/directory-person.ts). */
export type Person = DirectoryPerson;

/** How this node reaches the campus directory at its gateway (signed as the node). */
export type GatewayDirectory = { domain: string; gatewayIssuer: string; signingKey: () => Promise<PrivateKeyJwk> };

/** The most usernames the gateway takes in one lookup (its MAX_DIRECTORY_USERNAMES). */
export const USERNAMES_PER_LOOKUP = 100;

/**
 * Asks the gateway's directory: a search (`q`, `limit`) or a lookup of named people (`usernames`). It
 * answers only people on domains the federation policy lets this domain see, and only active accounts.
 */
export async function askDirectory(options: GatewayDirectory, params: Record<string, string>): Promise<Person[]> {
  return (await askDirectoryAnswer(options, params)).people;
}

/** A lookup's whole answer, as the node passes it on to its clients. */
export type DirectoryAnswer = { people: Person[]; former: FormerMember[]; disabled: DisabledPerson[] };

/**
 * askDirectory's whole answer: with a lookup by usernames, also those of deleted accounts (`former`), whose
 * messages are shown from a former member, and of disabled ones (`disabled`), named as they were and marked
 * so; a gateway before them answers none. Neither is among the people, whom this node opens conversations
 * with and invites.
 */
export async function askDirectoryAnswer(
  options: GatewayDirectory,
  params: Record<string, string>,
): Promise<DirectoryAnswer> {
  const path = `/federation/v1/directory?${new URLSearchParams(params)}`;
  const request = await signedGatewayRequest({ ...options, origin: options.domain }, 'GET', path);
  let response: Response;
  try {
    response = await fetch(request);
  } catch {
    throw new AppError('directory_unavailable', 503, 'The campus directory cannot be reached now; try again');
  }
  if (response.status === 400) {
    const refusal = (await response.json().catch(() => ({}))) as {
      error?: { message?: string; fields?: Record<string, string> };
    };
    throw new ValidationError(refusal.error?.message ?? 'The directory query is invalid', refusal.error?.fields ?? {});
  }
  if (response.status === 401) {
    // Not a passing failure: the gateway does not know this node's key (never pinned, or re-pinning failed).
    throw new AppError(
      'directory_unavailable',
      503,
      `The gateway does not accept ${options.domain}'s signature: pin its keys (atrium domains pin ${options.domain})`,
    );
  }
  if (!response.ok)
    throw new AppError(
      'directory_unavailable',
      503,
      `The campus directory refused the search (HTTP ${response.status}); try again`,
    );
  const answer = (await response.json()) as Partial<DirectoryAnswer> & { people: Person[] };
  return { people: answer.people, former: answer.former ?? [], disabled: answer.disabled ?? [] };
}

/**
 * Refuses a search by name to a person's token issued to a third-party app (neither the gateway's own
 * clients nor an app an administrator marked first-party, as the gateway says): consenting to `im` lets an
 * app read the person's chats and write as them, not copy the campus directory. A lookup by `usernames` stays
 * open to it: it names the people of the person's conversations so, as the portal does.
 */
async function requireFirstPartySearch(clients: Pick<AppDirectory, 'client'>, actor: Identity): Promise<void> {
  if (actor.kind !== 'user') return;
  const client = await clients.client(actor.clientId);
  if (client.firstParty === true) return;
  const app = client.app?.name ?? actor.clientId;
  throw new ForbiddenError(
    `${app} may not search the people directory by name: only the portal and the apps an administrator made first-party may; an app looks up the people of the person's conversations by usernames`,
  );
}

/**
 * People search for this domain's users: the gateway answers from the whole campus directory, limited to
 * the domains the federation policy lets this domain see. A search by name is not for a third-party app's
 * token (requireFirstPartySearch), and nothing here is for bots: the answer (names, units and
 * addresses across the campus) is people's, and an app knows the people it is for from their own sign-ins.
 */
export function directoryRoute(
  options: GatewayDirectory & {
    verifier: TokenVerifier;
    /** Whether a token's client is first-party (the gateway's word), for searches by name. */
    clients: Pick<AppDirectory, 'client'>;
    /** Searches by name a person may make a minute, and where they are counted (every process together). */
    pace: { limits: Pick<PersonLimits, 'directorySearches'>; perMinute: number };
  },
): Router {
  const router = Router();
  router.get('/api/v1/directory', bearerAuth(options.verifier), async (req, res) => {
    if (actorOf(req).kind === 'app') {
      throw new ForbiddenError(
        'A bot does not search the people directory: it writes to the people its app is for, whom the app knows from their sign-ins',
      );
    }
    const query = parseInput(querySchema, req.query);
    // A lookup of named people is the portal showing names it already holds; a search by name is what a
    // script copying the campus directory would repeat.
    if (query.q !== undefined) {
      await requireFirstPartySearch(options.clients, actorOf(req));
      await paceDirectorySearch(options.pace.limits, options.pace.perMinute, actorOf(req).address);
    }
    // The gateway checks the usernames themselves (how many, which characters) and says what is wrong.
    // A search names its person, for whom the gateway finds only the apps' bots that are for them.
    const actor = actorOf(req);
    const params: Record<string, string> =
      query.usernames !== undefined
        ? { usernames: query.usernames }
        : { q: query.q ?? '', limit: String(query.limit), ...(actor.kind === 'user' ? { for: actor.sub } : {}) };
    const { people, former, disabled } = await askDirectoryAnswer(options, params);
    res
      .set('Cache-Control', 'no-store')
      .json(query.usernames !== undefined ? { people, former, disabled } : { people });
  });
  return router;
}
