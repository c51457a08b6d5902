import type { Clock, ClockTimer } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import { domainOf } from '../../protocol/address.ts';
import { serverFrame } from '../../protocol/frames.ts';
import type { Bus } from '../bus/bus.ts';

/** Groups of more than this many members (of every domain) hear of typing collapsed. */
export const TYPING_COLLAPSED_ABOVE = 100;
/** A big group hears that people are typing at most this often (per node process). */
export const COLLAPSED_TYPING_INTERVAL_MS = 3_000;
/** A person is told as typing in a conversation at most this often, whichever of their devices types. */
export const TYPING_INTERVAL_MS = 1_500;
/** How many of the typists a collapsed frame names, so that a client can leave itself out. */
const NAMED_TYPISTS = 3;

export type TypingNews = {
  /**
   * Whether `address` typing in the conversation is worth telling now: at most once per TYPING_INTERVAL_MS
   * per person and conversation (per node process), whether they type on one device or several, here or
   * at another domain. Asked only for a member, so that nobody grows the memory with made-up ids.
   */
  due(conversationId: string, address: string): boolean;
  /**
   * Someone (of any domain) is typing in a conversation whose active members are `members` (every
   * domain): this domain's members hear of it.
   */
  tell(conversationId: string, address: string, members: Set<string>): Promise<void>;
};

type Gathering = { typists: string[]; members: Set<string>; timer: ClockTimer | undefined };

/**
 * Tells of typing. In a small conversation each typist goes to the other members as a `typing` frame of
 * their own. In a group of more than TYPING_COLLAPSED_ABOVE members that would cost one frame per member
 * per typist every 1.5 s, so there the typists are gathered and every member gets one collapsed frame
 * ("several people are typing": `several`, `count`, up to three `addresses`) at most every
 * COLLAPSED_TYPING_INTERVAL_MS: the first typist is told at once, whoever follows within the interval
 * goes in the next frame when it ends.
 */
export function createTypingNews(options: { bus: Bus; domain: string; clock: Clock; logger: Logger }): TypingNews {
  const { bus, domain, clock, logger } = options;
  const gathering = new Map<string, Gathering>();
  const lastTold = new Map<string, number>();
  const lastTyped = new Map<string, number>();

  async function tellCollapsed(conversationId: string): Promise<void> {
    const gathered = gathering.get(conversationId);
    gathering.delete(conversationId);
    if (!gathered || gathered.typists.length === 0) return;
    lastTold.set(conversationId, clock.now());
    const recipients = [...gathered.members].filter((a) => domainOf(a) === domain);
    if (recipients.length === 0) return;
    const { typists } = gathered;
    await bus.publish({
      kind: 'deliver',
      recipients,
      frame: JSON.stringify(
        serverFrame('typing', {
          conversationId,
          address: typists[0]!,
          several: true,
          count: typists.length,
          addresses: typists.slice(0, NAMED_TYPISTS),
        }),
      ),
    });
  }

  function forgetOldIntervals(now: number) {
    // Conversations nobody typed in for a while need no memory of when they were last told.
    if (lastTold.size < 10_000) return;
    for (const [id, at] of lastTold) if (now - at >= COLLAPSED_TYPING_INTERVAL_MS) lastTold.delete(id);
  }

  return {
    due(conversationId, address) {
      const now = clock.now();
      const key = `${conversationId} ${address}`;
      if (now - (lastTyped.get(key) ?? Number.NEGATIVE_INFINITY) < TYPING_INTERVAL_MS) return false;
      if (lastTyped.size >= 10_000)
        for (const [k, at] of lastTyped) if (now - at >= TYPING_INTERVAL_MS) lastTyped.delete(k);
      lastTyped.set(key, now);
      return true;
    },
    async tell(conversationId, address, members) {
      if (members.size <= TYPING_COLLAPSED_ABOVE) {
        const recipients = [...members].filter((a) => a !== address && domainOf(a) === domain);
        if (recipients.length === 0) return;
        await bus.publish({ kind: 'deliver', recipients, frame: serverFrame('typing', { conversationId, address }) });
        return;
      }
      const gathered = gathering.get(conversationId) ?? { typists: [], members, timer: undefined };
      gathering.set(conversationId, gathered);
      if (!gathered.typists.includes(address)) gathered.typists.push(address);
      gathered.members = members;
      if (gathered.timer) return;
      const now = clock.now();
      forgetOldIntervals(now);
      const wait = (lastTold.get(conversationId) ?? Number.NEGATIVE_INFINITY) + COLLAPSED_TYPING_INTERVAL_MS - now;
      if (wait <= 0) return tellCollapsed(conversationId);
      gathered.timer = clock
        .setTimeout(() => {
          tellCollapsed(conversationId).catch((err: unknown) =>
            logger.warn({ err, conversationId }, 'typing not told'),
          );
        }, wait)
        .unref();
    },
  };
}
