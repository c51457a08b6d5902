import {
  AtriumClient,
  AtriumError,
  fileRemovalOf,
  withFileRemoved,
  type Conversation,
  type ConnectionState,
  type Member,
  type MembersPage,
  type Message,
  type SyncGap,
  type Presence,
  type Typing,
  type UploadedAttachment,
} from '../../../sdk/client.ts';
import { Emitter } from '../../../sdk/emitter.ts';
import { withoutControlCharacters } from '../../../core/control-characters.ts';
import { READ_COUNTS_MAX } from '../../../protocol/client-frames.ts';
import { fetchDomainTitles, fetchMe, fetchUnitLabels, HttpError, tokenFor, type Me, type PortalDomain } from './api.ts';
import { findPeople, forgetAttachment, lookUpNames, USERNAMES_PER_LOOKUP, type Person } from './nodes.ts';
import { Drafts } from './drafts.ts';
import { KeptNames, KeptReads, type KeptUnsent } from './kept.ts';
import { KeptWriting, UNSENT_KEPT, type WritingChange } from './kept-writing.ts';
import { notDeliveredWhy } from './format.ts';

/** A message typed here and not yet acknowledged by its node (shown as "sending"). */
/** A search's messages found, and the domains it could not search (with why, in words for the page). */
export type SearchOutcome = {
  found: { entry: Entry | undefined; domain: string; message: Message }[];
  unsearched: { domain: string; reason: string }[];
};

export type Pending = {
  clientMsgId: string;
  text: string;
  mentions: string[];
  attachments: UploadedAttachment[];
  createdAt: string;
  state: 'sending' | 'failed';
  error?: string;
  /** The node's code for a refusal (`invalid_input`, `too_large`…), or the SDK's when the send got no answer. */
  errorCode?: string;
  /** Written after messages of its conversation that wait to go again: it goes after them (see #flush). */
  held?: boolean;
};

/** One conversation as one of the person's addresses sees it (key: domain/conversation id). */
export type Entry = {
  key: string;
  domain: string;
  me: string;
  conv: Conversation;
  /** Shown entries (text, card, system) in sequence order; edits and recalls are applied to their targets. */
  messages: Message[];
  byId: Map<string, Message>;
  pending: Map<string, Pending>;
  typing: Map<string, ReturnType<typeof setTimeout>>;
  /** No older entries exist on the node than the oldest held. */
  historyDone: boolean;
  /** Messages another domain refused for good, with the reason. */
  refused: Map<string, string>;
  /**
   * Of a big group: how many others had read each of the person's own messages (by seq) when its node
   * last counted them (Chat.countReads). The page holds only some members' receipts there.
   */
  readCounts: Map<number, number>;
  /**
   * Names apps (bots, webhooks) gave themselves on their entries here, by address. They name that sender
   * in this conversation only: its home relays entries under any member's address, so a name from it
   * must never rename a person elsewhere on the page.
   */
  appNames: Map<string, string>;
  /**
   * Set when the person is no longer a member: `left` when they left from this page, `removed` otherwise
   * (someone removed them, or they left on another device: the node tells both alike).
   */
  gone?: 'left' | 'removed';
};

export type ChatEvents = {
  /** The list changed: a conversation appeared, went, or moved. */
  list: undefined;
  /** Something in one conversation changed (messages, receipts, members, typing). */
  entry: Entry;
  /** A new message from someone else arrived (pushed, or caught up after a reconnect). */
  incoming: { entry: Entry; message: Message };
  connection: undefined;
  presence: string;
  names: undefined;
  /** The person left a conversation or was removed from it: it is no longer in `entries` (see `Entry.gone`). */
  gone: Entry;
  /**
   * The gateway session ended, or the person's access: nothing more will arrive. What the node said:
   * `signed_out`, `access_ended` (disabled, a password reset, signed out everywhere), or nothing known.
   */
  ended: string | undefined;
  /**
   * The person no longer chats on `domain` (moved off its units, by an administrator or their directory, or
   * the domain was removed): its conversations are gone from `entries`. `joined`: the domains they chat on
   * now that the page did not hold, connected already (the college they were moved to); null when the
   * gateway could not say where they chat now.
   */
  leftDomain: { domain: string; joined: PortalDomain[] | null };
  failure: string;
};

const SHOWN = new Set(['text', 'card', 'system']);
/** The SDK's codes for a request the node never answered (as opposed to one it refused). */
const UNANSWERED = new Set(['closed', 'disconnected', 'offline', 'timeout', 'rate_limited']);
/**
 * Codes of a send that did not go for a reason that passes: the college hosting the conversation or the
 * link to it out of reach, the directory or the gateway out of reach, a write that did not commit, a node
 * restarting, or no answer at all. Nothing was stored, or (no answer) perhaps it was: sent again with the
 * same client id it is stored once. The page keeps such messages and sends them again by itself. Other
 * refusals (too long, not a member, forbidden, the federation policy…) would come again: those wait for
 * the person.
 */
const RETRYABLE = new Set([
  ...UNANSWERED,
  'federation_unavailable',
  'directory_unavailable',
  'gateway_unavailable',
  'unavailable',
  'store_failed',
]);
/** The first wait before messages that did not go are sent again, doubled after each failure up to the last. */
const RESEND_FIRST_MS = 1_000;
const RESEND_MAX_MS = 15_000;
/** Why a message kept from the page before did not go: it was still on its way when that page went. */
const LEFT_UNSENT = 'It had not gone yet when the page closed; the portal sends it as soon as chat can be reached.';
const TYPING_SHOWN_MS = 4_000;
/** Groups above this size get no "delivered" receipts from the portal (see #scheduleDelivered). */
const DELIVERED_UP_TO = 100;
/** How many of a group's members get their display names looked up at once (the heading names a few). */
const NAMES_WANTED = 100;
/**
 * How many of a big group's members an opened group reads (one request): enough for its heading to name a
 * few. The others stay on the node; suggestions of whom to mention search them there (findMembers).
 */
const FIRST_MEMBERS = 20;
/**
 * How long after a big group's receipts arrive its node is asked to count its readers again: readers of a
 * message come in bursts, and they are counted once for each burst, at most once in this time.
 */
const RECOUNT_AFTER_MS = 1_000;
/** How many nodes' titles one request to the gateway asks (its limit). */
const DOMAINS_PER_LOOKUP = 50;
/**
 * While the person chats nowhere (no domain serves their units, or the one that did was removed), the
 * gateway is asked again after this, doubled each time up to the last: chat set up or added back meanwhile
 * is found without a reload, as after an outage.
 */
const CHAT_ASKED_FIRST_MS = 2_000;
const CHAT_ASKED_MAX_MS = 60_000;
/**
 * The page's own code for a message refused because a college of its conversation was removed from the
 * campus (its node's code is `federation_denied`): sending it again cannot help.
 */
export const DOMAIN_REMOVED = 'domain_removed';

/**
 * Whom a `typing` frame tells of, for this person: a typist's address, SEVERAL_TYPING for a big group's
 * collapsed frame naming people besides them, or null when it tells only of themselves.
 */
function typistOf(typing: Typing, me: string): string | null {
  if (!typing.several) return typing.address === me ? null : typing.address;
  const named = typing.addresses ?? [typing.address];
  const others = named.filter((a) => a !== me);
  const count = (typing.count ?? named.length) - (named.includes(me) ? 1 : 0);
  if (count <= 0) return null;
  return count === 1 && others.length === 1 ? others[0]! : SEVERAL_TYPING;
}

/** Where a person's name goes while the directory has not answered yet (and did not before in this tab). */
export const NAME_PENDING = '…';

/** The key under which `Entry.typing` holds "several people are typing" (a big group's collapsed typing). */
export const SEVERAL_TYPING = '';

/** Whether a conversation's view lists only some of its members (a big group's lists only its viewer). */
export const listsSomeMembers = (conv: Conversation) => conv.members.length < (conv.memberCount ?? conv.members.length);

export const keyOf = (domain: string, conversationId: string) => `${domain}/${conversationId}`;
export const localPart = (address: string) => address.split('@')[0] ?? address;
export const domainPart = (address: string) => address.split('@')[1] ?? '';

/**
 * The name an app gave itself on this entry (`senderName` counts only on a bot's or a webhook's entry),
 * without control characters a name kept before they were refused may hold (they would turn it around).
 */
function appNameOf(message: Message): string | undefined {
  const byApp = message.senderKind === 'bot' || message.senderKind === 'webhook';
  const name = byApp && typeof message.senderName === 'string' ? withoutControlCharacters(message.senderName) : '';
  return name || undefined;
}

/** Whether a webhook posted this: its sender is `hook-…`, a name no person and no app can have. */
export const byWebhook = (message: Message) =>
  message.senderKind === 'webhook' || localPart(message.sender).startsWith('hook-');

/** The seqs of the person's own messages among these (those that show a receipt), in the order given. */
function ownSeqs(messages: Message[], me: string): number[] {
  return messages.filter((m) => m.sender === me && SHOWN.has(m.kind) && m.kind !== 'system').map((m) => m.seq);
}

