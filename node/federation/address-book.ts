import { AppError, RateLimitedError, ValidationError } from '../../core/errors.ts';
import { createTokenBucket, type TokenBucket } from '../../core/rate-limit.ts';
import { parseInput } from '../../core/validate.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import { addressAnswerSchema } from '../../protocol/federation-events.ts';
import { couldBeAppSlug } from '../bots/app-directory.ts';
import { askDirectory, USERNAMES_PER_LOOKUP, type GatewayDirectory } from './directory.ts';
import { errorOf, unconfirmed, type Transport } from './transport.ts';

/** Nobody answers to these addresses: nothing was created or sent (docs/protocol.md). */
export class UnknownAddressError extends AppError {
  readonly addresses: string[];

  constructor(addresses: string[], field: string) {
    const list = addresses.join(', ');
    super('unknown_address', 422, `Nobody is known at ${list}`, { fields: { [field]: `unknown: ${list}` }, addresses });
    this.addresses = addresses;
  }
}

// A known address stays known for a minute (an account disabled meanwhile only makes a conversation that
// goes unread); an unknown one is asked again after a few seconds, so a person added a moment ago is found.
const KNOWN_FOR_MS = 60_000;
const UNKNOWN_FOR_MS = 5_000;
const MAX_REMEMBERED = 20_000;
const BOT_LOOKUPS_AT_ONCE = 8;

/**
 * The most names that are not people one check asks the gateway about as apps' bots, one request each:
 * a group takes in a few apps, not hundreds. Among more, those asked about decide: any of them nobody's
 * and the check names them (the rest are not asked about); all of them bots and the check is refused.
 */
export const BOT_LOOKUPS_PER_CHECK = 20;

/**
 * What another domain's node may have this node ask its gateway about this domain's addresses (those it
 * does not remember), per origin domain and process: one check of the most it may name (5,000) at once,
 * then 50 addresses a second (3,000 a minute). Opening conversations and watching presence asks about a
 * few new addresses at a time; what a node keeps asking beyond that is refused (`rate_limited`), so a
 * peer cannot turn this node into a flood of requests to its gateway.
 */
export const PEER_ADDRESS_BURST = 5_000;
export const PEER_ADDRESSES_PER_SECOND = 50;

/**
 * What is known of an address: a person's, an app's bot's (here by the gateway, of another domain by its
 * node's word), someone else's (anyone of another domain whose node does not tell bots apart), nobody's.
 */
type Holder = 'person' | 'bot' | 'other' | 'nobody';

/** Whether addresses of any domain belong to someone, asked before a conversation is opened with them. */
export interface AddressBook {
  /** Which of these addresses (of any domain) nobody answers to. */
  unknownOf(addresses: string[]): Promise<string[]>;
  /**
   * For `asker`, another domain's node (POST /federation/v1/addresses): which of these addresses of this
   * domain nobody answers to, and which are apps' bots (left out when none); asked at the pace PEER_ADDRESSES_PER_SECOND allows
   * it, else refused (`rate_limited`).
   */
  answerHere(addresses: string[], asker: string): Promise<{ unknown: string[]; bots?: string[] }>;
  /**
   * Which of these addresses of other domains are apps' bots, by their nodes (remembered as the address
   * check's answers are, else asked); `field` is the input that named them. Fails retryably while a node
   * cannot be reached.
   */
  botsAmong(addresses: string[], field: string): Promise<string[]>;
  /**
   * Which of these addresses of this domain are no person's (nobody's, or an app's bot), for `asker`'s
   * presence query: apps are not asked about. Paced as answerHere, in the same allowance.
   */
  notPeopleHere(addresses: string[], asker: string): Promise<string[]>;
  /** Refuses, naming them, addresses nobody answers to; `field` is the input that named them. */
  assertKnown(addresses: string[], field: string): Promise<void>;
}

/** How a check goes: only this domain's addresses, and whether apps' bots count; for whom, and from which field. */
type CheckOptions = { onlyHere: boolean; peopleOnly: boolean; asker?: string; field: string };

/**
 * What each asking domain (registered, so there are few) may still have this node ask its gateway about
 * its addresses: PEER_ADDRESS_BURST at once, PEER_ADDRESSES_PER_SECOND after that; spends `count` or refuses.
 */
