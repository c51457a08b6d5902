import { ConversationStore } from './conversation-store.ts';
import { Emitter } from './emitter.ts';
import { HeldAhead } from './held-ahead.ts';
import { Pacer } from './pacer.ts';
import {
  attachmentViewSchema,
  DEFAULT_RECALL_WINDOW_SECONDS,
  isReplyTo,
  LONGEST_WAITED_OUT_MS,
  MAX_TEXT_CHARS,
  ownFilesPageSchema,
  PROTOCOL_VERSION,
  serverFrameSchema,
  type ClientFieldsOf,
  type ClientFrameType,
  type ReplyTo,
} from '../protocol/frames.ts';
import {
  AtriumError,
  type Ack,
  type Attachment,
  type CardActionResult,
  type Conversation,
  type Member,
  type MembersPage,
  type Message,
  type OwnFilesPage,
  type Presence,
  type ReadCounts,
  type Receipt,
  type ServerFrame,
  type Typing,
  type Webhook,
} from './types.ts';

export * from './types.ts';

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'closed';

export type ClientEvents = {
  state: ConnectionState;
  ready: { address: string; expiresAt: string };
  message: Message;
  receipt: Receipt;
  /** Someone is typing; in a group of more than 100 members, collapsed (`several`, `count`, `addresses`: see docs/protocol.md). */
  typing: Typing;
  presence: Presence;
  conversation: Conversation;
  /**
   * A conversation of which the device missed more than a page while away: it got the latest page, and
   * the entries after `afterSeq` and before `beforeSeq` come through `loadOlder` if the person scrolls back.
   */
  gap: SyncGap;
  /** A conversation this person left or was removed from while the device was away. */
  removed: { conversationId: string };
  /**
   * The sender of message `messageId` deleted one of its files (a `file.removed` entry, also emitted as a
   * `message`): show it as removed (`withFileRemoved`); a download of it answers 410 `attachment_removed`.
   */
  fileRemoved: { conversationId: string; messageId: string; attachmentId: string };
  /** This client deleted one of the person's own files (`deleteFile`): what was to carry it no longer can. */
  fileDeleted: { attachmentId: string };
  /** Another domain refused a message already acknowledged here (its federation policy, say). */
  deliveryFailed: { messageId: string; conversationId: string; domain: string; reason: string };
  /**
   * The gateway session ended (single logout) or the node refused the identity: the client stops. `why`
   * is what the node's `session.ended` said first, if it did: `signed_out`, `access_ended` (disabled, a
   * password reset, signed out everywhere), `left_domain` (moved off this domain's units),
   * `app_access_removed` (the person took back what they allowed this app), `domain_removed` (this
   * domain was removed at the gateway; it closes as `left_domain` does) or, for a bot, `secret_rotated`
   * (its app's client secret was rotated after its token was issued: get one with the new secret).
   */
  ended: { code: number; reason: string; why?: string };
  /** A refusal or failure nobody waits for, or a frame from the node this client cannot read (`unexpected_frame`; it is ignored). */
  error: AtriumError;
};

export type ClientOptions = {
  /** The node's socket URL, e.g. ws://localhost:4201/ws */
  url: string;
  /** Returns a current access token for this node; called on every (re)connect and before expiry. */
  token: () => string | Promise<string>;
  WebSocket?: typeof WebSocket;
  requestTimeoutMs?: number;
  /**
   * How long a send waits for its ack before it goes again with the same client id (default 20 s): a
   * frame or its answer lost on the way must not leave a message "sending" for good. The node answers a
   * repeated send with the first one's ack, so nothing is stored twice.
   */
  sendRetryMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /**
   * Entries per page (default 50, at most 200): what a sync brings of a conversation new to the device or one it
   * missed much of, and what `loadOlder` brings at a time.
   */
  pageSize?: number;
};

/** Entries of a conversation the device missed and was not sent: after `afterSeq`, before `beforeSeq`. */
export type SyncGap = { conversationId: string; afterSeq: number; beforeSeq: number };
export type OlderPage = {
  /** Newest first, as `history` gives them. */
  messages: Message[];
  /** The device now holds the conversation back to the person's join: nothing older to load. */
  beginning: boolean;
};

export type SendInput = {
  conversationId?: string;
  to?: string;
  text?: string;
  mentions?: string[];
  attachments?: string[];
  clientMsgId?: string;
};
export type SearchOptions = { conversationId?: string; limit?: number };
export type UploadedAttachment = Attachment;

/**
 * A request waiting for its answer. Its timeout runs from when the frame goes out: one held back by the
 * pacer has not been sent yet. `order` keeps the queue's order when a refused frame goes back into it.
 */
type Pending = {
  resolve(frame: ServerFrame): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  type: string;
  data: string;
  timeoutMs: number;
  order: number;
};
type Outgoing = { frame: ClientFieldsOf<'send'>; resolve(ack: Ack): void; reject(error: Error): void };
/** A request's fields, which may be left out when the frame type has none that are required. */
type RequestArgs<T extends ClientFrameType> =
  {} extends ClientFieldsOf<T>
    ? [fields?: ClientFieldsOf<T>, timeoutMs?: number]
    : [fields: ClientFieldsOf<T>, timeoutMs?: number];

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSES = new Set([4403, 4409]);
/** Failures after which a request may simply be asked again once online: the node may not have had it. */
const RETRIED = new Set(['disconnected', 'offline', 'timeout']);
/**
 * How long an entry pushed past a hole waits before a sync fills the hole: an entry (or an ack) still on
 * its way fills it meanwhile without one (a domain's processes may deliver a little out of order).
 */
const CATCH_UP_AFTER_MS = 250;
/** The longest wait when holes keep coming back after each sync (a node under load): never a storm of syncs. */
const CATCH_UP_MAX_MS = 8_000;
const encoder = new TextEncoder();
const utf8Length = (text: string) => encoder.encode(text).length;

