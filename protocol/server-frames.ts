import * as z from 'zod';
import { addressPattern } from './address.ts';
import { PROTOCOL_VERSION, type ClientFrameType } from './client-frames.ts';
import type { ErrorCode } from './error-codes.ts';

/*
 * Every frame a node sends to a device (docs/protocol.md). The node builds them typed against these
 * schemas and does not parse what it sends; clients parse what they receive. Objects are not strict: a
 * field a newer node adds is dropped by an older client, not refused ("Versioning").
 */

const isoTime = z.string().datetime({ offset: true });
const address = z.string().regex(addressPattern, { message: 'an address' });
const seq = z.number().int().min(0);

/** An interactive card as it appears in a message (docs/protocol.md, "Cards"): plain text, escaped by whoever draws it. */
export const cardViewSchema = z.object({
  title: z.string(),
  text: z.string().optional(),
  fields: z.array(z.object({ label: z.string(), value: z.string() })).optional(),
  actions: z
    .array(
      z.object({
        /** A button's: what a click sends back (`card.action`). A link may have none. */
        id: z.string().optional(),
        label: z.string(),
        style: z.enum(['primary', 'danger', 'default']).optional(),
        /** A link's (http or https): opened by the client, in a new tab; no click on it reaches the app. */
        url: z.string().optional(),
      }),
    )
    .optional(),
});

export const attachmentViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  contentType: z.string(),
  size: z.number().int().min(0),
  /**
   * The person who shared it deleted it (a `file.removed` entry): show that instead of offering it, as a
   * download answers 410 `attachment_removed`. Absent while it is there, and from a node before it.
   */
  removed: z.boolean().optional(),
});

/** One of the asker's own files on a node (`GET /api/v1/attachments`). */
export const ownFileSchema = z.object({
  id: z.string(),
  name: z.string(),
  contentType: z.string(),
  size: z.number().int().min(0),
  createdAt: isoTime,
  /** The conversation it was shared in (its `title` null for a direct one); null while it is not sent yet. */
  conversation: z
    .object({ id: z.string(), kind: z.enum(['direct', 'group']), title: z.string().nullable() })
    .nullable(),
});

/**
 * A page of the asker's own files, newest first, with what all of them take up (`used`, bytes) and what
 * one person may keep on the node (`quota`, bytes; null when it sets no cap). `next`: the `before` of the
 * next page (null: no more).
 */
export const ownFilesPageSchema = z.object({
  files: z.array(ownFileSchema),
  used: z.number().int().min(0),
  quota: z.number().int().min(0).nullable(),
  next: z.string().nullable(),
});

const memberRole = z.enum(['owner', 'admin', 'member']);

/**
 * The fields of a `system` entry by its `event` (docs/protocol.md, "Groups"), as clients draw them and
 * apply them to the group they know. `count`: how many it adds when `members` names only some of them.
 */
export const groupEventSchema = z.discriminatedUnion('event', [
  z.object({
    event: z.literal('group.created'),
    title: z.string(),
    members: z.array(address).optional(),
    count: z.number().int().min(0).optional(),
    by: address.optional(),
  }),
  z.object({ event: z.literal('group.renamed'), title: z.string(), by: address.optional() }),
  z.object({
    event: z.literal('member.joined'),
    members: z.array(address),
    count: z.number().int().min(0).optional(),
    by: address.optional(),
  }),
  z.object({
    event: z.literal('member.left'),
    members: z.array(address),
    by: address.optional(),
    owner: address.optional(),
  }),
  z.object({ event: z.literal('member.removed'), members: z.array(address), by: address.optional() }),
  z.object({ event: z.literal('member.role'), members: z.array(address), role: memberRole, by: address.optional() }),
  /** The one member named chats at `to` now (moved to another college): `to` takes their place and role. */
  z.object({ event: z.literal('member.moved'), members: z.array(address), to: address, by: address.optional() }),
]);

const GROUP_EVENTS = new Set<unknown>(groupEventSchema.options.map((option) => option.shape.event.value));
const GROUP_EVENT_FIELDS = ['event', 'by', 'members', 'count', 'title', 'owner', 'role', 'to'] as const;

/**
 * Whether an entry, as a device reads it, is a `system` entry of a known event whose fields break its
 * shape (a peer domain's home may relay anything). An event this version does not know is not judged: a
 * newer node's passes as it came.
 */
