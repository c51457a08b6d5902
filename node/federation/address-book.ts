import { AppError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import { addressAnswerSchema } from '../../protocol/federation-events.ts';
import { askDirectory, USERNAMES_PER_LOOKUP, type GatewayDirectory } from './directory.ts';
import { errorOf, type Transport } from './transport.ts';

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

/** Whether addresses of any domain belong to someone, asked before a conversation is opened with them. */
export interface AddressBook {
  /** Which of these addresses (of any domain) nobody answers to. */
  unknownOf(addresses: string[]): Promise<string[]>;
  /** Which of these addresses of this domain nobody answers to (for another node's question). */
  unknownHere(addresses: string[]): Promise<string[]>;
  /** Refuses, naming them, addresses nobody answers to; `field` is the input that named them. */
  assertKnown(addresses: string[], field: string): Promise<void>;
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
  const remembered = new Map<string, { known: boolean; until: number }>();

  function remember(address: string, known: boolean): void {
    if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
    remembered.delete(address);
    remembered.set(address, { known, until: clock() + (known ? KNOWN_FOR_MS : UNKNOWN_FOR_MS) });
  }

  async function unknownHere(addresses: string[]): Promise<string[]> {
    const people = new Set<string>();
    for (let i = 0; i < addresses.length; i += USERNAMES_PER_LOOKUP) {
      const usernames = addresses.slice(i, i + USERNAMES_PER_LOOKUP).map(userOf);
      for (const person of await askDirectory(options.directory, { usernames: usernames.join(',') })) {
        for (const address of person.addresses) people.add(address);
      }
    }
    const notPeople = addresses.filter((a) => !people.has(a));
    const unknown: string[] = [];
    // Each bot is its own question to the gateway (cached there): a few at a time.
    for (let i = 0; i < notPeople.length; i += BOT_LOOKUPS_AT_ONCE) {
      const batch = notPeople.slice(i, i + BOT_LOOKUPS_AT_ONCE);
      const bots = await Promise.all(batch.map((a) => options.isBot(userOf(a))));
      unknown.push(...batch.filter((_, j) => !bots[j]));
    }
    return unknown;
  }

  async function unknownThere(other: string, addresses: string[]): Promise<string[]> {
    const response = await options.transport.post(other, '/federation/v1/addresses', { addresses });
    if (response.status !== 200) {
      const { code } = errorOf(response);
      throw new AppError(
        'federation_unavailable',
        503,
        `${other} cannot confirm its addresses now (${code}); nothing was created; try again`,
      );
    }
    const { unknown } = parseInput(
      addressAnswerSchema,
      response.body,
      `${other} answered the address check in a shape this node does not know`,
    );
    const asked = new Set(addresses);
    return unknown.filter((a) => asked.has(a));
  }

  async function check(addresses: string[], onlyHere: boolean): Promise<string[]> {
    const now = clock();
    const toAsk = new Map<string, string[]>();
    for (const address of new Set(addresses)) {
      const known = remembered.get(address);
      if (known && known.until > now) continue;
      const at = domainOf(address);
      if (onlyHere && at !== domain) continue;
      toAsk.set(at, [...(toAsk.get(at) ?? []), address]);
    }
    await Promise.all(
      [...toAsk].map(async ([at, list]) => {
        const unknown = new Set(at === domain ? await unknownHere(list) : await unknownThere(at, list));
        for (const address of list) remember(address, !unknown.has(address));
      }),
    );
    return [...new Set(addresses)].filter(
      (a) => (!onlyHere || domainOf(a) === domain) && remembered.get(a)?.known === false,
    );
  }

  return {
    unknownOf: (addresses: string[]): Promise<string[]> => check(addresses, false),
    unknownHere: (addresses: string[]): Promise<string[]> => check(addresses, true),
    async assertKnown(addresses: string[], field: string): Promise<void> {
      if (addresses.length === 0) return;
      const unknown = await check(addresses, false);
      if (unknown.length > 0) throw new UnknownAddressError(unknown, field);
    },
  };
}
