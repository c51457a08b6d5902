import { Op, type Transaction } from 'sequelize';
import { appSlugPattern, domainOf, userOf } from '../../protocol/address.ts';
import type { NodeModels } from '../models.ts';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import { breaksGroupEvent } from '../../protocol/server-frames.ts';
import { bodyObject, type MessageBody } from '../messages/present-message.ts';
import { placeholderOf, WITHHELD } from './withhold.ts';
import { allowed, domainEntry, type Registry, type RegistryClient } from '../../protocol/registry-client.ts';

/**
 * One event of a transaction this node did not apply, told back to the sender in the answer
 * (docs/federation.md, "What a home may relay"). The rest of the transaction is applied.
 */
export type Refusal = {
  /** Its index in the transaction's `events`. */
  event: number;
  conversationId: string;
  code:
    | 'policy_denied'
    | 'no_member_here'
    | 'conversation_not_held'
    | 'not_a_member'
    | 'invalid_entry'
    | 'sequence_taken';
  message: string;
  /** `sequence_taken`: the highest seq of the conversation held here, and the id of the entry held at its seq. */
  heldSeq?: number;
  heldBy?: string;
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
 * read it, its body under its own kind (presentMessage: no body names an entry's kind). A target's body
 * never lands on a system entry (changeRefusal), so it need not be judged as one.
 */
function breaksGroupChange({ message }: EntryEvent, body: MessageBody): boolean {
  return breaksGroupEvent({ ...body, kind: message.kind });
}

/**
 * The users a home's bots and webhooks post as, in the home's own conversations only (postAsBot,
 * postViaWebhook): a webhook is `hook-<id>` (hookAddress), a bot its app's slug (`slug@domain`), which the
 * gateway keeps to appSlugPattern and away from `hook-` and `system` (its reserved names).
 * Many people's usernames have a slug's form too: among its own domain's addresses, the home is taken at
 * its word, as it is for what they write.
 */
const WEBHOOK_USER = /^hook-[a-f0-9]{16}$/;

function appKindOf(user: string): MessageBody['senderKind'] {
  if (WEBHOOK_USER.test(user)) return 'webhook';
  if (appSlugPattern.test(user) && !user.startsWith('hook-') && user !== 'system') return 'bot';
  return undefined;
}

/**
 * Why a body may not name its entry's sender as it does, if it may not: devices show a text whose body
 * carries `senderName` or `senderKind` as an app's or a webhook's (server-frames.ts), and an honest home
 * writes them only on its own bots' and webhooks' entries, each with the kind its address has.
 */
function senderNameRefusal(body: MessageBody, sender: string, home: string): string | undefined {
  if (!('senderName' in body) && !('senderKind' in body)) return undefined;
  const kind = domainOf(sender) === home ? appKindOf(userOf(sender)) : undefined;
  if (!kind) return `names ${sender} as an app or a webhook, and it is neither of ${home}, the home`;
  if ('senderKind' in body && body.senderKind !== kind)
    return `names ${sender} as a ${String(body.senderKind)}, and its address is a ${kind}'s`;
  if ('senderName' in body && typeof body.senderName !== 'string') return `gives ${sender} a name that is not text`;
  return undefined;
}

/**
 * Why an entry's body, or the body its target gives the entry it changes, may not be stored, if it may
 * not: every honest body is a JSON object, and one that is not (a string, an array, a number) would
 * reach devices as index keys (presentMessage spreads a body's fields); nor may either name the sender
 * as the home's app or webhook when it is not one. A target lands only on an entry of the same sender
 * (changeRefusal), so its body is judged by the entry's sender.
 */
function bodyRefusal({ message, target }: EntryEvent, own: MessageBody | undefined, home: string): string | undefined {
  if (!own) return `The body of entry ${message.id} is not a JSON object`;
  const given = target && bodyObject(target.body);
  if (target && !given) return `The body that entry ${message.id} gives entry ${target.id} is not a JSON object`;
  for (const body of given ? [own, given] : [own]) {
    const misnamed = senderNameRefusal(body, message.sender, home);
    if (misnamed) return `Entry ${message.id} ${misnamed}`;
  }
  return undefined;
}

/**
 * The kinds of entry that change another (the one their refId names; an outbox sends its new state as
 * the entry's `target`), each with the kind it changes: as at the home, a person edits or recalls their
 * own text (recall-edit.ts) or deletes a file it shared (attachments/mark-file-removed.ts), a bot
 * updates or recalls its own card (update-card.ts, bots/change-as-bot.ts).
 */
export const CHANGES = new Map<string, readonly string[]>([
  ['edit', ['text']],
  ['recall', ['text', 'card']],
  ['file.removed', ['text']],
  ['card.update', ['card']],
]);

/** An entry of a conversation as this node holds it, or as an entry before it in the run will store it. */
type Changeable = { sender: string; kind: string; recalled: boolean };

/**
 * Why an entry may not change the one it refers to, if it may not: only a change carries a target, and
 * only its referent's; the referent, if held here, is of the kind that change applies to and its author's
 * own, and is not brought back from a recall. Devices apply a change to its referent whether it carries a
 * target or not, so the referent is judged either way. A referent not held here (written before this
 * domain's people joined, or in another conversation) or held as a placeholder (refused here) shows
 * devices nothing to change: the change is taken as relayed.
 */
function changeRefusal(event: EntryEvent, known: Map<string, Changeable>): string | undefined {
  const { conversationId, message, target } = event;
  const changes = CHANGES.get(message.kind);
  if (!changes) return target ? `Entry ${message.id} is a ${message.kind}, which changes no other entry` : undefined;
  if (target && target.id !== message.refId)
    return `Entry ${message.id} changes ${target.id}, not the entry it refers to`;
  const referent = message.refId === null ? undefined : known.get(`${conversationId}|${message.refId}`);
  if (!referent || referent.kind === WITHHELD) return undefined;
  if (!changes.includes(referent.kind) || referent.sender !== message.sender)
    return `A ${message.kind} of ${message.sender} may change only their own ${changes.join(' or ')}, and entry ${message.refId} is a ${referent.kind} of ${referent.sender}`;
  if (referent.recalled && target?.recalledAt === null)
    return `Entry ${message.id} would bring back ${message.refId}, which was recalled`;
  return undefined;
}

/** The entries a run's changes refer to, as this node holds them, by `conversationId|id`. */
async function referents(
  models: NodeModels,
  run: { event: EntryEvent }[],
  tx: Transaction,
): Promise<Map<string, Changeable>> {
  const ids = new Set<string>();
  for (const { event } of run) {
    if (event.message.refId !== null) ids.add(event.message.refId);
    if (event.target) ids.add(event.target.id);
  }
  if (ids.size === 0) return new Map();
  const rows = await models.Message.findAll({
    where: { id: { [Op.in]: [...ids] } },
    attributes: ['id', 'conversationId', 'sender', 'kind', 'recalledAt'],
    transaction: tx,
  });
  return new Map(
    rows.map((m) => [
      `${m.conversationId}|${m.id}`,
      { sender: m.sender, kind: m.kind, recalled: m.recalledAt !== null },
    ]),
  );
}

/**
 * Splits a run of entries into those this node stores and those it refuses. A home vouches only for what
 * its conversation's members wrote (and, in a group, for its own domain's senders: bots, webhooks), and
 * only for authors whose domain may exchange messages with the home and with this domain; none of it
 * may carry a body that is not a JSON object or names as an app or a webhook a sender that is not the
 * home's, be a group change that devices could not read, nor change an entry its author could not.
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
  const known = await referents(models, run, tx);
  // What the run stores is what later changes in it are judged against; an id already held keeps its row
  // (storeEntries stores an entry once, so a second copy under a known id changes nothing).
  const take = (entry: EntryEvent) => {
    accepted.push(entry);
    const { conversationId, message, target } = entry;
    const key = `${conversationId}|${message.id}`;
    if (!known.has(key))
      known.set(key, { sender: message.sender, kind: message.kind, recalled: message.recalledAt !== null });
    const changed = target && known.get(`${conversationId}|${target.id}`);
    if (changed && target.recalledAt !== null) changed.recalled = true;
  };
  for (const { index, event } of run) {
    const { conversationId } = event;
    const sender = event.message.sender;
    const conversation = held.get(conversationId);
    // An entry refused from a conversation held here still takes its seq, as a placeholder the home speaks
    // for: a copy keeps every seq, so a device that has them all has everything (docs/federation.md).
    const refuse = (code: Refusal['code'], message: string) => {
      refused.push({ event: index, conversationId, code, message });
      if (conversation) take(placeholderOf(event, conversation.homeDomain));
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
    // Parsed once here: every check below reads the same body.
    const body = bodyObject(event.message.body);
    const unfit = bodyRefusal(event, body, conversation.homeDomain);
    if (unfit || !body) {
      refuse('invalid_entry', unfit ?? `The body of entry ${event.message.id} is not a JSON object`);
      continue;
    }
    if (breaksGroupChange(event, body)) {
      refuse('invalid_entry', `Entry ${event.message.id} is a group change whose fields do not fit its event`);
      continue;
    }
    const unchangeable = changeRefusal(event, known);
    if (unchangeable) {
      refuse('invalid_entry', unchangeable);
      continue;
    }
    take(event);
  }
  return { accepted, refused };
}