export function breaksGroupEvent(message: { kind?: unknown; event?: unknown }): boolean {
  return message.kind === 'system' && GROUP_EVENTS.has(message.event) && !groupEventSchema.safeParse(message).success;
}

/**
 * A system entry of a known event whose fields break its shape loses them: clients show it as a change
 * they cannot name and apply nothing of it, and the conversation still shows.
 */
function withReadableGroupEvent<M extends { kind: string; event?: string }>(message: M): M {
  if (!breaksGroupEvent(message)) return message;
  const neutral: Record<string, unknown> = { ...message };
  for (const field of GROUP_EVENT_FIELDS) delete neutral[field];
  return neutral as M;
}

/**
 * One entry of a conversation. Loose: an entry carries the fields of its kind (a `system` entry's
 * `members`, `title`, `owner`, `role`, checked by its `event`; a `delivery.failed` entry's `domain`,
 * `messageIds`, `reason`).
 */
const entryFields = z.looseObject({
  id: z.string(),
  conversationId: z.string(),
  seq,
  sender: address,
  clientMsgId: z.string(),
  /**
   * `text`, `system`, `edit`, `recall`, `file.removed`, `card`, `card.update`, `delivery.failed`,
   * `withheld`; clients ignore kinds they do not know.
   */
  kind: z.string(),
  refId: z.string().nullable(),
  text: z.string().optional(),
  mentions: z.array(address).optional(),
  attachments: z.array(attachmentViewSchema).optional(),
  card: cardViewSchema.optional(),
  event: z.string().optional(),
  /** Of a `file.removed` entry: the file its sender deleted from the message `refId` names. */
  attachmentId: z.string().optional(),
  /** The app's name on a bot's messages, the webhook's name on a webhook's. */
  senderName: z.string().optional(),
  senderKind: z.enum(['bot', 'webhook']).optional(),
  createdAt: isoTime,
  editedAt: isoTime.nullable(),
  recalledAt: isoTime.nullable(),
});

export const messageSchema = entryFields.transform(withReadableGroupEvent);

/**
 * A member of a conversation. `app`: an app's bot, not a person (it can be neither owner nor admin), with
 * its app's name (`appName`) to show in its place; the node marks the bots of the apps it may host at its
 * own domain. Absent for a person, and from a node before it.
 */
export const memberViewSchema = z.object({
  address,
  role: memberRole,
  readSeq: seq,
  deliveredSeq: seq,
  app: z.literal(true).optional(),
  appName: z.string().optional(),
});

/**
 * A conversation as one viewer sees it: their join, read position and unread count (and how many of
 * the unread mention them), how many active members it has and every one of them, or of a group beyond
 * the node's `VIEW_MEMBERS_MAX` only the viewer (`members.length < memberCount`: the rest come in pages,
 * `members`). A node before member pages sent no `memberCount`; its `members` is the whole list. A node
 * before `unreadMentions` sent none: a device knows only of the mentions among the entries it holds.
 */
export const conversationViewSchema = z.object({
  id: z.string(),
  kind: z.enum(['direct', 'group']),
  homeDomain: z.string(),
  title: z.string().nullable(),
  lastSeq: seq,
  updatedAt: isoTime,
  joinedSeq: seq,
  readSeq: seq,
  unread: z.number().int().min(0),
  unreadMentions: z.number().int().min(0).optional(),
  memberCount: z.number().int().min(0).optional(),
  members: z.array(memberViewSchema),
});

/** A page of a conversation's active members, in address order; `next` is the `after` of the next page (null: no more). */
export const membersPageSchema = z.object({
  conversationId: z.string(),
  memberCount: z.number().int().min(0),
  members: z.array(memberViewSchema),
  next: address.nullable(),
});

export const receiptSchema = z.object({ conversationId: z.string(), address, readSeq: seq, deliveredSeq: seq });
/**
 * How many members besides the asker have read up to `seq` or further, and how many active members there
 * are in all: "read by k of N" where a device does not hold every member's receipt (a big group).
 */