function peerAllowances(domain: string, now: () => number): (asker: string, count: number) => void {
  const allowances = new Map<string, TokenBucket>();
  return (asker, count) => {
    let allowance = allowances.get(asker);
    if (!allowance) {
      allowance = createTokenBucket({ ratePerSecond: PEER_ADDRESSES_PER_SECOND, burst: PEER_ADDRESS_BURST, now });
      allowances.set(asker, allowance);
    }
    const { allowed, retryAfterMs } = allowance.take(count);
    if (!allowed)
      throw new RateLimitedError(
        Math.ceil(retryAfterMs / 1000),
        `${asker} has asked about more of ${domain}'s addresses than it may for now; ask again later`,
      );
  };
}

/** This domain's people among `addresses`, by the gateway's directory, a hundred at a time. */
async function peopleAmong(directory: GatewayDirectory, addresses: string[]): Promise<Set<string>> {
  const people = new Set<string>();
  for (let i = 0; i < addresses.length; i += USERNAMES_PER_LOOKUP) {
    const usernames = addresses.slice(i, i + USERNAMES_PER_LOOKUP).map(userOf);
    for (const person of await askDirectory(directory, { usernames: usernames.join(',') })) {
      for (const address of person.addresses) people.add(address);
    }
  }
  return people;
}

/**
 * Who holds each of these addresses of this domain: people by the directory, then apps' bots, each its
 * own question to the gateway, for names that can be a slug only, and BOT_LOOKUPS_PER_CHECK of them at
 * most. Addresses left unasked are left out of the answer (and so not remembered). When more could be
 * bots and all those asked about are someone's, the check cannot answer: `refusal` says so (what was
 * learnt is still worth remembering, so that the same question asked again gets further).
 */
async function holdersHere(
  parts: { directory: GatewayDirectory; isBot: (slug: string) => Promise<boolean> },
  addresses: string[],
  how: CheckOptions,
): Promise<{ holders: Map<string, Holder>; refusal?: ValidationError }> {
  const people = await peopleAmong(parts.directory, addresses);
  const holders = new Map<string, Holder>();
  const maybeBots: string[] = [];
  for (const address of addresses) {
    if (people.has(address)) holders.set(address, 'person');
    else if (couldBeAppSlug(userOf(address))) maybeBots.push(address);
    else holders.set(address, 'nobody');
  }
  if (how.peopleOnly) return { holders };
  const asked = maybeBots.slice(0, BOT_LOOKUPS_PER_CHECK);
  for (let i = 0; i < asked.length; i += BOT_LOOKUPS_AT_ONCE) {
    const batch = asked.slice(i, i + BOT_LOOKUPS_AT_ONCE);
    const bots = await Promise.all(batch.map((a) => parts.isBot(userOf(a))));
    batch.forEach((address, j) => holders.set(address, bots[j] ? 'bot' : 'nobody'));
  }
  if (maybeBots.length === asked.length || [...holders.values()].includes('nobody')) return { holders };
  const unasked = maybeBots.slice(asked.length);
  const named =
    unasked.length > 3 ? `${unasked.slice(0, 3).join(', ')} and ${unasked.length - 3} more` : unasked.join(', ');
  const refusal = new ValidationError(
    `At most ${BOT_LOOKUPS_PER_CHECK} addresses that are not people's can be looked up as apps' bots at once; ${maybeBots.length} were named`,
    { [how.field]: `at most ${BOT_LOOKUPS_PER_CHECK} apps' bots looked up at once; not looked up: ${named}` },
  );
  return { holders, refusal };
}

/**
 * Who holds addresses of another domain, by its node. When it names some as nobody's, the others are not
 * taken as known: it may have left some unasked (see holdersHere), and the check is refused anyway.
 */
async function holdersThere(
  transport: Transport,
  other: string,
  addresses: string[],
  field: string,
): Promise<Map<string, Holder>> {
  const response = await transport
    .post(other, '/federation/v1/addresses', { addresses })
    .catch(unconfirmed(other, 'check the addresses'));
  if (response.status !== 200) {
    const { code, message } = errorOf(response);
    // The question itself was refused (too many apps' bots named at once): asking again will not help.
    if (code === 'invalid_input')
      throw new ValidationError(`${other} refused to check these addresses: ${message}`, { [field]: message });
    throw new AppError(
      'federation_unavailable',
      503,
      `${other} cannot confirm its addresses now (${code}); nothing was created; try again`,
    );
  }
  const { unknown, bots = [] } = parseInput(
    addressAnswerSchema,
    response.body,
    `${other} answered the address check in a shape this node does not know`,
  );
  const asked = new Set(addresses);
  const nobody = unknown.filter((a) => asked.has(a));
  if (nobody.length > 0) return new Map(nobody.map((a) => [a, 'nobody']));
  const bot = new Set(bots);
  return new Map(addresses.map((a) => [a, bot.has(a) ? 'bot' : 'other']));
}

