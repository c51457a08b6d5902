import { Op, type Transaction } from 'sequelize';
import { domainOf, userOf } from '../../protocol/address.ts';
import type { NodeModels } from '../models.ts';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import { breaksGroupEvent } from '../../protocol/server-frames.ts';
import { parseBody } from '../messages/present-message.ts';
import { placeholderOf } from './withhold.ts';
import { allowed, domainEntry, type Registry, type RegistryClient } from '../../protocol/registry-client.ts';

/**
 * One event of a transaction this node did not apply, told back to the sender in the answer
 * (docs/federation.md, "What a home may relay"). The rest of the transaction is applied.
 */
export type Refusal = {
  /** Its index in the transaction's `events`. */
  event: number;
  conversationId: string;
  code: 'policy_denied' | 'no_member_here' | 'conversation_not_held' | 'not_a_member' | 'invalid_entry';
  message: string;
};

/** What this node knows of a conversation it holds, for judging what its home relays. */
export type Held = { homeDomain: string; kind: string };

type Snapshot = Extract<FederationEvent, { type: 'conversation' }>['conversation'];
type EntryEvent = Extract<FederationEvent, { type: 'entry' }>;

/**
 * Whether two domains may exchange messages, by one copy of the policy for the whole transaction (the one
 * the request's signature was just checked with). A pair is judged when one of the two is this
 * organization's (registered, not `partner`); how two domains of a linked organization (or unknown ones)
 * may talk to each other is that organization's policy, which this registry does not hold.
 * A denial is checked once more against a fresh copy (at most every 5 s), so that a pair allowed a moment
 * ago is not refused for good.
 */
export function policyCheck(registry: RegistryClient, domain: string): (a: string, b: string) => Promise<boolean> {
  let current: Promise<Registry> | undefined;
  let refreshed = false;
  const ours = (copy: Registry, name: string) => {
    const entry = domainEntry(copy, name);
    return entry !== undefined && entry.partner !== true;
  };
  const judge = (copy: Registry, a: string, b: string) =>
    allowed(copy, a, b) || (a !== domain && b !== domain && !ours(copy, a) && !ours(copy, b));
  return async (a, b) => {
    current ??= registry.get();
    if (judge(await current, a, b)) return true;
    if (refreshed) return false;
    refreshed = true;
    current = registry.refreshSoon();
    return judge(await current, a, b);
  };
}

/**
 * Why a snapshot may not be applied, if it may not: every two domains of a group's active members (and its
 * home) must be allowed to exchange messages, as the home checks when it adds them. Only the members it
 * makes active are judged, so that a snapshot after a policy change can still record who left.
 */
export async function snapshotRefusal(
  snap: Snapshot,
  before: Map<string, { state: string }>,
  mayExchange: (a: string, b: string) => Promise<boolean>,
): Promise<string | undefined> {
  const active = snap.members.filter((m) => m.state === 'active');
  const domains = [...new Set([snap.homeDomain, ...active.map((m) => domainOf(m.address))])];
  const joining = [
    ...new Set(active.filter((m) => before.get(m.address)?.state !== 'active').map((m) => domainOf(m.address))),
  ];
  for (const a of joining) {
    for (const b of domains) {
      if (!(await mayExchange(a, b)))
        return `The federation policy does not let ${a} and ${b} exchange messages, so they cannot share conversation ${snap.id}`;
    }
  }
  return undefined;
}

/**
 * Senders a home speaks for without their being members: its own `system@` address in any conversation
 * (withheld placeholders, stored delivery failures), and in a group its own domain's senders (bots, webhooks).
 */
function vouchedByHome(conversation: Held, sender: string): boolean {
  if (domainOf(sender) !== conversation.homeDomain) return false;
  return conversation.kind === 'group' || userOf(sender) === 'system';
}

/**
 * Whether an entry would hand devices a group change whose fields break its event's shape
 * (groupEventSchema): members that are not addresses, a role no member holds. It is judged as devices
 * read it, its body under its own kind (presentMessage: no body names an entry's kind). An edit's target
 * body becomes the body of the entry it targets, which may be a system entry, so it is judged as one: an
 * honest home's never names a group event at all.
 */
function breaksGroupChange(event: EntryEvent): boolean {
  const { message, target } = event;
  return (
    breaksGroupEvent({ ...parseBody(message), kind: message.kind }) ||
    (target !== undefined && breaksGroupEvent({ ...parseBody(target), kind: 'system' }))
  );
}

/**
 * Splits a run of entries into those this node stores and those it refuses. A home vouches only for what
 * its conversation's members wrote (and, in a group, for its own domain's senders: bots, webhooks), and
 * only for authors whose domain may exchange messages with the home and with this domain; and none of it
 * may be a group change that devices could not read.
 */
export async function screenEntries(
  models: NodeModels,
  domain: string,
  held: Map<string, Held>,
  run: { index: number; event: EntryEvent }[],
  mayExchange: (a: string, b: string) => Promise<boolean>,
  tx: Transaction,
): Promise<{ accepted: EntryEvent[]; refused: Refusal[] }> {
  const accepted: EntryEvent[] = [];
  const refused: Refusal[] = [];
  const needMembership = run.filter(({ event }) => {
    const conversation = held.get(event.conversationId);
    return conversation && !vouchedByHome(conversation, event.message.sender);
  });
  const members = new Set(
    needMembership.length === 0
      ? []
      : (
          await models.Member.findAll({
            where: {
              conversationId: { [Op.in]: [...new Set(needMembership.map(({ event }) => event.conversationId))] },
              address: { [Op.in]: [...new Set(needMembership.map(({ event }) => event.message.sender))] },
            },
            attributes: ['conversationId', 'address'],
            transaction: tx,
          })
        ).map((m) => `${m.conversationId}|${m.address}`),
  );
  for (const { index, event } of run) {
    const { conversationId } = event;
    const sender = event.message.sender;
    const conversation = held.get(conversationId);
    // An entry refused from a conversation held here still takes its seq, as a placeholder the home speaks
    // for: a copy keeps every seq, so a device that has them all has everything (docs/federation.md).
    const refuse = (code: Refusal['code'], message: string) => {
      refused.push({ event: index, conversationId, code, message });
      if (conversation) accepted.push(placeholderOf(event, conversation.homeDomain));
    };
    if (!conversation) {
      refuse(
        'conversation_not_held',
        `Conversation ${conversationId} is not held here (no snapshot naming this domain's people came before it)`,
      );
      continue;
    }
    const author = domainOf(sender);
    let apart: string | undefined;
    for (const other of [domain, conversation.homeDomain])
      if (!apart && !(await mayExchange(author, other))) apart = other;
    if (apart) {
      refuse(
        'policy_denied',
        `The federation policy does not let ${author} and ${apart} exchange messages; the entry of ${sender} is not taken`,
      );
      continue;
    }
    if (!vouchedByHome(conversation, sender) && !members.has(`${conversationId}|${sender}`)) {
      refuse('not_a_member', `${sender} is not a member of conversation ${conversationId}`);
      continue;
    }
    if (breaksGroupChange(event)) {
      refuse('invalid_entry', `Entry ${event.message.id} is a group change whose fields do not fit its event`);
      continue;
    }
    accepted.push(event);
  }
  return { accepted, refused };
}