export const readCountsSchema = z.object({
  conversationId: z.string(),
  memberCount: z.number().int().min(0),
  counts: z.array(z.object({ seq, read: z.number().int().min(0) })),
});
export const presenceSchema = z.object({
  address,
  status: z.enum(['online', 'away', 'offline']),
  lastSeen: isoTime.nullable(),
});
/**
 * Someone is typing. In a group of more than 100 members the node tells it collapsed instead, at most
 * once per interval per conversation: `several: true`, `count` people typed since the last such frame,
 * `addresses` names up to 3 of them (the first is `address`), so a client can leave itself out.
 */
export const typingSchema = z.object({
  conversationId: z.string(),
  address,
  several: z.boolean().optional(),
  count: z.number().int().min(1).optional(),
  addresses: z.array(address).optional(),
});

/** What a sender is told of an entry it added (send, recall, edit; the bot API answers the same fields). */
export const ackSchema = z.object({
  messageId: z.string(),
  conversationId: z.string(),
  seq,
  at: isoTime,
  clientMsgId: z.string(),
  duplicate: z.boolean(),
});

export const cardActionResultSchema = z.object({
  messageId: z.string(),
  actionId: z.string(),
  updated: z.boolean(),
  toast: z.string().optional(),
  seq: seq.optional(),
});

export const webhookViewSchema = z.object({
  id: z.string(),
  conversationId: z.string(),
  name: z.string(),
  sender: address,
  createdBy: address,
  /** The app whose token made it for `createdBy` (its client id and name); null when made in the portal. */
  createdVia: z.object({ clientId: z.string(), name: z.string() }).nullable().optional(),
  createdAt: isoTime,
  revokedAt: isoTime.nullable(),
});

/**
 * The longest `retryAfterMs` of a `rate_limited` refusal that a client waits out by itself and then sends
 * the request again (the SDK does): what a socket's frame allowance and a person's message allowance name.
 * A longer wait (searches a minute, new groups an hour) is left to whoever made the request.
 */
export const LONGEST_WAITED_OUT_MS = 10_000;

/**
 * The code of an error frame. Its type is the list of codes this version sends (error-codes.ts); a code it
 * does not know (a newer node's, or one another domain's node answered and this node passed on) is still
 * read, so that the client can match the refusal to its request.
 */
const errorCode = z.custom<ErrorCode>((value) => typeof value === 'string' && value.length > 0, {
  message: 'an error code',
});

const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ v: z.literal(PROTOCOL_VERSION), type: z.literal(type), re: z.string().optional(), ...shape });

export const serverFrameSchema = z.discriminatedUnion('type', [
  // Replies (they carry `re`, the id of the client frame they answer).
  // A node before frame limits and pacing sent neither `maxFrameBytes` nor `rateLimit`: clients assume the
  // defaults. One before text limits sent no `maxTextChars`: clients assume the protocol's MAX_TEXT_CHARS;
  // one before it told its recall window sent no `recallWindowSeconds`: DEFAULT_RECALL_WINDOW_SECONDS;
  // one before it told its upload types sent no `attachmentTypes`: clients offer every file.
  frame('ready', {
    address,
    expiresAt: isoTime,
    serverTime: isoTime,
    maxFrameBytes: z.number().int().positive().optional(),
    maxTextChars: z.number().int().positive().optional(),
    recallWindowSeconds: z.number().int().positive().optional(),
    attachmentTypes: z.array(z.string()).optional(),
    rateLimit: z.object({ framesPerSecond: z.number().positive(), burst: z.number().positive() }).optional(),
  }),
  frame('pong', { serverTime: isoTime }),
  frame('ok', {}),
  frame('ack', ackSchema.shape),
  frame('error', {
    code: errorCode,
    message: z.string(),
    fields: z.record(z.string(), z.string()).optional(),
    retryAfterMs: z.number().min(0).optional(),
  }),
  frame('conversations', { conversations: z.array(conversationViewSchema) }),
  frame('sync.result', {
    conversations: z.array(conversationViewSchema),
    messages: z.array(messageSchema),
    more: z.array(z.string()),
    /** Of a sync with `gaps`: entries after `afterSeq` and before `beforeSeq` the device missed and did not get. */
    gaps: z.array(z.object({ conversationId: z.string(), afterSeq: seq, beforeSeq: seq })).optional(),
    /** Absent from a node before it told of conversations left. */
    removed: z.array(z.string()).optional(),
    cursor: isoTime,
  }),
  frame('history.result', { conversationId: z.string(), messages: z.array(messageSchema), hasMore: z.boolean() }),
  frame('search.result', { messages: z.array(messageSchema) }),
  frame('presence.result', { presence: z.array(presenceSchema) }),
  frame('members.result', membersPageSchema.shape),
  frame('read.counts.result', readCountsSchema.shape),
  frame('card.result', cardActionResultSchema.shape),
  frame('webhook', { webhook: webhookViewSchema, url: z.string().optional() }),
  frame('webhooks', { webhooks: z.array(webhookViewSchema) }),
  // Replies and pushed events alike.
  frame('conversation', { conversation: conversationViewSchema }),
  frame('receipt', receiptSchema.shape),
  // Pushed events (no `re`).
  frame('message', { message: messageSchema }),
  frame('receipts', { conversationId: z.string(), receipts: z.array(receiptSchema) }),
  frame('typing', typingSchema.shape),
  frame('presence', presenceSchema.shape),
  frame('delivery.failed', {
    messageId: z.string(),
    conversationId: z.string(),
    domain: z.string(),
    reason: z.string(),
  }),
  frame('auth.expiring', { expiresAt: isoTime }),
  frame('session.ended', {
    reason: z.enum([
      'signed_out',
      'access_ended',
      'left_domain',
      'app_access_removed',
      'domain_removed',
      'secret_rotated',
    ]),
  }),
]);