/**
 * Whether addresses belong to someone, checked before a conversation is opened with them: addresses of
 * this domain against the gateway's directory (active people whose units give them this domain) and the
 * apps whose bots speak here; addresses of another domain by that domain's node, over signed federation,
 * which asks its own gateway (the two domains may belong to different organizations). Answers are
 * remembered briefly. When the gateway or the other node cannot be reached the check fails with a
 * retryable error rather than guess: nothing is created that could not be delivered.
 */
export function createAddressBook(options: {
  directory: GatewayDirectory;
  transport: Transport;
  /** Whether `slug@this-domain` is the address of an app's bot that may take part in conversations. */
  isBot: (slug: string) => Promise<boolean>;
  /** The clock answers age by (the machine's by default). */
  now?: () => number;
}): AddressBook {
  const { domain } = options.directory;
  const clock = options.now ?? Date.now;
  const remembered = new Map<string, { holder: Holder; until: number }>();
  const pace = peerAllowances(domain, clock);

  function remember(address: string, holder: Holder): void {
    remembered.delete(address);
    if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
    remembered.set(address, { holder, until: clock() + (holder === 'nobody' ? UNKNOWN_FOR_MS : KNOWN_FOR_MS) });
  }

  /** Who holds each address (of those `how` takes), as remembered or asked now; those left unasked are missing. */
  async function check(addresses: string[], how: CheckOptions) {
    const now = clock();
    const wanted = [...new Set(addresses)].filter((a) => !how.onlyHere || domainOf(a) === domain);
    const found = new Map<string, Holder>();
    const toAsk = new Map<string, string[]>();
    for (const address of wanted) {
      const known = remembered.get(address);
      if (known && known.until > now) {
        found.set(address, known.holder);
        continue;
      }
      const at = domainOf(address);
      const list = toAsk.get(at);
      if (list) list.push(address);
      else toAsk.set(at, [address]);
    }
    if (how.asker) pace(how.asker, toAsk.get(domain)?.length ?? 0);
    const refusals = await Promise.all(
      [...toAsk].map(async ([at, list]) => {
        const { holders, refusal } =
          at === domain
            ? await holdersHere(options, list, how)
            : { holders: await holdersThere(options.transport, at, list, how.field) };
        for (const [address, holder] of holders) {
          remember(address, holder);
          found.set(address, holder);
        }
        return refusal;
      }),
    );
    // Someone named is nobody: that answers the check, whoever the addresses left unasked belong to.
    const refusal = refusals.find((r) => r !== undefined);
    if (refusal && ![...found.values()].includes('nobody')) throw refusal;
    return { wanted, found };
  }

  const nobodys = ({ wanted, found }: { wanted: string[]; found: Map<string, Holder> }) =>
    wanted.filter((a) => found.get(a) === 'nobody');

  return {
    unknownOf: async (addresses) =>
      nobodys(await check(addresses, { onlyHere: false, peopleOnly: false, field: 'addresses' })),
    async answerHere(addresses, asker) {
      const checked = await check(addresses, { onlyHere: true, peopleOnly: false, asker, field: 'addresses' });
      const bots = checked.wanted.filter((a) => checked.found.get(a) === 'bot');
      return { unknown: nobodys(checked), ...(bots.length > 0 ? { bots } : {}) };
    },
    async botsAmong(addresses, field) {
      const others = addresses.filter((a) => domainOf(a) !== domain);
      if (others.length === 0) return [];
      const { wanted, found } = await check(others, { onlyHere: false, peopleOnly: false, field });
      return wanted.filter((a) => found.get(a) === 'bot');
    },
    async notPeopleHere(addresses, asker) {
      const { wanted, found } = await check(addresses, { onlyHere: true, peopleOnly: true, asker, field: 'addresses' });
      return wanted.filter((a) => found.get(a) !== 'person');
    },
    async assertKnown(addresses: string[], field: string): Promise<void> {
      if (addresses.length === 0) return;
      const unknown = nobodys(await check(addresses, { onlyHere: false, peopleOnly: false, field }));
      if (unknown.length > 0) throw new UnknownAddressError(unknown, field);
    },
  };
}
