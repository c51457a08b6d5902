import { memberViewSchema } from '../protocol/frames.ts';
import type { Conversation, Member, Message, Receipt } from './types.ts';

/**
 * The conversations a device knows: as the node last showed them (a `conversation` event, a reply, a
 * sync), and as the entries pushed since have changed them. The node tells the members who stay in a
 * group of a change by its system entry alone (docs/protocol.md, "Groups"), so that a change to a big
 * group costs one small frame per member; this store applies the entry and hands back the group as it
 * now is, which the client emits as a `conversation` event as if the node had sent it.
 *
 * Views handed out are copies: a handler may keep and change them without changing what is known here.
 */
export class ConversationStore {
  #known = new Map<string, Conversation>();
  /**
   * Per conversation, the unread messages counted here since its last view (by id: where, and whether it
   * mentions the person), so that a recall of one uncounts it.
   */
  #counted = new Map<string, Map<string, Counted>>();
  /** Per conversation, where its last view from the node ended: reading past it leaves unread only what was counted here after it. */
  #viewEnd = new Map<string, number>();

  /**
   * The view the node sent replaces what was known, unless entries after it have already been applied
   * here (a view is read when it is sent and may reach the device after later entries): then the newer
   * one stays. Returns the view to show. A group one no longer belongs to is forgotten.
   */
  put(shown: Conversation, me: string | undefined): Conversation {
    // Not a whole view (a node of another version, say): shown as it came, and nothing is built on it.
    if (!Array.isArray(shown.members) || typeof shown.lastSeq !== 'number') return shown;
    // A node before member pages listed every member and did not count them.
    const view = shown.memberCount === undefined ? { ...shown, memberCount: shown.members.length } : shown;
    // The viewer is listed while a member, however big the group (docs/protocol.md, "Groups").
    if (me && view.kind === 'group' && !view.members.some((m) => m.address === me)) {
      this.#known.delete(view.id);
      return view;
    }
    const known = this.#known.get(view.id);
    if (known && known.lastSeq > view.lastSeq) return copyOf(known);
    this.#known.set(view.id, copyOf(view));
    this.#counted.delete(view.id);
    this.#viewEnd.set(view.id, view.lastSeq);
    return view;
  }

  /** The person's join position in a known conversation: nothing at or before it is theirs to read. */
  joinedSeq(conversationId: string): number | undefined {
    return this.#known.get(conversationId)?.joinedSeq;
  }

  forget(conversationId: string): void {
    this.#known.delete(conversationId);
    this.#counted.delete(conversationId);
    this.#viewEnd.delete(conversationId);
  }

  /**
   * Takes in a pushed entry. Returns the group as the entry leaves it when it changed the group (its
   * title, members or roles); undefined otherwise, or when the entry is already part of the known view
   * or the conversation is not known yet (its view follows).
   */
  apply(message: Message, me: string | undefined): Conversation | undefined {
    const view = this.#known.get(message.conversationId);
    if (!view || message.seq <= view.lastSeq) return undefined;
    view.lastSeq = message.seq;
    view.updatedAt = message.createdAt;
    if (message.kind === 'text' || message.kind === 'card') {
      if (message.sender !== me && !message.recalledAt && message.seq > view.readSeq) {
        const mentions = me !== undefined && (message.mentions ?? []).includes(me);
        view.unread += 1;
        // A node before `unreadMentions` counted none: nothing is made up here.
        if (mentions && view.unreadMentions !== undefined) view.unreadMentions += 1;
        const counted = this.#counted.get(view.id) ?? new Map<string, Counted>();
        this.#counted.set(view.id, counted.set(message.id, { seq: message.seq, mentions }));
      }
      return undefined;
    }
    if (message.kind === 'recall' && message.refId) {
      // A message taken back before it was read is no longer unread (as the node counts it).
      const counted = this.#counted.get(view.id);
      const taken = counted?.get(message.refId);
      if (taken !== undefined && taken.seq > view.readSeq) {
        if (view.unread > 0) view.unread -= 1;
        if (taken.mentions && view.unreadMentions) view.unreadMentions -= 1;
      }
      counted?.delete(message.refId);
      return undefined;
    }
    if (message.kind !== 'system' || !changeGroup(view, message)) return undefined;
    return copyOf(view);
  }