export type ServerFrame = z.infer<typeof serverFrameSchema>;
export type ServerFrameType = ServerFrame['type'];
export type ServerFrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>;
export type ServerFieldsOf<T extends ServerFrameType> = Omit<ServerFrameOf<T>, 'v' | 'type' | 're'>;

/** The frame that answers each client frame (an `error` frame may answer any of them). */
export const REPLY_TYPES = {
  auth: 'ready',
  ping: 'pong',
  send: 'ack',
  recall: 'ack',
  edit: 'ack',
  'direct.open': 'conversation',
  'group.create': 'conversation',
  'group.rename': 'conversation',
  'group.invite': 'conversation',
  'group.leave': 'conversation',
  'group.remove': 'conversation',
  'group.role': 'conversation',
  sync: 'sync.result',
  history: 'history.result',
  'conversations.list': 'conversations',
  members: 'members.result',
  read: 'receipt',
  'read.counts': 'read.counts.result',
  delivered: 'receipt',
  typing: 'ok',
  'presence.set': 'ok',
  'presence.query': 'presence.result',
  search: 'search.result',
  'card.action': 'card.result',
  'webhook.create': 'webhook',
  'webhook.list': 'webhooks',
  'webhook.revoke': 'webhook',
} as const satisfies Record<ClientFrameType, ServerFrameType>;

export type ReplyTo<T extends ClientFrameType> = ServerFrameOf<(typeof REPLY_TYPES)[T]>;

export function isReplyTo<T extends ClientFrameType>(request: T, frame: ServerFrame): frame is ReplyTo<T> {
  return frame.type === REPLY_TYPES[request];
}

/** A server frame, fields after `v`, `type` and `re` (the order the node has always written them in). */
export function serverFrame<T extends ServerFrameType>(
  type: T,
  fields: ServerFieldsOf<T>,
  re?: string,
): ServerFrameOf<T> {
  return { v: PROTOCOL_VERSION, type, ...(re ? { re } : {}), ...fields } as ServerFrameOf<T>;
}

export type Message = z.infer<typeof messageSchema>;
export type Card = z.infer<typeof cardViewSchema>;
export type Attachment = z.infer<typeof attachmentViewSchema>;
export type OwnFile = z.infer<typeof ownFileSchema>;
export type OwnFilesPage = z.infer<typeof ownFilesPageSchema>;
export type Member = z.infer<typeof memberViewSchema>;
export type MembersPage = z.infer<typeof membersPageSchema>;
export type Conversation = z.infer<typeof conversationViewSchema>;
export type Receipt = z.infer<typeof receiptSchema>;
export type ReadCounts = z.infer<typeof readCountsSchema>;
export type Presence = z.infer<typeof presenceSchema>;
export type Typing = z.infer<typeof typingSchema>;
export type Ack = z.infer<typeof ackSchema>;
export type CardActionResult = z.infer<typeof cardActionResultSchema>;
export type Webhook = z.infer<typeof webhookViewSchema>;