/** Whether a message mentions this address of the person's. */
export const mentionsOf = (message: Message, me: string) => (message.mentions ?? []).includes(me);

/** Nothing of the conversation is unread any more, mentions of the person included. */
function readAll(conv: Conversation): void {
  conv.unread = 0;
  if (conv.unreadMentions !== undefined) conv.unreadMentions = 0;
}

/** A message that did not go for a reason that passes: kept across a reload, and sent again by itself. */
export const goesLater = (pending: Pending) =>
  pending.state === 'failed' && pending.errorCode !== undefined && RETRYABLE.has(pending.errorCode);

/** A message still to go, as the browser keeps it across a reload. */
function keptOf(key: string, pending: Pending): KeptUnsent {
  const { clientMsgId, text, mentions, attachments, createdAt, state, error, errorCode } = pending;
  const why = state === 'failed' ? { ...(error ? { error } : {}), ...(errorCode ? { errorCode } : {}) } : {};
  return { key, clientMsgId, text, mentions, attachments, createdAt, ...why };
}

function randomId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The page's model of the person's chat: one SDK client per domain node they belong to, and every
 * conversation of all of them in one list. Views read it and listen to its events.
 */
export class Chat extends Emitter<ChatEvents> {
  readonly me: Me;
  readonly clients = new Map<string, AtriumClient>();
  readonly domains = new Map<string, PortalDomain>();
  readonly entries = new Map<string, Entry>();
  readonly presence = new Map<string, Presence>();
  /** People's names, from the directory (and the person's own): the same in every conversation. */
  readonly names = new Map<string, string>();
  /** Units as the gateway names them ("Department of Music, College of Arts"), by path, as people are found. */
  readonly unitLabels = new Map<string, string>();
  /** What the person wrote and has not sent, kept in the browser until it is sent, cleared or they sign out. */
  readonly writing: KeptWriting;
  /** What is being written in each conversation, files included: kept in the browser as it changes. */
  readonly drafts: Drafts;
  /**
   * Why a node refused this tab's socket, by domain, while it does (`too_many_sockets`: the person's
   * other tabs and devices hold all it allows): the page says that, not that chat is out of reach.
   */
  readonly #socketRefused = new Map<string, string>();
  /** Other colleges' nodes by the names people know them by, as conversations hosted there come (see domainTitle). */
  readonly #hostTitles = new Map<string, string>();
  /** Hosts whose titles are wanted from the gateway: asked together, a moment after the first. */
  #titleQueue = new Set<string>();
  /** Hosts whose titles were asked of the gateway, answered or on the way. */
  #titlesAsked = new Set<string>();
  /** Other colleges' domains the gateway says were removed from the campus (see wantDomainTitle). */
  readonly #removedDomains = new Set<string>();
  /** While the person chats nowhere: the next time the gateway is asked again, and how many times it was. */
  #chatAskTimer: ReturnType<typeof setTimeout> | undefined;
  #chatAsked = 0;
  /**
   * Domains the gateway serves the person on again (#askForChat) whose node has not let them in yet: a
   * node added back refuses sockets (`forbidden`) until it has asked the gateway itself, which is no
   * sign-out; the page asks again later.
   */
  readonly #comingBack = new Set<string>();
  /** The conversation on screen, if any, and whether the page is visible: both decide what is read. */
  #openKey: string | null = null;

  get openKey(): string | null {
    return this.#openKey;
  }