  /** A member's receipt moved: their positions in the known view move with it (never backwards). */
  receipt(receipt: Receipt, me: string | undefined): void {
    const view = this.#known.get(receipt.conversationId);
    if (!view) return;
    const member = view.members.find((m) => m.address === receipt.address);
    if (member) {
      member.readSeq = Math.max(member.readSeq, receipt.readSeq);
      member.deliveredSeq = Math.max(member.deliveredSeq, receipt.deliveredSeq);
    }
    if (receipt.address === me) {
      view.readSeq = Math.max(view.readSeq, receipt.readSeq);
      const counted = this.#counted.get(view.id) ?? new Map<string, Counted>();
      for (const [id, { seq }] of counted) if (seq <= view.readSeq) counted.delete(id);
      // Read past the end of the last view: what is unread is what was counted here after the position.
      // (Read up to a place within it, the node's count cannot be split here: it stays until the next view.)
      const pastView = view.readSeq >= (this.#viewEnd.get(view.id) ?? Number.POSITIVE_INFINITY);
      if (view.readSeq >= view.lastSeq || pastView) {
        view.unread = counted.size;
        if (view.unreadMentions !== undefined)
          view.unreadMentions = [...counted.values()].filter((c) => c.mentions).length;
      }
    }
  }
}

/** An unread message counted here: where it is, and whether it mentions the person. */
type Counted = { seq: number; mentions: boolean };

function copyOf(view: Conversation): Conversation {
  return { ...view, members: view.members.map((m) => ({ ...m })) };
}

/**
 * Applies a group change entry (its fields as docs/protocol.md gives them); false if it changes nothing
 * here. A view that lists every member stays complete; one that lists only its viewer (a big group's)
 * keeps only its count in step: its other members come in pages (`members`).
 */
function changeGroup(view: Conversation, entry: Message): boolean {
  const named = Array.isArray(entry.members) ? (entry.members as unknown[]).map(String) : [];
  const complete = view.members.length >= (view.memberCount ?? view.members.length);
  const setRole = (address: string, role: Member['role']) => {
    const member = view.members.find((m) => m.address === address);
    if (member) member.role = role;
  };
  switch (entry.event) {
    case 'group.renamed':
      view.title = String(entry.title);
      return true;
    case 'member.joined': {
      const present = new Set(view.members.map((m) => m.address));
      // Someone joins just before their join entry; nothing earlier is theirs to read.
      const start = entry.seq - 1;
      const joined: Member[] = named
        .filter((a) => !present.has(a))
        .map((address) => ({ address, role: 'member', readSeq: start, deliveredSeq: start }));
      // A big group's entry names only some of those it adds, and counts them all.
      const added = typeof entry.count === 'number' && entry.count > named.length ? entry.count : undefined;
      if (complete && added === undefined) {
        view.members.push(...joined);
        view.memberCount = view.members.length;
      } else {
        // The node names only people who were not members: each adds one.
        view.memberCount = (view.memberCount ?? view.members.length) + (added ?? joined.length);
      }
      return true;
    }
    case 'member.left':
    case 'member.removed': {
      const gone = new Set(named);
      view.members = view.members.filter((m) => !gone.has(m.address));
      view.memberCount = complete ? view.members.length : Math.max(0, (view.memberCount ?? 0) - gone.size);
      if (typeof entry.owner === 'string') setRole(entry.owner, 'owner');
      return true;
    }
    case 'member.moved':
      return moveMember(view, named[0], typeof entry.to === 'string' ? entry.to : undefined);
    case 'member.role': {
      const parsed = memberViewSchema.shape.role.safeParse(entry.role);
      if (!parsed.success) return false;
      const role = parsed.data;
      // A group has one owner: handing it on makes the previous owner an admin.
      if (role === 'owner')
        for (const m of view.members) if (m.role === 'owner' && !named.includes(m.address)) m.role = 'admin';
      for (const address of named) setRole(address, role);
      return true;
    }
    default:
      return false;
  }
}

const RANK: Record<Member['role'], number> = { member: 0, admin: 1, owner: 2 };

/**
 * Someone moved to another college: their new address takes the old one's place and role (the higher one
 * where it was a member already); the count stays. False if the view does not list them.
 */
function moveMember(view: Conversation, from: string | undefined, to: string | undefined): boolean {
  const old = view.members.find((m) => m.address === from);
  if (!old || !to) return false;
  const there = view.members.find((m) => m.address === to);
  if (!there) old.address = to;
  else {
    if (RANK[old.role] > RANK[there.role]) there.role = old.role;
    view.members = view.members.filter((m) => m !== old);
    if (view.memberCount !== undefined) view.memberCount = Math.max(0, view.memberCount - 1);
  }
  return true;
}
