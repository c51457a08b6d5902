import { AppError } from '../../core/errors.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import { domainEntry, type RegistryClient } from '../../protocol/registry-client.ts';
import type { Clock } from '../../core/clock.ts';
import type { EndedAccess, EndedEntry } from '../auth/ended-access.ts';
import { askDirectory, type GatewayDirectory, type Person, USERNAMES_PER_LOOKUP } from '../federation/directory.ts';
import { isDirectId } from './open-direct.ts';

/**
 * A direct conversation's peer no longer chats at its address: moved off their domain's units, they chat at
 * `movedTo` now (docs/protocol.md). Nothing was sent; the conversation there is another one, to start.
 */
export class RecipientMovedError extends AppError {
  constructor(address: string, person: Person) {
    super('recipient_moved', 409, `${person.name} now chats at ${person.address}: start a conversation there`, {
      fields: { conversationId: `${address} moved to ${person.address}` },
    });
  }
}

// As long as the address book keeps a known address: a minute. Forgotten at once when this domain hears
// that someone left it (forgetLocal), so its own people's moves show at the next send; another domain's
// node is not told of a move (the gateway tells the domain left alone), so there it shows within a minute.
const VERDICT_FOR_MS = 60_000;
const MAX_REMEMBERED = 20_000;
/** How long a send waits for the directory's answer at most: past that it goes as before, asked again next time. */
const ASK_WITHIN_MS = 2_000;
const UNANSWERED_FOR_MS = 5_000;
/** A username as the gateway takes it in a lookup: an app's bot of another form is nobody it could move. */
const USERNAME = /^[a-z0-9._-]{1,64}$/;

/** Where the peers of direct conversations chat now, asked before a message is sent to them. */
export interface MovedPeers {
  /**
   * Refuses (`recipient_moved`) a message from `sender` into a direct conversation whose other member no
   * longer chats at their address there and whom the campus directory finds at another. Answers without a
   * promise what it knows already (the send path's common case); else a promise, to await.
   */
  refuseIfMoved(conversationId: string, members: Set<string>, sender: string): Promise<void> | undefined;
  /** Someone left this domain (an ended access of kind `left_domain`): what was known of its people is asked again. */
  forgetLocal(): void;
  /**
   * Of these addresses (of this organization's domains), those whose person no longer has them, with where
   * that person chats now; asked of the directory now, not remembered. Throws while it cannot be reached.
   */
  movedAmong(addresses: string[]): Promise<Map<string, Person>>;
}

/**
 * Whether a peer moved, by the gateway's directory: the person of that username (usernames are unique at
 * a gateway, an address is the username at a domain) no longer has the address, and has another. Asked
 * only about addresses of this organization's domains (this one, or one the registry holds and not as a
 * partner's): a partner organization's people are not in this gateway's directory, and someone of the same
 * username there is someone else. A directory out of reach lets the message through, as before: a move
 * is no reason to hold up chat. Someone the directory does not find (an app's bot, a disabled account,
 * someone gone to a college this domain may not talk to) is not taken as moved.
 */
export function createMovedPeers(options: {
  directory: GatewayDirectory;
  /** Whose registry tells this organization's domains from partners'. */
  federation: { policy: { registry: RegistryClient } };
  clock: Clock;
}): MovedPeers {
  const { directory, clock } = options;
  const { registry } = options.federation.policy;
  const now = () => clock.now();
  const verdicts = new Map<string, { movedTo: Person | null; until: number }>();
  /** Questions under way, by peer: sends side by side to one peer ask the directory once. */
  const asking = new Map<string, Promise<Person | null>>();

  async function ours(domain: string): Promise<boolean> {
    if (domain === directory.domain) return true;
    const entry = domainEntry(await registry.get(), domain);
    return entry !== undefined && entry.partner !== true;
  }

  async function whereNow(peer: string): Promise<Person | null> {
    if (!(await ours(domainOf(peer)))) return null;
    const people = await askDirectory(directory, { usernames: userOf(peer) });
    const person = people.find((p) => p.username.toLowerCase() === userOf(peer));
    if (!person || person.addresses.includes(peer)) return null;
    return person;
  }

  function ask(peer: string): Promise<Person | null> {
    const under = asking.get(peer);
    if (under) return under;
    const question = askNow(peer).finally(() => asking.delete(peer));
    asking.set(peer, question);
    return question;
  }

  async function askNow(peer: string): Promise<Person | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ASK_WITHIN_MS);
    });
    const answer = await Promise.race([whereNow(peer), late])
      .catch(() => 'late' as const)
      .finally(() => clearTimeout(timer));
    // Unanswered (or refused: a bot's name the gateway takes for no username), asked again a little later
    // rather than at every message.
    if (answer === 'late') remember(peer, null, UNANSWERED_FOR_MS);
    else remember(peer, answer, VERDICT_FOR_MS);
    return answer === 'late' ? null : answer;
  }

  function remember(peer: string, movedTo: Person | null, forMs: number): void {
    verdicts.delete(peer);
    if (verdicts.size >= MAX_REMEMBERED) verdicts.delete(verdicts.keys().next().value!);
    verdicts.set(peer, { movedTo, until: now() + forMs });
  }

  return {
    refuseIfMoved(conversationId, members, sender) {
      if (members.size !== 2 || !isDirectId(conversationId)) return undefined;
      let peer: string | undefined;
      for (const member of members) if (member !== sender) peer = member;
      if (!peer) return undefined;
      const known = verdicts.get(peer);
      if (known && known.until > now()) {
        if (known.movedTo) throw new RecipientMovedError(peer, known.movedTo);
        return undefined;
      }
      const asked = peer;
      return ask(asked).then((movedTo) => {
        if (movedTo) throw new RecipientMovedError(asked, movedTo);
      });
    },
    forgetLocal() {
      for (const peer of verdicts.keys()) if (domainOf(peer) === directory.domain) verdicts.delete(peer);
    },
    async movedAmong(addresses) {
      const moved = new Map<string, Person>();
      const asked: string[] = [];
      for (const address of new Set(addresses))
        if (USERNAME.test(userOf(address)) && (await ours(domainOf(address)))) asked.push(address);
      for (let i = 0; i < asked.length; i += USERNAMES_PER_LOOKUP) {
        const some = asked.slice(i, i + USERNAMES_PER_LOOKUP);
        const usernames = [...new Set(some.map(userOf))].join(',');
        const people = await askDirectory(directory, { usernames });
        for (const address of some) {
          const person = people.find((p) => p.username.toLowerCase() === userOf(address));
          if (person && !person.addresses.includes(address)) moved.set(address, person);
        }
      }
      return moved;
    },
  };
}

/**
 * Ended access that tells of someone leaving this domain (`left_domain`) has `moved` ask about this
 * domain's people again: in the process that recorded it as soon as it is recorded (before the person's
 * token is refused, so no send slips between), in the others as they hear it.
 */
export function forgettingMovedPeers(ended: EndedAccess, moved: Pick<MovedPeers, 'forgetLocal'>): EndedAccess {
  const told = (entries: EndedEntry[]) => {
    if (entries.some((e) => e.reason === 'left_domain')) moved.forgetLocal();
  };
  return {
    ...ended,
    async record(entries) {
      told(entries);
      await ended.record(entries);
    },
    heard(entries) {
      ended.heard(entries);
      told(entries);
    },
  };
}