  /** Leaving a conversation, its draft catches up with what another tab wrote while it was on screen. */
  set openKey(key: string | null) {
    if (this.#openKey !== null && this.#openKey !== key) this.drafts.left(this.#openKey);
    this.#openKey = key;
  }
  /** The browser reports no network: sockets are closed until it returns. */
  networkOffline = false;
  #orphans = new Map<string, Message[]>();
  #adopting = new Set<string>();
  /** Big groups whose first members are being read, or were, with the member count then (see loadMembers). */
  #membersLoaded = new Map<string, number>();
  /** Big groups whose readers a node is counting now; true when asked again meanwhile (see countReads). */
  #counting = new Map<string, boolean>();
  #recountTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Domains whose node does not count readers (a node before `read.counts`): not asked again. */
  #noReadCounts = new Set<string>();
  /** Messages written after this are news even when they arrive with a conversation the page did not know yet. */
  #startedAt = Date.now();
  #deliveredTimers = new Map<string, ReturnType<typeof setTimeout>>();
  #lastTyping = new Map<string, number>();
  #nameQueue = new Set<string>();
  /** Addresses whose names were asked of the directory and not yet answered. */
  #unnamed = new Set<string>();
  /** Addresses the campus directory says are apps' bots (`app`), found by a search or asked of it. */
  #apps = new Set<string>();
  /** Addresses of people whose accounts the directory says are disabled (named as they were: isDisabled). */
  readonly #disabled = new Set<string>();
  /** Direct peers the directory was asked whether they are an app, once each per page. */
  #appsAsked = new Set<string>();
  #resolving = false;
  #ended = false;
  /** Conversations this page asked to leave: their going is the person's own doing. */
  #leaving = new Set<string>();
  /**
   * Conversations read here while their node was out of reach, with the highest seq read: the node is told
   * once it is back (#sendUnsentReads), or the next visit would show them unread again. Kept in the
   * browser for the person, so that closing the tab first loses none: their next tab tells the node.
   */
  #unsentReads: KeptReads;
  /** Names the directory gave in this tab before (a reload): shown until it answers again. */
  #keptNames: KeptNames;
  /** Messages the page before did not send, by conversation key, until their conversation is on the page. */
  #restored = new Map<string, Pending[]>();
  /** Conversations whose unsent messages are being sent again now (#flush), and when they are next. */
  #flushing = new Set<string>();
  #resendTimers = new Map<string, ReturnType<typeof setTimeout>>();
  #resendAttempts = new Map<string, number>();
  /** The messages not sent when the session ended, for the same person's next sign-in in this tab. */
  #unsentAtEnd: KeptUnsent[] = [];
  /** The messages this page keeps in the browser (see #keepUnsent), with their conversation keys. */
  #keptUnsent = new Map<string, string>();

  constructor(me: Me) {
    super();
    this.me = me;
    this.writing = new KeptWriting(me.user.id);
    this.drafts = new Drafts((key, kept) => (this.#ended ? '' : this.writing.keepDraft(kept, key)));
    this.on('entry', (entry) => this.#keepUnsent(entry));
    this.#unsentReads = new KeptReads(me.user.id);
    this.#keptNames = new KeptNames(me.user.id);
    for (const domain of me.domains) this.#join(domain);
  }

  /** One of the person's domains: a client for its node, wired to the page's model (connected by start). */
  #join(domain: PortalDomain): AtriumClient {
    this.domains.set(domain.name, domain);
    this.names.set(domain.address, this.me.user.name);
    const client = new AtriumClient({
      url: domain.socketUrl,
      token: () => tokenFor(domain.name).catch((error: unknown) => this.#tokenRefused(domain.name, error)),
      backoff: { initialMs: 300, maxMs: 15_000 },
    });
    this.clients.set(domain.name, client);
    this.#wire(domain.name, client);
    return client;
  }

  /**
   * The gateway gives no token for a domain any more: it is no longer the person's (moved off its units)
   * or no longer on the campus (removed). Said as when its node closes the socket for it, which a page
   * that was connecting at that moment does not hear.
   */
  #tokenRefused(domain: string, error: unknown): never {
    if (error instanceof HttpError && (error.status === 403 || error.status === 404) && this.clients.has(domain))
      void this.#leftDomain(domain);
    throw error;
  }

  start(): void {
    for (const [domain, client] of this.clients) {
      client.connect().catch((error: Error) => this.emit('failure', `${domain}: ${error.message}`));
    }
    if (this.clients.size === 0) this.#askForChatLater();
  }

  /**
   * The person chats nowhere: the gateway is asked again, on a growing wait, whether a domain serves them
   * now (set up, or added back after its removal), and the page connects there by itself. What it says
   * meanwhile (`chatRemoved`) follows too.
   */
  #askForChatLater(): void {
    if (this.#ended || this.#chatAskTimer !== undefined || this.clients.size > 0) return;
    const delay = Math.min(CHAT_ASKED_MAX_MS, CHAT_ASKED_FIRST_MS * 2 ** this.#chatAsked);
    this.#chatAsked += 1;
    this.#chatAskTimer = setTimeout(() => {
      this.#chatAskTimer = undefined;
      void this.#askForChat();
    }, delay);
  }

  /** A node the gateway lists again refused the person for now (#comingBack): asked again later. */
  #notBackYet(domain: string): void {
    this.clients.get(domain)?.close();
    this.clients.delete(domain);
    this.domains.delete(domain);
    this.emit('connection', undefined);
    this.#askForChatLater();
  }

  async #askForChat(): Promise<void> {
    let now: Me;
    try {
      now = await fetchMe();
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) return;
      return this.#askForChatLater();
    }
    if (this.#ended || this.clients.size > 0) return;
    Object.assign(this.me, now);
    for (const d of now.domains) this.#comingBack.add(d.name);
    for (const d of now.domains)
      this.#join(d)
        .connect()
        .catch((error: Error) => this.emit('failure', `${d.name}: ${error.message}`));
    if (this.clients.size === 0) this.#askForChatLater();
    this.emit('list', undefined);
    this.emit('connection', undefined);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Online (every node), partly online, or offline — and how many messages wait to go out. A node tried
   * again after a failure counts as offline, not connecting, until it answers: what the person is told
   * does not flicker with each retry. `networkOffline`: the browser itself has no network. `refused`: the
   * domains out of reach because their node refused one more socket of this person's, with its words.
   */
  connection(): {
    state: 'online' | 'partial' | 'offline' | 'connecting';
    unsent: number;
    offlineDomains: string[];
    networkOffline: boolean;
    refused: { domain: string; message: string }[];
  } {
    const states = [...this.clients].map(
      ([domain, c]) =>
        [domain, c.state === 'connecting' && c.failedAttempts > 0 ? 'offline' : c.state] as [string, ConnectionState],
    );
    const online = states.filter(([, s]) => s === 'online').length;
    const networkOffline = this.networkOffline;
    if (states.length === 0) return { state: 'online', unsent: 0, offlineDomains: [], networkOffline, refused: [] };
    const unsent = [...this.clients.values()].reduce((n, c) => n + c.unsent, 0);
    const offlineDomains = states.filter(([, s]) => s !== 'online').map(([d]) => d);
    const refused = offlineDomains.flatMap((domain) => {
      const message = this.#socketRefused.get(domain);
      return message ? [{ domain, message }] : [];
    });
    if (networkOffline || online === 0) {
      return {
        state: states.some(([, s]) => s === 'connecting') && !networkOffline ? 'connecting' : 'offline',
        unsent,
        offlineDomains,
        networkOffline,
        refused,
      };
    }
    const state = online === states.length ? 'online' : 'partial';
    return { state, unsent, offlineDomains, networkOffline, refused };
  }

  /** The browser lost or regained the network: close the sockets now rather than wait for them to time out, and reconnect at once. */
  setNetwork(online: boolean): void {
    if (this.#ended) return;
    this.networkOffline = !online;
    for (const [domain, client] of this.clients) {
      if (online) client.connect().catch((error: Error) => this.emit('failure', `${domain}: ${error.message}`));
      else client.close();
    }
    this.emit('connection', undefined);
  }

  stop(): void {
    for (const client of this.clients.values()) client.close();
  }

  #wire(domain: string, client: AtriumClient): void {
    client.on('state', () => {
      this.emit('connection', undefined);
      // Presence there is known again, or no longer (see presenceOf): what shows it is drawn again.
      for (const entry of this.entries.values()) {
        const peer = entry.domain === domain ? this.peerOf(entry) : undefined;
        if (peer && this.presence.has(peer)) this.emit('presence', peer);
      }
    });
    client.on('conversation', (conv) => this.#viewed(domain, conv));
    client.on('message', (message) => this.#receive(domain, message));
    client.on('receipt', (receipt) => {
      const entry = this.entries.get(keyOf(domain, receipt.conversationId));
      if (!entry) return;
      const member = entry.conv.members.find((m) => m.address === receipt.address) ?? this.#learnMember(entry, receipt);
      if (member) {
        member.readSeq = Math.max(member.readSeq, receipt.readSeq);
        member.deliveredSeq = Math.max(member.deliveredSeq, receipt.deliveredSeq);
      }
      if (receipt.address === entry.me) {
        entry.conv.readSeq = Math.max(entry.conv.readSeq, receipt.readSeq);
        if (entry.conv.readSeq >= entry.conv.lastSeq) readAll(entry.conv);
        this.emit('list', undefined);
      } else this.#recountSoon(entry);
      this.emit('entry', entry);
    });
    client.on('typing', (typing) => {
      const entry = this.entries.get(keyOf(domain, typing.conversationId));
      if (!entry) return;
      const typist = typistOf(typing, entry.me);
      if (typist === null) return;
      const previous = entry.typing.get(typist);
      if (previous) clearTimeout(previous);
      entry.typing.set(
        typist,
        setTimeout(() => {
          entry.typing.delete(typist);
          this.emit('entry', entry);
        }, TYPING_SHOWN_MS),
      );
      this.emit('entry', entry);
    });
    client.on('presence', (presence) => {
      this.presence.set(presence.address, presence);
      this.emit('presence', presence.address);
    });
    client.on('gap', (gap) => this.#gapIn(domain, gap));
    client.on('removed', ({ conversationId }) => {
      const entry = this.entries.get(keyOf(domain, conversationId));
      if (entry) this.#drop(entry);
    });
    client.on('fileDeleted', ({ attachmentId }) => {
      forgetAttachment(domain, attachmentId);
      this.drafts.fileDeleted(domain, attachmentId);
    });
    client.on('fileRemoved', ({ attachmentId }) => forgetAttachment(domain, attachmentId));
    client.on('deliveryFailed', (failure) => {
      const entry = this.entries.get(keyOf(domain, failure.conversationId));
      if (!entry) return;
      entry.refused.set(failure.messageId, notDeliveredWhy(failure.domain, failure.reason));
      this.emit('entry', entry);
    });
    client.on('ended', ({ reason, why }) => {
      // Closed for this domain alone: the person is still signed in, and may chat elsewhere now.
      if (reason === 'left_domain') return void this.#leftDomain(domain);
      if (reason === 'forbidden' && this.#comingBack.delete(domain)) return this.#notBackYet(domain);
      this.#unsentAtEnd = this.keptUnsent();
      for (const timer of this.#resendTimers.values()) clearTimeout(timer);
      this.#ended = true;
      this.stop();
      // Nothing of the person's chats stays in the page's memory either.
      this.entries.clear();
      this.presence.clear();
      this.emit('ended', why);
    });
    client.on('error', (error) => {
      if (error.code !== 'too_many_sockets') return;
      this.#socketRefused.set(domain, error.message);
      this.emit('connection', undefined);
    });
    client.on('ready', () => {
      if (this.#comingBack.delete(domain)) this.#chatAsked = 0;
      this.#socketRefused.delete(domain);
      this.#sendUnsentReads(domain);
      this.#resendAll(domain);
      void this.#queryPresence(domain);
    });
  }

  /**
   * The person no longer chats on `domain` (moved off its units; their session goes on): its socket is
   * closed for good and its conversations leave the page, which no longer counts it as a college of theirs.
   * A move to units another node serves is a move of their chat, not an end: the gateway says where they
   * chat now (/portal/api/me), and the page connects to the domains it did not hold. Only a gateway that no
   * longer knows them signs them out (a 401 takes the page to sign in).
   */
  async #leftDomain(domain: string): Promise<void> {
    this.clients.get(domain)?.close();
    this.clients.delete(domain);
    this.domains.delete(domain);
    for (const [key, entry] of this.entries) if (entry.domain === domain) this.entries.delete(key);
    this.emit('list', undefined);
    this.emit('connection', undefined);
    let now: Me | null = null;
    try {
      now = await fetchMe();
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) return;
      this.emit('failure', `where you chat now: ${(error as Error).message}`);
    }
    if (this.#ended) return;
    const joined = (now?.domains ?? []).filter((d) => d.name !== domain && !this.clients.has(d.name));
    if (now) Object.assign(this.me, now);
    for (const d of joined)
      this.#join(d)
        .connect()
        .catch((error: Error) => this.emit('failure', `${d.name}: ${error.message}`));
    this.emit('leftDomain', { domain, joined: now ? joined : null });
    this.emit('list', undefined);
    this.emit('connection', undefined);
    this.#askForChatLater();
  }

  /**
   * The node sent the latest page of a conversation this page missed much of, not all of it
   * (docs/protocol.md, "Catching up and history"). What was held from before the gap is let go, so the
   * conversation reads without a hole; scrolling back loads through the gap and on, the entries as they
   * are now (an edit or recall made in the gap included).
   */
  #gapIn(domain: string, gap: SyncGap): void {
    const entry = this.entries.get(keyOf(domain, gap.conversationId));
    if (!entry) return;
    entry.messages = entry.messages.filter((m) => m.seq >= gap.beforeSeq);
    entry.byId = new Map([...entry.byId].filter(([, m]) => m.seq >= gap.beforeSeq));
    entry.historyDone = false;
    this.emit('entry', entry);
  }

  /**
   * A view of a conversation from a node. One without the person among its members tells that they left
   * or were removed: the conversation goes, and such a view of one the page does not hold (the answer of
   * a group's other college to a leave this page already took in) shows nothing.
   */
  #viewed(domain: string, conv: Conversation): void {
    const me = this.domains.get(domain)!.address;
    if (conv.members.some((m) => m.address === me)) {
      this.#upsert(domain, conv);
      return;
    }
    const entry = this.entries.get(keyOf(domain, conv.id));
    if (entry) this.#drop(entry);
  }

  /** The person is no longer in a conversation: it leaves the list, and whoever shows it is told why. */
  #drop(entry: Entry): void {
    if (this.entries.get(entry.key) !== entry) return;
    this.entries.delete(entry.key);
    entry.gone = this.#leaving.delete(entry.key) ? 'left' : 'removed';
    this.emit('gone', entry);
    this.emit('list', undefined);
  }

  #upsert(domain: string, conv: Conversation): Entry {
    const key = keyOf(domain, conv.id);
    let entry = this.entries.get(key);
    const me = this.domains.get(domain)!.address;
    if (!entry) {
      entry = {
        key,
        domain,
        me,
        conv,
        messages: [],
        byId: new Map(),
        pending: new Map(),
        typing: new Map(),
        historyDone: false,
        refused: new Map(),
        readCounts: new Map(),
        appNames: new Map(),
      };
      this.entries.set(key, entry);
      // Those the node stored after all leave as the messages come (#store); the others go again.
      for (const pending of this.#restored.get(key) ?? []) entry.pending.set(pending.clientMsgId, pending);
      this.#restored.delete(key);
      this.#renameHosts(entry);
      for (const message of this.#orphans.get(key) ?? []) {
        // A conversation someone started while the page was open: its first messages are news (the
        // node's unread count already includes them).
        if (
          this.#store(entry, message) &&
          message.sender !== me &&
          Date.parse(message.createdAt) > this.#startedAt &&
          (message.kind === 'text' || message.kind === 'card')
        ) {
          this.emit('incoming', { entry, message });
        }
      }
      this.#orphans.delete(key);
      if (entry.pending.size > 0) void this.#flush(entry);
      void this.#queryPresence(domain);
    } else {
      // Members and receipts never move backwards here, whatever order events arrive in.
      const before = new Map(entry.conv.members.map((m) => [m.address, m]));
      this.#keepLoadedMembers(entry, conv);
      for (const m of conv.members) {
        const old = before.get(m.address);
        if (old) {
          m.readSeq = Math.max(m.readSeq, old.readSeq);
          m.deliveredSeq = Math.max(m.deliveredSeq, old.deliveredSeq);
        }
      }
      conv.lastSeq = Math.max(conv.lastSeq, entry.conv.lastSeq);
      entry.conv = conv;
    }
    for (const m of conv.members.slice(0, NAMES_WANTED)) this.#wantName(m.address);
    // Its host is named in a group's heading, and in a message it did not confirm (#notSentWhy).
    this.wantDomainTitle(conv.homeDomain);
    if (this.openKey === key) {
      this.loadMembers(entry);
      this.countReads(entry);
    }
    const mine = conv.members.find((m) => m.address === me);
    if (mine && mine.deliveredSeq < conv.lastSeq) this.#scheduleDelivered(entry, conv.lastSeq);
    if (this.openKey === key) this.markRead(entry);
    this.emit('list', undefined);
    this.emit('entry', entry);
    return entry;
  }

  #receive(domain: string, message: Message): void {
    const key = keyOf(domain, message.conversationId);
    const entry = this.entries.get(key);
    if (!entry) {
      // The conversation event follows (a first sync sends conversations after their messages).
      const list = this.#orphans.get(key) ?? [];
      list.push(message);
      this.#orphans.set(key, list);
      this.#learnName(message);
      if (!this.#adopting.has(key)) {
        this.#adopting.add(key);
        setTimeout(() => void this.#adoptOrphans(domain, key).finally(() => this.#adopting.delete(key)), 1_500);
      }
      return;
    }
    // Known conversation, unknown message: news (pushed now, or caught up after a reconnect).
    if (!this.#store(entry, message)) return;
    // Whoever typed it is done typing: their "is typing…" goes with its arrival, not seconds later.
    this.#stopTyping(entry, message.sender);
    if (message.sender !== entry.me && (message.kind === 'text' || message.kind === 'card') && !message.recalledAt) {
      if (this.openKey !== key || document.visibilityState !== 'visible') {
        entry.conv.unread += 1;
        // Counted on as the node counts (none from a node that does not: the page looks at what it holds).
        if (mentionsOf(message, entry.me) && entry.conv.unreadMentions !== undefined) entry.conv.unreadMentions += 1;
      }
      this.#scheduleDelivered(entry, message.seq);
      this.emit('incoming', { entry, message });
    }
    if (this.openKey === key) this.markRead(entry);
    this.emit('list', undefined);
    this.emit('entry', entry);
  }

  #stopTyping(entry: Entry, address: string): void {
    const shown = entry.typing.get(address);
    if (!shown) return;
    clearTimeout(shown);
    entry.typing.delete(address);
  }

  async #adoptOrphans(domain: string, key: string): Promise<void> {
    if (!this.#orphans.has(key)) return;
    const client = this.clients.get(domain)!;
    const conversations = await client.conversations().catch(() => [] as Conversation[]);
    for (const conv of conversations) if (keyOf(domain, conv.id) === key) this.#viewed(domain, conv);
  }

  /** Keeps a message (or applies an edit or recall to its target); false if it was already known. */
  #store(entry: Entry, message: Message): boolean {
    if (entry.byId.has(message.id)) return false;
    entry.conv.lastSeq = Math.max(entry.conv.lastSeq, message.seq);
    const pending = entry.pending.get(message.clientMsgId);
    if (pending && message.sender === entry.me) entry.pending.delete(message.clientMsgId);
    this.#learnName(message, entry);
    const removal = fileRemovalOf(message);
    if (removal) {
      // Its sender deleted a file of a message: the message stays, and shows the file removed.
      entry.byId.set(message.id, message);
      const target = entry.byId.get(removal.messageId);
      if (target) target.attachments = withFileRemoved(target, removal.attachmentId).attachments;
      return true;
    }
    if (message.kind === 'edit' || message.kind === 'recall' || message.kind === 'card.update') {
      entry.byId.set(message.id, message);
      const target = message.refId ? entry.byId.get(message.refId) : undefined;
      if (target) {
        if (message.kind === 'edit' && !target.recalledAt) {
          target.text = message.text;
          target.editedAt = message.createdAt;
        } else if (message.kind === 'card.update' && !target.recalledAt) {
          target.card = message.card;
          target.text = message.text;
          target.editedAt = message.createdAt;
        } else if (message.kind === 'recall') {
          // Taken back before it was read: it no longer counts as unread (as the node counts).
          const wasUnread =
            target.sender !== entry.me &&
            !target.recalledAt &&
            target.seq > entry.conv.readSeq &&
            (target.kind === 'text' || target.kind === 'card');
          if (wasUnread && entry.conv.unread > 0) entry.conv.unread -= 1;
          if (wasUnread && mentionsOf(target, entry.me) && entry.conv.unreadMentions) entry.conv.unreadMentions -= 1;
          target.text = undefined;
          target.attachments = [];
          target.mentions = [];
          target.card = undefined;
          target.recalledAt = message.createdAt;
        }
      }
      return true;
    }
    if (message.kind === 'delivery.failed' && Array.isArray(message.messageIds)) {
      // The home stores a refusal as an entry (docs/protocol.md): a device that was away then learns it here.
      for (const id of message.messageIds as string[])
        entry.refused.set(id, notDeliveredWhy(String(message.domain), String(message.reason)));
    }
    entry.byId.set(message.id, message);
    if (!SHOWN.has(message.kind)) return true;
    const list = entry.messages;
    let i = list.length;
    while (i > 0 && list[i - 1]!.seq > message.seq) i--;
    list.splice(i, 0, message);
    return true;
  }

  /**
   * Tells the node the messages reached this device, for the "Delivered" its senders show. Not in groups
   * of more than DELIVERED_UP_TO members: there a message shows "Delivered" only once every member has
   * it, which hardly ever happens, while every member's device answering every message would cost the
   * node one receipt per member per message. Reading is still told there ("Read by k of N").
   */
  #scheduleDelivered(entry: Entry, seq: number): void {
    if (entry.conv.kind === 'group' && (entry.conv.memberCount ?? entry.conv.members.length) > DELIVERED_UP_TO) return;
    if (this.#deliveredTimers.has(entry.key)) return;
    this.#deliveredTimers.set(
      entry.key,
      setTimeout(() => {
        this.#deliveredTimers.delete(entry.key);
        const client = this.clients.get(entry.domain)!;
        if (client.state !== 'online') return;
        client.markDelivered(entry.conv.id, Math.max(seq, entry.conv.lastSeq)).catch(() => undefined);
      }, 150),
    );
  }

  /**
   * A big group's first members, read from its node in one request once it is opened (its views list
   * only this person, docs/protocol.md), for its heading to name a few; its count comes with its views.
   * Never all of them: a campus group's 10,000 would cost the node and the page for nothing. Read again
   * when a view says the count changed.
   */
  loadMembers(entry: Entry): void {
    if (!listsSomeMembers(entry.conv) || this.#membersLoaded.has(entry.key)) return;
    const client = this.clients.get(entry.domain);
    if (!client || client.state !== 'online') return;
    this.#membersLoaded.set(entry.key, entry.conv.memberCount ?? 0);
    client.members(entry.conv.id, undefined, FIRST_MEMBERS).then(
      (page) => {
        const known = new Map(entry.conv.members.map((m) => [m.address, m]));
        for (const m of page.members) {
          const old = known.get(m.address);
          if (!old) entry.conv.members.push(m);
          else
            Object.assign(old, m, {
              readSeq: Math.max(m.readSeq, old.readSeq),
              deliveredSeq: Math.max(m.deliveredSeq, old.deliveredSeq),
            });
        }
        // The count is the views' to tell: a view newer than the page may have come meanwhile.
        this.#membersLoaded.set(entry.key, page.memberCount);
        for (const m of page.members) this.#wantName(m.address);
        this.emit('entry', entry);
      },
      () => this.#membersLoaded.delete(entry.key),
    );
  }

  /**
   * Asks a big group's node how many others have read each of the person's latest own messages held here
   * (`Entry.readCounts`): the page holds only some members' receipts there, so after a reload it would
   * count only those. When the group is opened, when a view of it comes (after a reconnect, say), and
   * while it is open, after its receipts. One question at a time per group; one wanted meanwhile follows.
   */
  countReads(entry: Entry): void {
    if (!listsSomeMembers(entry.conv) || this.#noReadCounts.has(entry.domain)) return;
    if (this.#counting.has(entry.key)) {
      this.#counting.set(entry.key, true);
      return;
    }
    const own = ownSeqs(entry.messages, entry.me);
    if (own.length === 0) return;
    this.#counting.set(entry.key, false);
    void this.#askReadCounts(entry, own).finally(() => {
      const again = this.#counting.get(entry.key);
      this.#counting.delete(entry.key);
      if (again) this.countReads(entry);
    });
  }

  async #askReadCounts(entry: Entry, seqs: number[]): Promise<void> {
    const client = this.clients.get(entry.domain);
    if (!client || client.state !== 'online') return;
    try {
      const { counts } = await client.readCounts(entry.conv.id, seqs.slice(-READ_COUNTS_MAX));
      for (const { seq, read } of counts) entry.readCounts.set(seq, read);
      this.emit('entry', entry);
    } catch (error) {
      // Asking again would be a bad frame each time, which the node holds against the socket.
      if (error instanceof AtriumError && error.code === 'unknown_type') this.#noReadCounts.add(entry.domain);
    }
  }