function randomId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** wss://host/prefix/ws → https://host/prefix */
function httpBaseOf(socketUrl: string): string {
  const url = new URL(socketUrl);
  return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}${url.pathname.replace(/\/ws\/?$/, '')}`;
}

/** What a `file.removed` entry tells: which file its sender deleted from which message; undefined for any other entry. */
export function fileRemovalOf(
  message: Message,
): { conversationId: string; messageId: string; attachmentId: string } | undefined {
  if (message.kind !== 'file.removed' || !message.refId || typeof message.attachmentId !== 'string') return undefined;
  return { conversationId: message.conversationId, messageId: message.refId, attachmentId: message.attachmentId };
}

/**
 * A message held on a device as a `file.removed` entry leaves it: the file marked `removed` (as the node
 * now presents the message). The same message when it does not carry the file.
 */
export function withFileRemoved(message: Message, attachmentId: string): Message {
  if (!message.attachments?.some((a) => a.id === attachmentId)) return message;
  return {
    ...message,
    attachments: message.attachments.map((a) => (a.id === attachmentId ? { ...a, removed: true } : a)),
  };
}

/**
 * A client of one domain node, for Node and browsers alike. It authenticates with a gateway token,
 * re-authenticates before expiry, reconnects with backoff, resends unacknowledged messages with their
 * original client ids (so a retry never duplicates), catches up from its per-conversation cursors after
 * each reconnect and whenever a pushed entry shows that one before it never came, and emits every
 * message once however often it arrives.
 */
export class AtriumClient extends Emitter<ClientEvents> {
  readonly options: Required<Pick<ClientOptions, 'requestTimeoutMs'>> & ClientOptions;
  #socket: WebSocket | undefined;
  #state: ConnectionState = 'offline';
  #pending = new Map<string, Pending>();
  /** Ids of requests waiting for the pacer, in the order they go out. */
  #queue: string[] = [];
  #order = 0;
  #pacer = new Pacer();
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #outbox = new Map<string, Outgoing>();
  #seen = new Set<string>();
  /** The conversations known, kept current from pushed entries (group changes come as entries alone). */
  #conversations = new ConversationStore();
  #seenOrder: string[] = [];
  #cursors = new Map<string, number>();
  /** Entries held past a hole after the cursor, which waits below it until a sync fills it (see #held). */
  #ahead = new HeldAhead();
  #catchUpTimer: ReturnType<typeof setTimeout> | undefined;
  /** Syncs in a row after which holes were left: each next one waits longer. */
  #catchUpStreak = 0;
  #syncing = 0;
  /**
   * Per conversation, the lowest sequence of the entries held without a hole up to the cursor, which
   * `loadOlder` pages back from; a gap remembers where the run before it began, so that paging through
   * the gap ends at what the device held already.
   */
  #oldest = new Map<string, number>();
  #gaps = new Map<string, SyncGap & { olderFrom: number | undefined }>();
  /** The node does not know `gaps` (an older node): sync pages forward through what was missed instead. */
  #gapsRefused = false;
  #since: string | undefined;
  #attempt = 0;
  #stopped = false;
  /** What the node said when it ended the session (`session.ended`), told with the close. */
  #endedWhy: string | undefined;
  #readyWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  address: string | undefined;
  /** The node's frame limit (from `ready`): longer member lists go in parts. */
  #maxFrameBytes = 64 * 1024;
  #maxTextChars = MAX_TEXT_CHARS;
  #recallWindowSeconds = DEFAULT_RECALL_WINDOW_SECONDS;
  #attachmentTypes: readonly string[] | null = null;
  readonly #pageSize: number;

  constructor(options: ClientOptions) {
    super();
    this.options = { requestTimeoutMs: 15_000, ...options };
    this.#pageSize = options.pageSize ?? 50;
    // A page is what `history` may return at once.
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > 200)
      throw new RangeError(`pageSize must be a whole number from 1 to 200 (got ${options.pageSize})`);
  }

  /**
   * The longest text the node takes in a message, in UTF-16 units (a string's `length`), as its `ready`
   * said; before that, or from a node that does not say, the protocol's limit. A longer text is refused.
   */
  get maxTextChars(): number {
    return this.#maxTextChars;
  }

  /**
   * How long after sending one may recall a message, in milliseconds, as the node's `ready` said; before
   * that, or from a node that does not say, the protocol's default. A later recall is refused.
   */
  get recallWindowMs(): number {
    return this.#recallWindowSeconds * 1000;
  }

  /**
   * The media types the node takes for uploads, as its `ready` said; null before that, or from a node that
   * does not say. An upload of another type is refused (`unsupported_media_type`).
   */
  get attachmentTypes(): readonly string[] | null {
    return this.#attachmentTypes;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** How many tries to connect have failed since the client was last online: 0 online and at the first try. */
  get failedAttempts(): number {
    return this.#attempt;
  }

  /**
   * Of each conversation, the sequence up to which this client holds every entry (from the person's
   * join or the latest page on): a later entry pushed past a missing one does not move it (see #held).
   */
  get cursors(): ReadonlyMap<string, number> {
    return this.#cursors;
  }

  /** Connects (or waits for the connection in progress) and resolves once authenticated. */
  connect(): Promise<void> {
    this.#stopped = false;
    if (this.#state === 'online') return Promise.resolve();
    // A reconnect already scheduled would open a second socket beside the one opened now.
    if (this.#reconnectTimer) {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    }
    const ready = new Promise<void>((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
    if (this.#state !== 'connecting') this.#open();
    return ready;
  }

  #setState(state: ConnectionState) {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  #open() {
    this.#setState('connecting');
    const Impl = this.options.WebSocket ?? globalThis.WebSocket;
    const socket = new Impl(this.options.url, ['atrium.v1']);
    this.#socket = socket;
    this.#pacer.reset();
    socket.onopen = () => void this.#authenticate().catch((error: Error) => this.#fail(error));
    socket.onmessage = (event) => this.#receive(String(event.data));
    socket.onclose = (event) => this.#closed(socket, event.code, event.reason);
    socket.onerror = () => undefined;
  }

  async #authenticate(): Promise<void> {
    const token = await this.options.token();
    const ready = await this.request('auth', { token });
    this.address = ready.address;
    if (ready.maxFrameBytes) this.#maxFrameBytes = ready.maxFrameBytes;
    if (ready.maxTextChars) this.#maxTextChars = ready.maxTextChars;
    if (ready.recallWindowSeconds) this.#recallWindowSeconds = ready.recallWindowSeconds;
    if (ready.attachmentTypes) this.#attachmentTypes = ready.attachmentTypes;
    if (ready.rateLimit) this.#pacer.configure(ready.rateLimit);
    this.#attempt = 0;
    this.#setState('online');
    this.emit('ready', { address: this.address, expiresAt: ready.expiresAt });
    for (const waiter of this.#readyWaiters.splice(0)) waiter.resolve();
    for (const outgoing of this.#outbox.values()) this.#transmit(outgoing);
    await this.sync().catch((error: Error) =>
      this.emit('error', error instanceof AtriumError ? error : new AtriumError('sync_failed', error.message)),
    );
  }

  #fail(error: Error) {
    const atrium = error instanceof AtriumError ? error : new AtriumError('connect_failed', error.message);
    this.emit('error', atrium);
    // Refused again after fresh tokens: the sign-in is over (token_revoked: ended at the gateway), so
    // whoever waits for the connection is told rather than left waiting through endless reconnects.
    if (['forbidden', 'unauthenticated', 'token_revoked'].includes(atrium.code) && this.#attempt > 3) {
      for (const waiter of this.#readyWaiters.splice(0)) waiter.reject(atrium);
    }
    this.#socket?.close();
  }

  #closed(socket: WebSocket, code: number, reason: string) {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    this.#queue = [];
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    for (const [id, pending] of this.#pending) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(new AtriumError('disconnected', 'The connection closed before the node answered'));
      this.#pending.delete(id);
    }
    if (this.#stopped) return this.#setState('closed');
    if (FINAL_CLOSES.has(code)) {
      this.#stopped = true;
      this.#setState('closed');
      for (const outgoing of this.#outbox.values())
        outgoing.reject(new AtriumError('closed', reason || 'connection ended'));
      this.#outbox.clear();
      for (const waiter of this.#readyWaiters.splice(0))
        waiter.reject(new AtriumError(reason || 'closed', 'The node ended the session'));
      this.emit('ended', { code, reason, ...(this.#endedWhy && { why: this.#endedWhy }) });
      return;
    }
    this.#setState('offline');
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 250, maxMs: 30_000 };
    const delay = Math.min(maxMs, initialMs * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#attempt += 1;
    this.#reconnectTimer = setTimeout(() => {
      if (!this.#stopped) this.#open();
    }, delay);
  }

  #receive(data: string) {
    const frame = this.#read(data);
    if (!frame) return;
    if (frame.re && this.#pending.has(frame.re)) {
      const pending = this.#pending.get(frame.re)!;
      if (pending.timer) clearTimeout(pending.timer);
      pending.timer = undefined;
      // The node did not handle it: it goes again once the node's allowance is back, in its place. A
      // refusal for longer (LONGEST_WAITED_OUT_MS) is the caller's, rather than hold up every frame behind it.
      const waitMs = frame.type === 'error' && frame.code === 'rate_limited' ? Number(frame.retryAfterMs) : undefined;
      if (waitMs !== undefined && !(waitMs > LONGEST_WAITED_OUT_MS)) return this.#refused(frame.re, pending, waitMs);
      this.#pending.delete(frame.re);
      if (frame.type === 'error')
        pending.reject(
          new AtriumError(frame.code, frame.message, frame.fields, waitMs && waitMs > 0 ? waitMs : undefined),
        );
      else pending.resolve(frame);
      return;
    }
    switch (frame.type) {
      case 'message':
        return this.#accept(frame.message, true);
      case 'receipt':
        this.#conversations.receipt(frame, this.address);
        return this.emit('receipt', frame);
      case 'receipts':
        // Several members' receipts in one frame: told one by one, as if each had come alone.
        for (const receipt of frame.receipts) {
          this.#conversations.receipt(receipt, this.address);
          this.emit('receipt', receipt);
        }
        return;
      case 'typing':
        return this.emit('typing', frame);
      case 'presence':
        return this.emit('presence', frame);
      case 'conversation':
        return this.emit('conversation', this.#known(frame.conversation));
      case 'delivery.failed':
        return this.emit('deliveryFailed', frame);
      case 'auth.expiring':
        return void this.#reauthenticate();
      case 'session.ended':
        this.#endedWhy = frame.reason;
        return undefined;
      case 'error':
        return this.emit('error', new AtriumError(frame.code, frame.message));
      default:
        // A reply whose request is no longer waited for (it timed out, or its socket closed).
        return undefined;
    }
  }

  /**
   * A frame from the node, validated against the protocol's server frames. One that is not JSON, of a
   * type this client does not know, or malformed is told as an `unexpected_frame` error and ignored: a
   * newer node's new event must not break an older client, and nothing unchecked reaches the handlers.
   */
  #read(data: string): ServerFrame | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      this.emit('error', new AtriumError('unexpected_frame', 'The node sent a frame that is not JSON'));
      return undefined;
    }
    const parsed = serverFrameSchema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const type = typeof raw === 'object' && raw !== null && 'type' in raw ? String(raw.type) : 'without a type';
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    this.emit(
      'error',
      new AtriumError(
        'unexpected_frame',
        `Ignored a frame ${type} this client cannot read: ${issue?.message ?? 'invalid'}${where}`,
      ),
    );
    return undefined;
  }

  async #reauthenticate() {
    try {
      await this.request('auth', { token: await this.options.token() });
    } catch (error) {
      this.emit(
        'error',
        error instanceof AtriumError ? error : new AtriumError('reauth_failed', (error as Error).message),
      );
    }
  }

  /**
   * Emits a message once, whether it came pushed, in a sync page or both, and advances the cursor: to an
   * entry of a sync page (which carries what follows the cursor, or the latest page after a gap), and to
   * a pushed one unless an entry before it is missing (see #held).
   */
  #accept(message: Message, pushed = false) {
    if (!this.#oldest.has(message.conversationId)) this.#oldest.set(message.conversationId, message.seq);
    if (pushed) this.#held(message.conversationId, message.seq, true);
    else this.#advanceTo(message.conversationId, message.seq);
    if (this.#seen.has(message.id)) return;
    this.#markSeen(message.id);
    this.emit('message', message);
    const removal = fileRemovalOf(message);
    if (removal) this.emit('fileRemoved', removal);
    // A group change reaches members who stay as its entry alone: the group as it now is follows it.
    const changed = this.#conversations.apply(message, this.address);
    if (changed) this.emit('conversation', changed);
  }

  /** Moves a conversation's cursor up to `seq`, and on through what was held past a hole just after it. */
  #advanceTo(conversationId: string, seq: number) {
    const cursor = Math.max(this.#cursors.get(conversationId) ?? 0, seq);
    const joinedSeq = this.#conversations.joinedSeq(conversationId);
    this.#cursors.set(conversationId, this.#ahead.through(conversationId, cursor, joinedSeq));
  }

  /**
   * An entry the device has, pushed or as the ack of its own send, recall or edit (the sending socket is
   * not pushed what it added). Right after the cursor, the cursor moves to it. Further on, an entry
   * before it is missing: a push lost on the way (a domain's process that could not reach Redis for a
   * while, say), or one still on its way. The cursor then stays below the hole, so that no sync skips
   * it, and a sync soon catches up from there. Of a conversation without a cursor yet, a push sets it
   * (what came before is not this device's to have missed); an ack does not.
   */
  #held(conversationId: string, seq: number, pushed: boolean) {
    const cursor = this.#cursors.get(conversationId) ?? 0;
    if (seq <= cursor) return;
    if (cursor === 0) {
      if (pushed) this.#cursors.set(conversationId, seq);
      return;
    }
    this.#ahead.add(conversationId, seq);
    this.#advanceTo(conversationId, cursor);
    if (this.#ahead.has(conversationId)) this.#scheduleCatchUp();
  }

  /** An ack's entry is held like a pushed one (its socket is not pushed it). */
  #acked(ack: Ack): Ack {
    this.#held(ack.conversationId, ack.seq, false);
    return ack;
  }

  /**
   * A sync soon, from the cursors, to fill the holes entries were held past (#held); one at a time: a
   * sync under way looks again when it ends, and any sync fills them. The wait lets what is still on its
   * way fill a hole without one, and grows while holes are left after each sync, so a busy conversation
   * never brings a storm of syncs. Offline, the sync after reconnecting catches up.
   */
  #scheduleCatchUp() {
    if (this.#catchUpTimer || this.#syncing > 0 || this.#stopped) return;
    const wait = Math.min(CATCH_UP_MAX_MS, CATCH_UP_AFTER_MS * 2 ** this.#catchUpStreak);
    this.#catchUpTimer = setTimeout(() => {
      this.#catchUpTimer = undefined;
      // A view may have told meanwhile of a join after the hole (someone added back to a group).
      for (const id of this.#ahead.conversations()) {
        const cursor = this.#cursors.get(id);
        if (cursor === undefined) this.#ahead.forget(id);
        else this.#advanceTo(id, cursor);
      }
      if (this.#ahead.size === 0) this.#catchUpStreak = 0;
      if (this.#ahead.size === 0 || this.#state !== 'online' || this.#syncing > 0) return;
      this.#catchUpStreak += 1;
      this.sync().catch((error: Error) =>
        this.emit('error', error instanceof AtriumError ? error : new AtriumError('sync_failed', error.message)),
      );
    }, wait);
  }

  /** A conversation as the node showed it: it becomes what this client knows of it. */
  #known(view: Conversation): Conversation {
    return this.#conversations.put(view, this.address);
  }

  /**
   * A conversation a request of this client's changed or opened: known, and told as a `conversation`
   * event like any other change (the entry of the change may reach this socket before or after the answer).
   */
  #answered(view: Conversation): Conversation {
    const shown = this.#known(view);
    this.emit('conversation', shown);
    return shown;
  }

  #markSeen(id: string) {
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    this.#seenOrder.push(id);
    if (this.#seenOrder.length > 20_000) this.#seen.delete(this.#seenOrder.shift()!);
  }

  /**
   * Sends one frame and resolves with the node's reply (rejects with the node's error). Frames go out in
   * the order asked, paced to the node's allowance; one the node refused as too many goes again after
   * the pause it named, so a caller sees `rate_limited` only when that pause is longer than
   * LONGEST_WAITED_OUT_MS (an allowance of an hour or a minute, not of the moment).
   */
  request<T extends ClientFrameType>(
    type: T,
    ...[fields, timeoutMs = this.options.requestTimeoutMs]: RequestArgs<T>
  ): Promise<ReplyTo<T>> {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) return Promise.reject(new AtriumError('offline', 'Not connected'));
    const id = randomId();
    return new Promise<ReplyTo<T>>((resolve, reject) => {
      const data = JSON.stringify({ v: PROTOCOL_VERSION, id, type, ...fields });
      // Answered by a frame of another type than the request's reply: the node and client disagree on the protocol.
      const answer = (frame: ServerFrame) =>
        isReplyTo(type, frame)
          ? resolve(frame)
          : reject(new AtriumError('unexpected_frame', `A ${frame.type} frame answered ${type}`));
      this.#pending.set(id, { resolve: answer, reject, timer: undefined, type, data, timeoutMs, order: this.#order++ });
      this.#queue.push(id);
      this.#drain();
    });
  }

  /** Sends what the pacer lets go now, and comes back when it lets the next one go. */
  #drain() {
    if (this.#drainTimer) return;
    const socket = this.#socket;
    while (this.#queue.length > 0 && socket && socket.readyState === 1) {
      const wait = this.#pacer.waitMs();
      if (wait > 0) {
        this.#drainTimer = setTimeout(() => {
          this.#drainTimer = undefined;
          this.#drain();
        }, wait);
        return;
      }
      const id = this.#queue.shift()!;
      const pending = this.#pending.get(id);
      if (!pending) continue;
      this.#pacer.spend();
      socket.send(pending.data);
      if (pending.timeoutMs > 0) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(id);
          pending.reject(new AtriumError('timeout', `No answer to ${pending.type} within ${pending.timeoutMs} ms`));
        }, pending.timeoutMs);
      }
    }
  }

  #refused(id: string, pending: Pending, retryAfterMs: number) {
    this.#pacer.pause(Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? retryAfterMs : 1000);
    const at = this.#queue.findIndex((queued) => (this.#pending.get(queued)?.order ?? Infinity) > pending.order);
    this.#queue.splice(at < 0 ? this.#queue.length : at, 0, id);
    this.#drain();
  }

  /**
   * Sends a message; resolves with the node's ack once it is durable. While offline the message waits
   * and goes out on reconnect with the same client id, so it is stored once however often it is sent.
   */
  send(input: SendInput): Promise<Ack> {
    const clientMsgId = input.clientMsgId ?? randomId();
    const { clientMsgId: _ignored, ...content } = input;
    return new Promise<Ack>((resolve, reject) => {
      const outgoing: Outgoing = { frame: { ...content, clientMsgId }, resolve, reject };
      this.#outbox.set(clientMsgId, outgoing);
      if (this.#state === 'online') this.#transmit(outgoing);
    });
  }

  /** Messages accepted but not yet acknowledged (shown as "sending" by a UI). */
  get unsent(): number {
    return this.#outbox.size;
  }

  #transmit(outgoing: Outgoing) {
    const clientMsgId = outgoing.frame.clientMsgId;
    this.request('send', outgoing.frame, this.options.sendRetryMs ?? 20_000).then(
      (ack) => {
        this.#outbox.delete(clientMsgId);
        // The sender already has its message from the ack: a later push of it is not news.
        this.#markSeen(ack.messageId);
        outgoing.resolve(this.#acked(ack));
      },
      (error: AtriumError) => {
        // Lost connections and failed stores are retried with the same id (a frame refused as one too
        // many is resent by request itself); refusals are final.
        if (['disconnected', 'offline', 'store_failed', 'timeout'].includes(error.code)) {
          if (error.code === 'store_failed')
            setTimeout(() => this.#state === 'online' && this.#transmit(outgoing), 1000);
          if (error.code === 'timeout' && this.#state === 'online' && this.#outbox.get(clientMsgId) === outgoing)
            this.#transmit(outgoing);
          return;
        }
        this.#outbox.delete(clientMsgId);
        outgoing.reject(error);
      },
    );
  }

  /**
   * Catches up: the conversations changed since the last sync and, in each, what the device missed; of
   * a conversation new to the device, or one it missed more than a page of, the latest page (`pageSize`)
   * and not the whole history: older entries come through `loadOlder` (a `gap` event tells of a hole
   * between what the device held and the latest page).
   */
  async sync(): Promise<{ conversations: Conversation[]; messages: Message[] }> {
    this.#syncing += 1;
    try {
      return await this.#syncAll();
    } finally {
      this.#syncing -= 1;
      if (this.#ahead.size > 0) this.#scheduleCatchUp();
      else this.#catchUpStreak = 0;
    }
  }

  async #syncAll(): Promise<{ conversations: Conversation[]; messages: Message[] }> {
    // Entries held past holes when the sync began are at most their conversation's last entry then.
    const holes = this.#ahead.highest();
    const conversations = new Map<string, Conversation>();
    const messages: Message[] = [];
    const since = this.#since;
    for (let page = 0; page < 1000; page++) {
      const asked = new Map(this.#cursors);
      const result = await this.#syncPage(since, asked);
      for (const c of result.conversations) conversations.set(c.id, this.#known(c));
      for (const m of result.messages) {
        messages.push(m);
        this.#accept(m);
      }
      this.#placeRuns(result, asked);
      for (const conversationId of result.removed ?? []) {
        this.#cursors.delete(conversationId);
        this.#ahead.forget(conversationId);
        this.#oldest.delete(conversationId);
        this.#gaps.delete(conversationId);
        this.#conversations.forget(conversationId);
        this.emit('removed', { conversationId });
      }
      if (result.more.length === 0) {
        this.#since = result.cursor;
        break;
      }
    }
    // The sync brought all there was for the person to see up to them. One it did not list at all (a
    // bot's conversation it may not read now) settles too, rather than be asked for at every push.
    for (const [conversationId, seq] of holes)
      if (this.#cursors.has(conversationId)) this.#advanceTo(conversationId, seq);
    for (const c of conversations.values()) this.emit('conversation', c);
    return { conversations: [...conversations.values()], messages };
  }

  async #syncPage(since: string | undefined, cursors: Map<string, number>): Promise<ReplyTo<'sync'>> {
    const fields = {
      ...(since ? { since } : {}),
      cursors: Object.fromEntries(cursors),
      recent: this.#pageSize,
    };
    if (this.#gapsRefused) return this.request('sync', fields);
    try {
      return await this.request('sync', { ...fields, gaps: true });
    } catch (error) {
      if (!(error instanceof AtriumError && error.code === 'invalid_input' && /\bgaps\b/.test(error.message)))
        throw error;
      this.#gapsRefused = true;
      return this.request('sync', fields);
    }
  }

  /**
   * Where the entries a sync page carried put the device: a conversation it held nothing of continues
   * from the view's last entry (later syncs go forward from there, not from the start), and pages back
   * from the first entry carried; a gap moves the cursor past the hole and is remembered. One it held a
   * cursor of is held up to the view's last entry too, what it carried or not: a sync sends all that
   * follows the cursor that the person may see (nothing from before someone was added back to a group).
   */
  #placeRuns(result: ReplyTo<'sync'>, asked: ReadonlyMap<string, number>) {
    const first = new Map<string, number>();
    for (const m of result.messages) if (!first.has(m.conversationId)) first.set(m.conversationId, m.seq);
    for (const c of result.conversations) {
      if (asked.has(c.id)) {
        if (!result.more.includes(c.id)) this.#advanceTo(c.id, c.lastSeq);
        continue;
      }
      this.#oldest.set(c.id, first.get(c.id) ?? c.lastSeq + 1);
      // Not all of its page came (`more`): the next page goes on from the last entry carried.
      if (!result.more.includes(c.id)) this.#cursors.set(c.id, Math.max(this.#cursors.get(c.id) ?? 0, c.lastSeq));
    }
    for (const gap of result.gaps ?? []) {
      const { conversationId, afterSeq, beforeSeq } = gap;
      const held = this.#gaps.get(conversationId);
      // A second gap before the first was filled: paging back through both ends where the older run began.
      const olderFrom = held ? held.olderFrom : this.#oldest.get(conversationId);
      this.#gaps.set(conversationId, { conversationId, afterSeq, beforeSeq, olderFrom });
      this.#oldest.set(conversationId, beforeSeq);
      this.#cursors.set(conversationId, Math.max(this.#cursors.get(conversationId) ?? 0, beforeSeq - 1));
      this.emit('gap', { conversationId, afterSeq, beforeSeq });
    }
  }

  /** Holes between what the device held and the latest page, by conversation, until `loadOlder` fills them. */
  get gaps(): ReadonlyMap<string, SyncGap> {
    return new Map([...this.#gaps].map(([id, { olderFrom: _, ...gap }]) => [id, gap]));
  }

  /** Whether the device holds a conversation back to the person's join (`loadOlder` has nothing more). */
  reachedBeginning(conversationId: string): boolean {
    const oldest = this.#oldest.get(conversationId);
    return oldest !== undefined && oldest <= (this.#conversations.joinedSeq(conversationId) ?? 0) + 1;
  }

  /**
   * The page of entries just before the oldest the device holds of a conversation without a hole (for
   * "load older" as the person scrolls back), newest first. Through a gap it pages down to where the
   * gap began and then on from where the entries held before it began, so nothing held is fetched again.
   */
  async loadOlder(conversationId: string, limit: number = this.#pageSize): Promise<OlderPage> {
    const joinedSeq = this.#conversations.joinedSeq(conversationId) ?? 0;
    const before = this.#oldest.get(conversationId);
    if (before !== undefined && before <= joinedSeq + 1) return { messages: [], beginning: true };
    const gap = this.#gaps.get(conversationId);
    const want = gap && before !== undefined ? Math.max(1, Math.min(limit, before - gap.afterSeq - 1)) : limit;
    const page = await this.history(conversationId, before, want);
    let oldest = page.messages.at(-1)?.seq ?? before ?? joinedSeq + 1;
    if (gap && this.#gaps.get(conversationId) === gap && oldest <= gap.afterSeq + 1) {
      this.#gaps.delete(conversationId);
      if (gap.olderFrom !== undefined) oldest = Math.min(oldest, gap.olderFrom);
    }
    if (!page.hasMore) oldest = Math.min(oldest, joinedSeq + 1);
    this.#oldest.set(conversationId, Math.min(this.#oldest.get(conversationId) ?? oldest, oldest));
    return { messages: page.messages, beginning: this.reachedBeginning(conversationId) };
  }

  async conversations(): Promise<Conversation[]> {
    return (await this.request('conversations.list')).conversations.map((c) => this.#known(c));
  }

  /**
   * A page of a conversation's members, in address order, after `after` (the `next` of the page before).
   * A group's view lists every member only up to the node's `VIEW_MEMBERS_MAX` (`members.length <
   * memberCount` says it does not): the rest are read this way, when they are needed.
   */
  async members(conversationId: string, after?: string, limit?: number): Promise<MembersPage> {
    const page = await this.request('members', {
      conversationId,
      ...(after ? { after } : {}),
      ...(limit ? { limit } : {}),
    });
    return {
      conversationId: page.conversationId,
      memberCount: page.memberCount,
      members: page.members,
      next: page.next,
    };
  }

  /**
   * Up to `limit` members whose address starts with `prefix` (what was typed after "@": the start of a
   * username), in address order: the node searches a big group's members, which a device does not hold.
   * A node before member search refuses it (`invalid_frame`).
   */
  async findMembers(conversationId: string, prefix: string, limit = 8): Promise<Member[]> {
    return (await this.request('members', { conversationId, query: prefix, limit })).members;
  }

  /** Every active member of a conversation, read page by page. */
  async allMembers(conversationId: string): Promise<Member[]> {
    const out: Member[] = [];
    let after: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await this.members(conversationId, after, 1000);
      out.push(...result.members);
      if (!result.next) break;
      after = result.next;
    }
    return out;
  }

  async openDirect(peer: string): Promise<Conversation> {
    return this.#answered((await this.request('direct.open', { peer })).conversation);
  }

  async history(
    conversationId: string,
    beforeSeq?: number,
    limit?: number,
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    const result = await this.request('history', {
      conversationId,
      ...(beforeSeq !== undefined ? { beforeSeq } : {}),
      ...(limit ? { limit } : {}),
    });
    return { messages: result.messages, hasMore: result.hasMore };
  }

  /**
   * Creates a group homed on this node, owned by this user; members may be of any domain. A create whose
   * answer is lost (the connection drops, or no answer comes in time) is sent again with the same client
   * id once the client is online, so it makes one group however often it goes out. A member list too long
   * for one frame goes in parts: the group is created with the first part and the rest are invited part
   * by part, so a group of thousands is made in one call; if a later part fails, the group exists with
   * the parts before it and the error says so.
   */
  async createGroup(title: string, members: string[] = [], clientId: string = randomId()): Promise<Conversation> {
    const [first = [], ...rest] = this.#parts({ type: 'group.create', title, clientId }, members);
    let group: Conversation | undefined;
    for (let attempt = 1; !group; attempt++) {
      try {
        group = this.#answered((await this.request('group.create', { title, members: first, clientId })).conversation);
      } catch (error) {
        if (attempt >= 5 || !(error instanceof AtriumError) || !RETRIED.has(error.code)) throw error;
        await this.#whenOnline(this.options.requestTimeoutMs);
      }
    }
    return rest.length === 0 ? group : this.#inviteParts(group.id, rest, first.length);
  }

  /** Splits a member list so that each part's frame (these other fields, and an id) stays within the node's limit. */
  #parts(fields: Record<string, unknown>, members: string[]): string[][] {
    const room =
      this.#maxFrameBytes -
      utf8Length(JSON.stringify({ v: PROTOCOL_VERSION, id: 'x'.repeat(24), ...fields, members: [] })) -
      64;
    const parts: string[][] = [[]];
    let used = 0;
    for (const address of members) {
      const size = utf8Length(address) + 3;
      if (used + size > room && parts.at(-1)!.length > 0) {
        parts.push([]);
        used = 0;
      }
      parts.at(-1)!.push(address);
      used += size;
    }
    return parts;
  }

  /**
   * Invites part after part. A part whose answer was lost (the connection dropped) is asked again once
   * online, for those of it the group does not hold yet, so nobody is invited twice.
   */
  async #inviteParts(conversationId: string, parts: string[][], before: number): Promise<Conversation> {
    let group: Conversation | undefined;
    let done = before;
    for (const part of parts) {
      let wanted = part;
      for (let attempt = 1; ; attempt++) {
        try {
          group = this.#answered(
            (await this.request('group.invite', { conversationId, members: wanted })).conversation,
          );
          break;
        } catch (error) {
          const lost = error instanceof AtriumError && RETRIED.has(error.code);
          if (!lost || attempt >= 5) {
            const atrium = error instanceof AtriumError ? error : new AtriumError('invite_failed', String(error));
            throw new AtriumError(
              atrium.code,
              `${atrium.message} (the group holds the first ${done} of the members asked for; invite the rest again)`,
              atrium.fields,
            );
          }
          await this.#whenOnline(this.options.requestTimeoutMs);
          const now = (await this.conversations()).find((c) => c.id === conversationId);
          // A big group's view lists only this user: who is in it already is read in pages.
          const listed =
            now && now.members.length < (now.memberCount ?? 0) ? await this.allMembers(conversationId) : now?.members;
          const present = new Set(listed?.map((m) => m.address));
          wanted = part.filter((a) => !present.has(a));
          if (wanted.length === 0 && now) {
            group = now;
            break;
          }
        }
      }
      done += part.length;
    }
    return group!;
  }

  /** Resolves once the client is online again; rejects with `offline` after `timeoutMs`. */
  async #whenOnline(timeoutMs: number): Promise<void> {
    if (this.#state === 'online') return;
    await this.once('state', (state) => state === 'online', timeoutMs).catch(() => {
      throw new AtriumError('offline', 'Not connected');
    });
  }

  async renameGroup(conversationId: string, title: string): Promise<Conversation> {
    return this.#answered((await this.request('group.rename', { conversationId, title })).conversation);
  }

  /** Invites people to a group; a list too long for one frame goes in parts (see `createGroup`). */
  async invite(conversationId: string, members: string[]): Promise<Conversation> {
    const parts = this.#parts({ type: 'group.invite', conversationId }, members);
    if (parts.length === 1)
      return this.#answered((await this.request('group.invite', { conversationId, members })).conversation);
    return this.#inviteParts(conversationId, parts, 0);
  }

  /** Leaves a group; resolves with the group as it is without this user. */
  async leave(conversationId: string): Promise<Conversation> {
    return this.#answered((await this.request('group.leave', { conversationId })).conversation);
  }

  async removeMember(conversationId: string, member: string): Promise<Conversation> {
    return this.#answered((await this.request('group.remove', { conversationId, member })).conversation);
  }

  async setRole(conversationId: string, member: string, role: 'owner' | 'admin' | 'member'): Promise<Conversation> {
    return this.#answered((await this.request('group.role', { conversationId, member, role })).conversation);
  }

  /** Takes back one of this user's messages; retrying with the same client id is acknowledged once. */
  async recall(messageId: string, clientMsgId: string = randomId()): Promise<Ack> {
    return this.#acked(await this.request('recall', { messageId, clientMsgId }));
  }

  /** Replaces the text of one of this user's messages; retrying with the same client id is acknowledged once. */
  async edit(messageId: string, text: string, clientMsgId: string = randomId()): Promise<Ack> {
    return this.#acked(await this.request('edit', { messageId, text, clientMsgId }));
  }

  /** Messages containing the text, newest first, from this user's conversations (or one of them). */
  async search(query: string, options: SearchOptions = {}): Promise<Message[]> {
    return (await this.request('search', { query, ...options })).messages;
  }

  /**
   * Uploads a file over HTTP with the same token as the socket; share it by passing its id in a message's
   * `attachments`. The HTTP base defaults to the socket URL's origin.
   */
  async upload(
    file: Blob | Uint8Array,
    name: string,
    contentType: string,
    httpBaseUrl: string = httpBaseOf(this.options.url),
  ): Promise<UploadedAttachment> {
    const response = await this.#http(httpBaseUrl, `/api/v1/attachments?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: file as BodyInit,
    });
    const uploaded = attachmentViewSchema.safeParse(await response.json().catch(() => undefined));
    if (!uploaded.success)
      throw new AtriumError('unexpected_response', 'The node answered the upload with something other than the file');
    return uploaded.data;
  }

  /**
   * This person's own files on the node, newest first, a page at a time (`before`: the `next` of the
   * page before), with what they take up and what the node lets one person keep (`quota`, null: no cap).
   */
  async listFiles(
    options: { limit?: number; before?: string } = {},
    httpBaseUrl: string = httpBaseOf(this.options.url),
  ): Promise<OwnFilesPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.before !== undefined) query.set('before', options.before);
    const response = await this.#http(httpBaseUrl, `/api/v1/attachments${query.size ? `?${query}` : ''}`);
    const page = ownFilesPageSchema.safeParse(await response.json().catch(() => undefined));
    if (!page.success)
      throw new AtriumError('unexpected_response', 'The node answered with something other than a list of files');
    return page.data;
  }

  /**
   * Deletes one of this person's own files from the node: it no longer counts against their storage, and
   * the messages that carried it show it as removed (`fileRemoved`), and this client emits `fileDeleted`.
   * Someone else's file is refused (`forbidden`); deleting one already deleted changes nothing.
   */
  async deleteFile(attachmentId: string, httpBaseUrl: string = httpBaseOf(this.options.url)): Promise<void> {
    await this.#http(httpBaseUrl, `/api/v1/attachments/${encodeURIComponent(attachmentId)}`, { method: 'DELETE' });
    this.emit('fileDeleted', { attachmentId });
  }

  /**
   * A request to the node's HTTP API with this client's token (the HTTP base defaults to the socket URL's
   * origin); a refusal becomes an AtriumError with the node's code.
   */
  async #http(httpBaseUrl: string, path: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(`${httpBaseUrl.replace(/\/$/, '')}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${await this.options.token()}`, ...(init.headers as Record<string, string>) },
    });
    if (response.ok) return response;
    const body = (await response.json().catch(() => ({}))) as {
      error?: { code: string; message: string; fields?: Record<string, string> };
    };
    throw new AtriumError(
      body.error?.code ?? `http_${response.status}`,
      body.error?.message ?? `The node answered HTTP ${response.status}`,
      body.error?.fields,
    );
  }

  async markRead(conversationId: string, seq: number): Promise<Receipt> {
    return this.#ownReceipt(await this.request('read', { conversationId, seq }));
  }

  async markDelivered(conversationId: string, seq: number): Promise<Receipt> {
    return this.#ownReceipt(await this.request('delivered', { conversationId, seq }));
  }

  /**
   * How many members besides this person have read up to each of `seqs` (at most 100), as the node
   * counts them, and how many members there are: "read by k of N" in a group whose view does not list
   * every member, where the receipts a device holds are only some of them.
   */
  async readCounts(conversationId: string, seqs: number[]): Promise<ReadCounts> {
    const { memberCount, counts } = await this.request('read.counts', { conversationId, seqs });
    return { conversationId, memberCount, counts };
  }

  /** One's own receipt, as the node answered it, is known at once (its push to this socket may come later). */
  #ownReceipt(receipt: Receipt): Receipt {
    this.#conversations.receipt(receipt, this.address);
    return receipt;
  }

  async typing(conversationId: string): Promise<void> {
    await this.request('typing', { conversationId });
  }

  async setPresence(status: 'online' | 'away'): Promise<void> {
    await this.request('presence.set', { status });
  }

  async presence(addresses: string[]): Promise<Presence[]> {
    return (await this.request('presence.query', { addresses })).presence;
  }

  /**
   * Clicks a card's button. The node asks the app (which may take a few seconds); when the app answers
   * with a new card, every member's devices receive a `card.update` message. Rejects with the app's failure.
   */
  async cardAction(messageId: string, actionId: string): Promise<CardActionResult> {
    return this.request('card.action', { messageId, actionId });
  }

  /** Creates an incoming webhook for a group (owner or admin); its URL holds a secret and is shown only now. */
  async createWebhook(conversationId: string, name: string): Promise<{ webhook: Webhook; url: string }> {
    const result = await this.request('webhook.create', { conversationId, name });
    return { webhook: result.webhook, url: String(result.url) };
  }

  async webhooks(conversationId: string): Promise<Webhook[]> {
    return (await this.request('webhook.list', { conversationId })).webhooks;
  }

  /** Revokes a webhook: its URL is refused from now on. */
  async revokeWebhook(webhookId: string): Promise<Webhook> {
    return (await this.request('webhook.revoke', { webhookId })).webhook;
  }

  /** Closes for good: no reconnect; unsent messages stay in `unsent` until connect() is called again. */
  close(): void {
    this.#stopped = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    if (this.#catchUpTimer) clearTimeout(this.#catchUpTimer);
    this.#catchUpTimer = undefined;
    this.#socket?.close(1000, 'client_closed');
    this.#setState('closed');
  }
}
