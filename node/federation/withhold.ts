import type { FederationEvent } from '../../protocol/federation-events.ts';

export type EntryEvent = Extract<FederationEvent, { type: 'entry' }>;

/** The entry kind that stands, in another domain's copy, for an entry the federation policy kept from it. */
export const WITHHELD = 'withheld';
/** The entry kind that records, in the conversation, that entries did not reach a domain. */
export const DELIVERY_FAILED = 'delivery.failed';

// Entries whose authors are told when they do not arrive: what people wrote. Membership changes and the
// failure notices themselves are not (a notice about a notice would never end while a pair stays closed).
const REPORTED = new Set(['text', 'card', 'edit', 'card.update']);

/** Whether the author of an entry that did not reach a domain is told (delivery.failed). */
export function reported(event: FederationEvent): event is EntryEvent {
  return event.type === 'entry' && REPORTED.has(event.message.kind);
}

/**
 * What an outbox keeps for a destination whose policy refuses it, instead of the event, so that its copy
 * of each conversation has every seq once the pair is open again (docs/federation.md, "Delivery"):
 * an entry becomes a placeholder of the same id and seq, without author or content; a recall stays as it
 * is (it carries no content, and the recalled message must not stay readable there); a conversation
 * snapshot stays (the destination needs it to take the entries); a receipt is dropped (a later one
 * supersedes it), and so is a move (that home's groups hold nobody of a domain it may not talk to). `home`
 * is this domain, which speaks for the placeholder.
 */
export function withhold(event: FederationEvent, home: string): FederationEvent | null {
  if (event.type === 'receipt' || event.type === 'moved') return null;
  if (event.type !== 'entry' || event.message.kind === WITHHELD || event.message.kind === 'recall') return event;
  return placeholderOf(event, home);
}

/**
 * An entry's placeholder: the same id and seq, no author or content, spoken for by the conversation's
 * `home`. What a copy keeps for an entry it may not hold, so that its seqs stay gap-free.
 */
export function placeholderOf(event: EntryEvent, home: string): EntryEvent {
  const { id, seq, createdAt } = event.message;
  return {
    type: 'entry',
    conversationId: event.conversationId,
    message: {
      id,
      seq,
      sender: `system@${home}`,
      clientMsgId: `withheld-${id}`,
      kind: WITHHELD,
      body: '{}',
      refId: null,
      createdAt,
      editedAt: null,
      recalledAt: null,
    },
  };
}