  /**
   * A receipt of someone else came (the node tells one only of receipts on one's own messages). In a big
   * group whose readers the page does not all hold, the node counts them again a moment later, once for a
   * burst of receipts; its count then includes this one, which adding it here could count twice. Counted
   * again when the group is opened, if it is not open now.
   */
  #recountSoon(entry: Entry): void {
    if (this.openKey !== entry.key || !listsSomeMembers(entry.conv) || this.#recountTimers.has(entry.key)) return;
    this.#recountTimers.set(
      entry.key,
      setTimeout(() => {
        this.#recountTimers.delete(entry.key);
        if (this.entries.get(entry.key) === entry) this.countReads(entry);
      }, RECOUNT_AFTER_MS),
    );
  }

  /**
   * A big group's new view lists only this person: the members read besides stay while the count is the
   * one they were read at; otherwise (someone joined or left) they go, and are read again when the group is open.
   */
  #keepLoadedMembers(entry: Entry, conv: Conversation): void {
    if (!listsSomeMembers(conv) || !this.#membersLoaded.has(entry.key)) return;
    if (this.#membersLoaded.get(entry.key) !== conv.memberCount) {
      this.#membersLoaded.delete(entry.key);
      return;
    }
    const listed = new Set(conv.members.map((m) => m.address));
    conv.members.push(...entry.conv.members.filter((m) => !listed.has(m.address)).map((m) => ({ ...m })));
  }

  /**
   * A member of a big group the page holds no row of, told of by a receipt (the node tells one's receipts
   * on one's own messages): kept, so that "read by k of N" counts them. Their role is not told: it is
   * never shown from here (the group's details read the members with their roles).
   */
  #learnMember(entry: Entry, receipt: { address: string }): Member | undefined {
    if (!listsSomeMembers(entry.conv)) return undefined;
    const member: Member = { address: receipt.address, role: 'member', readSeq: 0, deliveredSeq: 0 };
    entry.conv.members.push(member);
    return member;
  }

  /**
   * Members whose username starts with `prefix`, searched on the group's node (a big group's members are
   * not on the page): for suggesting whom to mention. Their names are asked of the directory.
   */
  async findMembers(entry: Entry, prefix: string, limit: number): Promise<Member[]> {
    const found = await this.#client(entry).findMembers(entry.conv.id, prefix, limit);
    for (const m of found) this.#wantName(m.address);
    return found;
  }

  /** Marks everything in the conversation read, if it is on screen and the page is visible. */
  markRead(entry: Entry): void {
    if (document.visibilityState !== 'visible' || this.openKey !== entry.key) return;
    const mine = entry.conv.members.find((m) => m.address === entry.me);
    readAll(entry.conv);
    const seq = entry.conv.lastSeq;
    if (mine && mine.readSeq >= seq) return;
    const client = this.clients.get(entry.domain)!;
    if (client.state !== 'online') {
      this.#unsentReads.add(entry.key, seq);
      this.emit('list', undefined);
      return;
    }
    if (mine) mine.readSeq = seq;
    entry.conv.readSeq = seq;
    this.#tellRead(client, entry.key, entry.conv.id, seq);
    this.emit('list', undefined);
  }

  /**
   * Tells the node what was read. Kept for when the node is back if the answer did not come (the socket
   * closed meanwhile); forgotten once told, or when the node refuses it (no longer a member, say).
   */
  #tellRead(client: AtriumClient, key: string, conversationId: string, seq: number): void {
    client.markRead(conversationId, seq).then(
      () => this.#unsentReads.told(key, seq),
      (error: Error) => {
        // Signed out meanwhile: nothing of the person is kept (PortalApp forgets them).
        if (this.#ended) return;
        if (error instanceof AtriumError && !UNANSWERED.has(error.code)) this.#unsentReads.told(key, seq);
        else this.#unsentReads.add(key, seq);
      },
    );
  }

  /**
   * Tells a node that is back what was read here while it was out of reach, in this tab or in one closed
   * since (the conversations of those need not be on the page yet: the node's answer to the sync follows).
   */
  #sendUnsentReads(domain: string): void {
    const client = this.clients.get(domain);
    if (!client || client.state !== 'online') return;
    for (const { key, conversationId, seq } of this.#unsentReads.of(domain))
      this.#tellRead(client, key, conversationId, seq);
  }

  /**
   * Sends a message; it shows as "sending" until its node acknowledges it (also across reconnects).
   * `clientMsgId`: a retry's, so that a message its node stored once is not stored twice. Written while
   * earlier ones of the conversation wait to go again, it goes after them, in the order written.
   */
  send(
    entry: Entry,
    text: string,
    mentions: string[],
    attachments: UploadedAttachment[],
    clientMsgId: string = randomId(),
  ): string | null {
    if (this.writing.unsentBesides(clientMsgId) >= UNSENT_KEPT)
      return `${UNSENT_KEPT} messages wait to be sent already, the most the portal keeps: this one stays here until some of them have gone.`;
    const pending: Pending = {
      clientMsgId,
      text,
      mentions,
      attachments,
      createdAt: new Date().toISOString(),
      state: 'sending',
    };
    const behind = [...entry.pending.values()].some((p) => p.held || goesLater(p));
    entry.pending.set(clientMsgId, pending);
    if (behind) {
      pending.held = true;
      this.emit('entry', entry);
      void this.#flush(entry);
      return null;
    }
    void this.#transmit(entry, pending).then((sent) => {
      if (!sent && goesLater(pending)) this.#resendLater(entry);
    });
    return null;
  }

  /**
   * Keeps the conversation's messages that have not gone yet in the browser, and lets go of those that
   * went, were discarded or were refused for good. Only those this page kept or restored: another tab's
   * stay its own.
   */
  #keepUnsent(entry: Entry): void {
    if (this.#ended) return;
    for (const pending of entry.pending.values()) {
      if (pending.state !== 'sending' && !goesLater(pending)) continue;
      if (!this.writing.keepUnsent(keptOf(entry.key, pending)))
        this.emit(
          'failure',
          'This browser does not let the portal keep unsent messages (its storage is full or turned off).',
        );
      this.#keptUnsent.set(pending.clientMsgId, entry.key);
    }
    for (const [clientMsgId, key] of this.#keptUnsent) {
      if (key !== entry.key) continue;
      const pending = entry.pending.get(clientMsgId);
      if (pending && (pending.state === 'sending' || goesLater(pending))) continue;
      this.writing.dropUnsent(clientMsgId);
      this.#keptUnsent.delete(clientMsgId);
    }
  }

  /**
   * Another tab of the person's changed what they wrote. A draft follows; while its conversation is on
   * screen here, once the person leaves it (what they see is not changed under them; Drafts.follow). A message it sent or discarded leaves
   * this page too, unless this page is sending it now (its node acknowledges it once, whoever asks).
   */
  followWriting(change: WritingChange): void {
    if (this.#ended) return;
    if (change.kind === 'draft') {
      this.drafts.follow(change.key, change.draft, change.key === this.openKey);
      return;
    }
    if (change.unsent) return;
    this.#keptUnsent.delete(change.clientMsgId);
    for (const [key, list] of this.#restored)
      this.#restored.set(
        key,
        list.filter((p) => p.clientMsgId !== change.clientMsgId),
      );
    for (const entry of this.entries.values()) {
      const pending = entry.pending.get(change.clientMsgId);
      if (!pending || pending.state === 'sending') continue;
      entry.pending.delete(change.clientMsgId);
      this.emit('entry', entry);
      this.emit('connection', undefined);
    }
  }

  /** Sends one message to its node; resolves with whether it was acknowledged (else it shows why not). */
  async #transmit(entry: Entry, pending: Pending): Promise<boolean> {
    const { clientMsgId, text, mentions, attachments } = pending;
    pending.state = 'sending';
    pending.held = false;
    const acked = this.clients.get(entry.domain)!.send({
      conversationId: entry.conv.id,
      clientMsgId,
      ...(text ? { text } : {}),
      ...(mentions.length ? { mentions } : {}),
      ...(attachments.length ? { attachments: attachments.map((a) => a.id) } : {}),
    });
    this.emit('entry', entry);
    this.emit('connection', undefined);
    try {
      const ack = await acked;
      entry.pending.delete(clientMsgId);
      this.#store(entry, {
        id: ack.messageId,
        conversationId: entry.conv.id,
        seq: ack.seq,
        sender: entry.me,
        clientMsgId,
        kind: 'text',
        refId: null,
        text,
        mentions,
        attachments,
        createdAt: ack.at,
        editedAt: null,
        recalledAt: null,
      });
      entry.conv.updatedAt = ack.at;
      this.emit('list', undefined);
      return true;
    } catch (error) {
      pending.state = 'failed';
      pending.errorCode = error instanceof AtriumError ? error.code : undefined;
      pending.error = this.#notSentWhy(entry, pending.errorCode, (error as Error).message);
      if (pending.errorCode === 'federation_denied') this.#whyDenied(entry);
      return false;
    } finally {
      this.emit('entry', entry);
      this.emit('connection', undefined);
    }
  }

  /**
   * Sends a conversation's messages that wait to go again, one after another in the order written, while
   * its node is connected: one still out of reach stops the others behind it (they say why, and all are
   * tried again after a wait, longer each time); one refused for good does not.
   */
  async #flush(entry: Entry): Promise<void> {
    if (this.#ended || this.#flushing.has(entry.key) || this.clients.get(entry.domain)?.state !== 'online') return;
    clearTimeout(this.#resendTimers.get(entry.key));
    this.#resendTimers.delete(entry.key);
    this.#flushing.add(entry.key);
    const nextToGo = () => [...entry.pending.values()].find((p) => p.held || goesLater(p));
    try {
      for (let next = nextToGo(); next; next = nextToGo()) {
        if ((await this.#transmit(entry, next)) || !goesLater(next)) continue;
        for (const waiting of entry.pending.values())
          if (waiting.held)
            Object.assign(waiting, { state: 'failed', held: false, error: next.error, errorCode: next.errorCode });
        this.emit('entry', entry);
        this.#resendLater(entry);
        return;
      }
      this.#resendAttempts.delete(entry.key);
    } finally {
      this.#flushing.delete(entry.key);
    }
  }

  #resendLater(entry: Entry): void {
    if (this.#ended || this.#resendTimers.has(entry.key)) return;
    const attempt = this.#resendAttempts.get(entry.key) ?? 0;
    this.#resendAttempts.set(entry.key, attempt + 1);
    const delay = Math.min(RESEND_MAX_MS, RESEND_FIRST_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
    const timer = setTimeout(() => {
      this.#resendTimers.delete(entry.key);
      if (this.entries.get(entry.key) === entry) void this.#flush(entry);
    }, delay);
    this.#resendTimers.set(entry.key, timer);
  }

  /** A node connected again: what waits to go in its conversations goes now, and waits afresh if it must. */
  #resendAll(domain: string): void {
    for (const entry of this.entries.values()) {
      if (entry.domain !== domain || entry.pending.size === 0) continue;
      this.#resendAttempts.delete(entry.key);
      void this.#flush(entry);
    }
  }

  /**
   * Why a message did not go, for the person: a host college that cannot be reached (or did not confirm
   * it) by the name people know it by, and that the portal sends it again when that will pass. The node's
   * words name its domain and why, for programs and logs; its code stays on the pending message.
   */
  #notSentWhy(entry: Entry, code: string | undefined, message: string): string {
    if (code === 'federation_denied' || code === DOMAIN_REMOVED) {
      const removed = this.#removedOf(entry);
      if (removed.length > 0)
        return `${removed.map((d) => this.domainTitle(d)).join(', ')}'s chat is no longer on the campus (the campus administrators removed it), so it cannot be sent there.`;
    }
    const host = entry.conv.homeDomain;
    if (code === 'federation_unavailable' && host !== entry.domain) {
      const what = entry.conv.kind === 'group' ? 'group' : 'conversation';
      return `${this.domainTitle(host)}, where this ${what} is hosted, cannot be reached right now; the portal sends it as soon as it can.`;
    }
    if (code !== undefined && RETRYABLE.has(code))
      return 'It could not be sent just now; the portal sends it again by itself.';
    return message;
  }

  /**
   * Messages that did not go because their host college was out of reach name it as people know it: the
   * gateway may say what it is called only after they failed (soon after a reload), or the page before
   * named it by its domain.
   */
  #renameHosts(entry: Entry): void {
    for (const pending of entry.pending.values()) {
      if (pending.state !== 'failed') continue;
      if (pending.errorCode === 'federation_unavailable')
        pending.error = this.#notSentWhy(entry, pending.errorCode, pending.error ?? '');
      if (pending.errorCode === 'federation_denied' && this.#removedOf(entry).length > 0) {
        pending.error = this.#notSentWhy(entry, pending.errorCode, pending.error ?? '');
        pending.errorCode = DOMAIN_REMOVED;
      }
    }
  }

  /** The other colleges of a conversation (its host, its members') that the gateway says were removed. */
  #removedOf(entry: Entry): string[] {
    return this.#othersOf(entry).filter((d) => this.#removedDomains.has(d));
  }

  #othersOf(entry: Entry): string[] {
    const domains = new Set([entry.conv.homeDomain, ...entry.conv.members.map((m) => domainPart(m.address))]);
    return [...domains].filter((d) => d && !this.domains.has(d));
  }

  /**
   * Sends a failed message again with the same client id. A send that did not get its answer (a host
   * college out of reach after it stored the message) may be stored already: its node then answers with
   * the same ack instead of storing it twice; one refused, and so not stored, is sent as new. One that
   * waits to go again goes now, after those of its conversation written before it.
   */
  retry(entry: Entry, pending: Pending): void {
    if (goesLater(pending)) {
      this.#resendAttempts.delete(entry.key);
      void this.#flush(entry);
      return;
    }
    entry.pending.delete(pending.clientMsgId);
    const refused = this.send(entry, pending.text, pending.mentions, pending.attachments, pending.clientMsgId);
    if (refused) entry.pending.set(pending.clientMsgId, pending);
  }

  discard(entry: Entry, pending: Pending): void {
    entry.pending.delete(pending.clientMsgId);
    this.emit('entry', entry);
  }

  /**
   * The messages that have not gone yet, to keep across a reload with the drafts (kept.ts): those on their
   * way and those that wait to go again; not those refused for good.
   */
  keptUnsent(): KeptUnsent[] {
    if (this.#ended) return this.#unsentAtEnd;
    const restored = [...this.#restored].flatMap(([key, list]) => list.map((p) => keptOf(key, p)));
    const shown = [...this.entries.values()].flatMap((entry) =>
      [...entry.pending.values()].filter((p) => p.state === 'sending' || goesLater(p)).map((p) => keptOf(entry.key, p)),
    );
    return [...restored, ...shown];
  }

  /** Messages the page before did not send: shown as not sent with their conversations, and sent again. */
  restoreUnsent(kept: KeptUnsent[]): void {
    for (const unsent of kept) {
      const { key, error, errorCode, ...message } = unsent;
      const retryable = errorCode !== undefined && RETRYABLE.has(errorCode);
      const pending: Pending = {
        ...message,
        state: 'failed',
        error: retryable && error ? error : LEFT_UNSENT,
        errorCode: retryable ? errorCode : 'offline',
      };
      this.#restored.set(key, [...(this.#restored.get(key) ?? []), pending]);
      this.#keptUnsent.set(pending.clientMsgId, key);
    }
  }

  /** Signing out: no message of the person's is kept or sent again from this page. */
  forgetUnsent(): void {
    for (const timer of this.#resendTimers.values()) clearTimeout(timer);
    this.#resendTimers.clear();
    this.#restored.clear();
    this.#unsentAtEnd = [];
    this.#keptUnsent.clear();
    for (const entry of this.entries.values()) entry.pending.clear();
  }

  async edit(entry: Entry, message: Message, text: string): Promise<void> {
    const ack = await this.clients.get(entry.domain)!.edit(message.id, text);
    this.#store(entry, {
      ...message,
      id: ack.messageId,
      seq: ack.seq,
      kind: 'edit',
      refId: message.id,
      text,
      createdAt: ack.at,
      clientMsgId: ack.clientMsgId,
      sender: entry.me,
    });
    // The list shows the last message's text: an edit of it changes the list too.
    this.emit('list', undefined);
    this.emit('entry', entry);
  }

  async recall(entry: Entry, message: Message): Promise<void> {
    const ack = await this.clients.get(entry.domain)!.recall(message.id);
    this.#store(entry, {
      ...message,
      id: ack.messageId,
      seq: ack.seq,
      kind: 'recall',
      refId: message.id,
      text: undefined,
      createdAt: ack.at,
      clientMsgId: ack.clientMsgId,
      sender: entry.me,
    });
    this.emit('list', undefined);
    this.emit('entry', entry);
  }

  /** Fetches older entries from the node; resolves with how many arrived. */
  async loadOlder(entry: Entry, limit = 30): Promise<number> {
    if (entry.historyDone) return 0;
    const oldest = entry.messages[0]?.seq ?? entry.conv.lastSeq + 1;
    if (oldest <= entry.conv.joinedSeq + 1) {
      entry.historyDone = true;
      return 0;
    }
    const { messages, hasMore } = await this.clients.get(entry.domain)!.history(entry.conv.id, oldest, limit);
    let added = 0;
    // Oldest first, so edits and recalls find their targets.
    for (const message of [...messages].reverse()) if (this.#store(entry, message)) added++;
    if (!hasMore) entry.historyDone = true;
    // Older messages of one's own in a big group: counted once, as they come (countReads keeps the latest current).
    const older = ownSeqs(messages, entry.me);
    if (older.length > 0 && listsSomeMembers(entry.conv) && !this.#noReadCounts.has(entry.domain))
      void this.#askReadCounts(
        entry,
        older.sort((a, b) => a - b),
      );
    this.emit('entry', entry);
    return added;
  }

  /** Tells the others this person is typing, at most every 2 s per conversation. */
  typing(entry: Entry): void {
    const last = this.#lastTyping.get(entry.key) ?? 0;
    if (Date.now() - last < 2_000) return;
    this.#lastTyping.set(entry.key, Date.now());
    const client = this.clients.get(entry.domain)!;
    if (client.state === 'online') client.typing(entry.conv.id).catch(() => undefined);
  }

  /**
   * Messages with the words, from every domain of the person's, newest first. `unsearched` names each
   * domain that could not be searched and why (offline, or the node refused: too many searches), so the
   * page never reads "nothing matches" for words it could not look for.
   */
  async search(query: string): Promise<SearchOutcome> {
    const unsearched: SearchOutcome['unsearched'] = [];
    const results = await Promise.all(
      [...this.clients].map(async ([domain, client]) => {
        if (client.state !== 'online') {
          unsearched.push({ domain, reason: 'It is not connected right now.' });
          return [];
        }
        try {
          const messages = await client.search(query, { limit: 50 });
          return messages.map((message) => ({
            domain,
            message,
            entry: this.entries.get(keyOf(domain, message.conversationId)),
          }));
        } catch (error) {
          const said = error instanceof AtriumError && error.code === 'rate_limited' ? error.message : '';
          unsearched.push({ domain, reason: said || 'It could not search just now. Try again.' });
          return [];
        }
      }),
    );
    const found = results.flat().sort((a, b) => b.message.createdAt.localeCompare(a.message.createdAt));
    return { found, unsearched };
  }

  async people(query: string): Promise<Person[]> {
    const found = await findPeople(this.me, query);
    this.#learnPeople(found);
    for (const person of found) if (person.app) this.#apps.add(person.address);
    const unknown = [...new Set(found.flatMap((p) => p.units))].filter((path) => !this.unitLabels.has(path));
    // Without the names the people are still shown, each unit by its path.
    const labels = unknown.length > 0 ? await fetchUnitLabels(unknown).catch(() => []) : [];
    for (const unit of labels) this.unitLabels.set(unit.path, unit.label);
    return found;
  }

  /**
   * People's names as the directory gave them, for this page and for the next one in this tab. Answered
   * as people, they are not (or no longer) disabled.
   */
  #learnPeople(people: Pick<Person, 'name' | 'addresses'>[]): void {
    const named = people.flatMap((person) =>
      person.addresses.map((address) => [address, person.name] as [string, string]),
    );
    for (const [address, name] of named) {
      this.names.set(address, name);
      this.#unnamed.delete(address);
      this.#disabled.delete(address);
    }
    if (named.length > 0 && !this.#ended) this.#keptNames.keep(named);
  }

  /** A unit as people read it: its name and its parent's, else (the gateway does not know it) its path. */
  unitLabel(path: string): string {
    return this.unitLabels.get(path) ?? path;
  }

  /**
   * A domain as people read it: the college or department its node serves, else the domain name (while
   * the gateway has not answered for another college's node, or does not know it).
   */
  domainTitle(domain: string): string {
    return this.domains.get(domain)?.title || this.#hostTitles.get(domain) || domain;
  }

  /**
   * A send the federation policy refused: whether a college of the conversation was removed from the
   * campus is asked of the gateway (again: it may have been removed since the page asked its name), and
   * the message then says so (#renameHosts).
   */
  #whyDenied(entry: Entry): void {
    const others = this.#othersOf(entry).filter((d) => !this.#removedDomains.has(d));
    if (others.length === 0) return this.#renameHosts(entry);
    for (const d of others) this.#titlesAsked.delete(d);
    for (const d of others) this.wantDomainTitle(d);
  }

  /**
   * Asks the gateway what another college's node is called (a `names` event tells when it is known): a
   * conversation's host, or the college a file shared in chat is kept at, named should it be out of reach.
   */
  wantDomainTitle(domain: string): void {
    if (this.domains.has(domain) || this.#titlesAsked.has(domain)) return;
    this.#titlesAsked.add(domain);
    this.#titleQueue.add(domain);
    if (this.#titleQueue.size === 1) setTimeout(() => void this.#askDomainTitles(), 50);
  }

  async #askDomainTitles(): Promise<void> {
    const names = [...this.#titleQueue];
    this.#titleQueue.clear();
    try {
      for (let i = 0; i < names.length; i += DOMAINS_PER_LOOKUP) {
        for (const { name, title, removed } of await fetchDomainTitles(names.slice(i, i + DOMAINS_PER_LOOKUP))) {
          this.#hostTitles.set(name, title);
          if (removed) this.#removedDomains.add(name);
          else this.#removedDomains.delete(name);
        }
      }
      for (const entry of this.entries.values())
        if (this.#othersOf(entry).some((d) => names.includes(d))) this.#renameHosts(entry);
      this.emit('names', undefined);
    } catch {
      // Shown by their domain names meanwhile; asked again when one of their conversations comes again.
      for (const name of names) if (!this.#hostTitles.has(name)) this.#titlesAsked.delete(name);
    }
  }

  /** Opens (or creates) the direct conversation with someone, from the domain the directory found them through. */
  async startDirect(person: Person): Promise<Entry> {
    const conv = await this.clients.get(person.via)!.openDirect(person.address);
    return this.#upsert(person.via, conv);
  }

  /** A group hosted by the person's home domain (or the first of theirs that can reach everyone). */
  async createGroup(title: string, members: Person[]): Promise<Entry> {
    const domain = this.#domainReaching(members);
    const conv = await this.clients.get(domain)!.createGroup(
      title,
      members.map((m) => m.address),
    );
    return this.#upsert(domain, conv);
  }

  /** A page of a conversation's members, in address order, after `after` (the `next` of the page before). */
  members(entry: Entry, after: string | undefined, limit: number): Promise<MembersPage> {
    return this.#client(entry).members(entry.conv.id, after, limit);
  }

  /*
   * Group changes. The node decides who may make them (docs/protocol.md, "Groups") and answers with the
   * group as it now is, which reaches the entry as a view like any other; nothing here changes before that.
   */

  async renameGroup(entry: Entry, title: string): Promise<void> {
    await this.#client(entry).renameGroup(entry.conv.id, title);
  }

  async invite(entry: Entry, people: Person[]): Promise<void> {
    await this.#client(entry).invite(
      entry.conv.id,
      people.map((p) => p.address),
    );
  }

  async removeMember(entry: Entry, address: string): Promise<void> {
    await this.#client(entry).removeMember(entry.conv.id, address);
  }

  async setRole(entry: Entry, address: string, role: 'owner' | 'admin' | 'member'): Promise<void> {
    await this.#client(entry).setRole(entry.conv.id, address, role);
  }

  /**
   * Leaves a group. Its home may be another college's node, which records the leave and tells this one
   * a moment later: accepted is enough for the page, which lets the conversation go at once.
   */
  async leave(entry: Entry): Promise<void> {
    this.#leaving.add(entry.key);
    try {
      await this.#client(entry).leave(entry.conv.id);
    } catch (error) {
      this.#leaving.delete(entry.key);
      throw error;
    }
    this.#drop(entry);
    this.#leaving.delete(entry.key);
  }

  #client(entry: Entry): AtriumClient {
    return this.clients.get(entry.domain)!;
  }

  #domainReaching(members: Person[]): string {
    const mine = this.me.domains.map((d) => d.name);
    return mine.find((d) => members.every((m) => m.reachableFrom.includes(d))) ?? this.me.user.homeDomain ?? mine[0]!;
  }

  /**
   * Answers a card's button: the node sends the app a signed callback; the app may update the card (a
   * `card.update` entry follows) and say something back, which resolves here.
   */
  async cardAction(entry: Entry, message: Message, actionId: string): Promise<{ toast?: string; updated: boolean }> {
    const result = await this.clients.get(entry.domain)!.cardAction(message.id, actionId);
    return { updated: result.updated, ...(result.toast ? { toast: result.toast } : {}) };
  }

  /**
   * A person's name as the directory gives it: until it answers, as it gave it before in this tab (a
   * reload), else a neutral placeholder rather than the username, which would be replaced a moment later.
   * The username when the directory does not know them.
   */
  displayName(address: string): string {
    const known = this.names.get(address) ?? this.#keptNames.get(address);
    // A name kept before control characters were refused shows without them.
    if (known !== undefined) return withoutControlCharacters(known) || localPart(address);
    return this.#unnamed.has(address) ? NAME_PENDING : localPart(address);
  }

  /**
   * Whether the directory said, when this page asked for their name, that this person's account is
   * disabled: they keep their name, marked so, and what is sent to them waits until it is enabled again.
   */
  isDisabled(address: string): boolean {
    return this.#disabled.has(address);
  }

  /** Someone as named in one conversation: an app as it named itself there, a person as the directory does. */
  nameIn(entry: Entry | undefined, address: string): string {
    return entry?.appNames.get(address) ?? this.displayName(address);
  }

  /**
   * Who wrote a message: an app as it named itself in this conversation (or on the message, for a search
   * result whose conversation is not on the page), a person as the directory does.
   */
  senderOf(entry: Entry | undefined, message: Message): string {
    return entry?.appNames.get(message.sender) ?? appNameOf(message) ?? this.displayName(message.sender);
  }

  /**
   * Who wrote a message, for words said once and never redrawn (a notification, an announcement to
   * screen readers): the username rather than the placeholder while the directory has not answered, and
   * a webhook said as one, since whoever made it chose its name.
   */
  senderNow(entry: Entry, message: Message): string {
    const name = this.senderOf(entry, message);
    const said = name === NAME_PENDING ? localPart(message.sender) : name;
    return byWebhook(message) ? `${said} (webhook)` : said;
  }

  title(entry: Entry): string {
    if (entry.conv.kind === 'group') return withoutControlCharacters(entry.conv.title ?? '') || 'Group';
    const peer = this.peerOf(entry);
    return peer ? this.nameIn(entry, peer) : 'Direct chat';
  }

  peerOf(entry: Entry): string | undefined {
    if (entry.conv.kind !== 'direct') return undefined;
    return entry.conv.members.find((m) => m.address !== entry.me)?.address;
  }

  /**
   * Presence as the nodes told it: each keeps its own people's and asks other domains' nodes for theirs.
   * Apps hold no sockets, so they have none to show. While the conversation's node is out of reach the
   * page cannot know who is online (nor hear who left): it shows none rather than what it last heard.
   */
  presenceOf(entry: Entry, address: string): Presence | undefined {
    if (this.isApp(entry, address) || this.clients.get(entry.domain)?.state !== 'online') return undefined;
    return this.presence.get(address);
  }

  /**
   * Whether an address is an app's bot: it said so in a message here (its sender kind), or the campus
   * directory marks it `app` (a search found it, or the page asked about a direct peer it does not know
   * as a person: #askIfApp). Such a peer has no presence and sends no delivered receipts.
   */
  isApp(entry: Entry, address: string): boolean {
    return entry.appNames.has(address) || this.#apps.has(address);
  }

  /** The app's name for a bot, as it named itself here or as the directory gave it. */
  appName(entry: Entry, address: string): string | undefined {
    if (!this.isApp(entry, address)) return undefined;
    return entry.appNames.get(address) ?? this.names.get(address) ?? localPart(address);
  }

  /**
   * A direct peer the directory does not know as a person may be an app's bot (whose slug is no one's
   * username): a search by its whole address finds it, marked `app`, at its node. Asked once per page.
   */
  async #askIfApp(address: string): Promise<void> {
    if (this.#appsAsked.has(address) || this.#apps.has(address)) return;
    this.#appsAsked.add(address);
    const found = await findPeople(this.me, address).catch(() => [] as Person[]);
    const app = found.find((p) => p.app && p.address === address);
    if (!app || this.#ended) return;
    this.#learnPeople([app]);
    this.#apps.add(address);
    this.emit('names', undefined);
  }

  sorted(): Entry[] {
    const lastAt = (e: Entry) => e.messages.at(-1)?.createdAt ?? e.conv.updatedAt;
    return [...this.entries.values()].sort((a, b) => lastAt(b).localeCompare(lastAt(a)));
  }

  async #queryPresence(domain: string): Promise<void> {
    const client = this.clients.get(domain);
    if (!client || client.state !== 'online') return;
    const addresses = new Set<string>();
    for (const entry of this.entries.values()) {
      const peer = this.peerOf(entry);
      // Each conversation's node answers for its peer, of its own domain or (asking there) of another.
      if (peer && entry.domain === domain && !this.isApp(entry, peer)) addresses.add(peer);
    }
    if (addresses.size === 0) return;
    const result = await client.presence([...addresses]).catch(() => [] as Presence[]);
    for (const presence of result) {
      this.presence.set(presence.address, presence);
      this.emit('presence', presence.address);
    }
  }

  /**
   * Apps name themselves in their messages (the directory knows only people), for the conversation the
   * message is in; people's names come from the directory. A message whose conversation is not on the
   * page yet names its app once it is stored there.
   */
  #learnName(message: Message, entry?: Entry): void {
    const appName = appNameOf(message);
    if (appName === undefined) return this.#wantName(message.sender);
    if (!entry || entry.appNames.get(message.sender) === appName) return;
    entry.appNames.set(message.sender, appName);
    this.emit('names', undefined);
  }

  /** Asks the directory for these people's names (a `names` event tells when they are known). */
  wantNames(addresses: string[]): void {
    for (const address of addresses) this.#wantName(address);
  }

  #wantName(address: string): void {
    if (this.names.has(address) || localPart(address).length < 2) return;
    this.#nameQueue.add(address);
    this.#unnamed.add(address);
    if (!this.#resolving) void this.#resolveNames();
  }

  /**
   * Display names come from the campus directory, looked up by username a hundred at a time (a big
   * group's members in a few requests), with one redraw per answer.
   */
  async #resolveNames(): Promise<void> {
    this.#resolving = true;
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      while (this.#nameQueue.size > 0) {
        const batch = new Map<string, string[]>();
        for (const address of this.#nameQueue) {
          this.#nameQueue.delete(address);
          if (this.names.has(address)) continue;
          const username = localPart(address).toLowerCase();
          if (!batch.has(username) && batch.size >= USERNAMES_PER_LOOKUP) {
            this.#nameQueue.add(address);
            break;
          }
          batch.set(username, [...(batch.get(username) ?? []), address]);
        }
        if (batch.size === 0) continue;
        const { people, former, disabled } = await lookUpNames(this.me, [...batch.keys()]).catch(() => ({
          people: [] as Person[],
          former: [],
          disabled: [],
        }));
        this.#learnPeople([...people, ...disabled]);
        // Disabled accounts keep the name they had, marked so: those who wrote with them still see who.
        for (const { addresses } of disabled) for (const address of addresses) this.#disabled.add(address);
        // Deleted accounts: what they wrote stays, from "Former member" (never kept for the next page).
        for (const { name, addresses } of former) for (const address of addresses) this.names.set(address, name);
        const peers = new Set([...this.entries.values()].map((e) => this.peerOf(e)));
        for (const address of [...batch.values()].flat()) {
          this.#unnamed.delete(address);
          if (this.names.has(address)) continue;
          // Someone the directory no longer answers (their college's chat removed from the campus, say)
          // keeps the name it gave before in this tab: they wrote as that person.
          this.names.set(address, this.#keptNames.get(address) ?? localPart(address));
          if (peers.has(address)) void this.#askIfApp(address);
        }
        this.emit('names', undefined);
      }
    } finally {
      this.#resolving = false;
    }
  }
}

export { AtriumError };
