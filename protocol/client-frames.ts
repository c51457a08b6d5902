import * as z from 'zod';
import { plainName } from '../core/plain-names.ts';
import { addressSchema } from './address.ts';
import { searchTextSchema } from './search-query.ts';

/** Wire protocol version; a frame with another `v` is refused with `unsupported_version`. */
export const PROTOCOL_VERSION = 1;

const FRAME_ID_MAX = 64;
/** A client's id for its message: the key that makes a retried send idempotent. */
export const CLIENT_MSG_ID = /^[A-Za-z0-9_-]{8,64}$/;
/** The longest text of a message, in UTF-16 units (a string's length). */
export const MAX_TEXT_CHARS = 100_000;
/** How long after sending a sender may recall a message, where a node's `ready` does not say (`recallWindowSeconds`). */
export const DEFAULT_RECALL_WINDOW_SECONDS = 120;
/**
 * The largest stored body of a message (its JSON: text, mentions, files), in bytes of UTF-8: what a TEXT
 * column holds on MariaDB. It holds on every node, whatever its database, since a conversation's entries
 * are copied to its members' domains. A text within a node's `MAX_TEXT_CHARS` may still be over it (8,000
 * characters written as JSON escapes take 48,000 bytes; 30,000 in a script of three bytes a character,
 * 90,000), and is refused with `too_large`.
 */
export const MAX_BODY_BYTES = 65_535;

const utf8 = new TextEncoder();

/** Whether a body fits MAX_BODY_BYTES (encoded only when a long one might not: 3 bytes a UTF-16 unit at most). */
export function bodyFits(body: string): boolean {
  return body.length * 3 <= MAX_BODY_BYTES || utf8.encode(body).length <= MAX_BODY_BYTES;
}

// zod's own pattern for `.uuid()`, so that the fast check below accepts exactly what the schema accepts.
const UUID = z.regexes.uuid();

const frameId = z.string().min(1).max(FRAME_ID_MAX);
const conversationId = z.string().uuid({ message: 'a conversation id' });
const messageId = z.string().uuid({ message: 'a message id' });
const clientMsgId = z.string().regex(CLIENT_MSG_ID, { message: '8-64 letters, digits, - or _' });
const seq = z.number().int().min(0);

/** The most entries a `read.counts` frame asks about. */
export const READ_COUNTS_MAX = 100;

const base = { v: z.literal(PROTOCOL_VERSION, { message: `protocol version ${PROTOCOL_VERSION}` }), id: frameId };

/**
 * The start of the members' addresses a `members` request asks for (their username, or more of the
 * address): what someone has typed after "@". Lower-cased, as addresses are; at most a username's length.
 */
export const memberQuerySchema = z.string().trim().toLowerCase().min(1, { message: 'at least 1 character' }).max(64, {
  message: 'at most 64 characters',
});

/**
 * A group's title and a webhook's name show beside people's words: never a control or bidi character that
 * would show them (and what follows them) other than typed, nor only invisible characters (core/plain-names.ts).
 */
const groupTitle = plainName(z.string().trim().min(1).max(200));
const webhookName = plainName(z.string().trim().min(1).max(80));

export const messageContentSchema = z.object({
  text: z.string().max(MAX_TEXT_CHARS).optional(),
  mentions: z.array(addressSchema).max(100).optional(),
  attachments: z.array(z.string().uuid()).max(10).optional(),
});

/**
 * Every frame a client may send; anything else is refused at the edge. Strict: a field a frame type does not
 * have is refused by name (`invalid_input`), not dropped, so a client's typo (`conversationID`) or a field it
 * expects this node to know fails loudly instead of being quietly ignored.
 */
export const clientFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...base, type: z.literal('auth'), token: z.string().min(10).max(8192) }),
  z.strictObject({ ...base, type: z.literal('ping') }),
  z.strictObject({
    ...base,
    type: z.literal('send'),
    clientMsgId,
    conversationId: conversationId.optional(),
    to: addressSchema.optional(),
    ...messageContentSchema.shape,
  }),
  z.strictObject({ ...base, type: z.literal('direct.open'), peer: addressSchema }),
  z.strictObject({
    ...base,
    type: z.literal('group.create'),
    title: groupTitle,
    members: z.array(addressSchema).max(10_000),
    clientId: clientMsgId.optional(),
  }),
  z.strictObject({
    ...base,
    type: z.literal('group.rename'),
    conversationId,
    title: groupTitle,
  }),
  z.strictObject({
    ...base,
    type: z.literal('group.invite'),
    conversationId,
    members: z.array(addressSchema).min(1).max(10_000),
  }),
  z.strictObject({ ...base, type: z.literal('group.leave'), conversationId }),
  z.strictObject({ ...base, type: z.literal('group.remove'), conversationId, member: addressSchema }),
  z.strictObject({
    ...base,
    type: z.literal('group.role'),
    conversationId,
    member: addressSchema,
    role: z.enum(['owner', 'admin', 'member']),
  }),
  z.strictObject({
    ...base,
    type: z.literal('sync'),
    since: z.string().datetime({ offset: true }).optional(),
    cursors: z.record(z.string(), seq).optional(),
    limit: z.number().int().min(1).max(500).optional(),
    recent: z.number().int().min(0).max(500).optional(),
    /** The device takes the latest entries of a conversation it missed much of, and a gap (docs/protocol.md). */
    gaps: z.boolean().optional(),
  }),
  z.strictObject({
    ...base,
    type: z.literal('history'),
    conversationId,
    beforeSeq: seq.optional(),
    limit: z.number().int().min(1).max(200).optional(),
  }),
  z.strictObject({ ...base, type: z.literal('conversations.list') }),
  z.strictObject({
    ...base,
    type: z.literal('members'),
    conversationId,
    after: addressSchema.optional(),
    limit: z.number().int().min(1).max(1000).optional(),
    query: memberQuerySchema.optional(),
  }),
  z.strictObject({ ...base, type: z.literal('read'), conversationId, seq }),
  z.strictObject({
    ...base,
    type: z.literal('read.counts'),
    conversationId,
    seqs: z
      .array(seq.min(1, { message: 'at least 1' }))
      .min(1, { message: 'at least 1 seq' })
      .max(READ_COUNTS_MAX, { message: `at most ${READ_COUNTS_MAX} seqs` }),
  }),
  z.strictObject({ ...base, type: z.literal('delivered'), conversationId, seq }),
  z.strictObject({ ...base, type: z.literal('typing'), conversationId }),
  z.strictObject({ ...base, type: z.literal('presence.set'), status: z.enum(['online', 'away']) }),
  z.strictObject({ ...base, type: z.literal('presence.query'), addresses: z.array(addressSchema).min(1).max(500) }),
  z.strictObject({ ...base, type: z.literal('recall'), clientMsgId, messageId }),
  z.strictObject({ ...base, type: z.literal('edit'), clientMsgId, messageId, text: z.string().min(1).max(100_000) }),
  z.strictObject({
    ...base,
    type: z.literal('search'),
    query: searchTextSchema(200),
    conversationId: conversationId.optional(),
    limit: z.number().int().min(1).max(100).optional(),
  }),
  z.strictObject({ ...base, type: z.literal('card.action'), messageId, actionId: z.string().min(1).max(64) }),
  z.strictObject({
    ...base,
    type: z.literal('webhook.create'),
    conversationId,
    name: webhookName,
  }),
  z.strictObject({ ...base, type: z.literal('webhook.list'), conversationId }),
  z.strictObject({
    ...base,
    type: z.literal('webhook.revoke'),
    webhookId: z.string().regex(/^[a-f0-9]{16}$/, { message: 'a webhook id' }),
  }),
]);

export type ClientFrame = z.infer<typeof clientFrameSchema>;
export type ClientFrameType = ClientFrame['type'];
export type FrameOf<T extends ClientFrameType> = Extract<ClientFrame, { type: T }>;
/** What a client writes for a frame of type T, besides `v`, `id` and `type` (before the schema's trimming and lower-casing). */
export type ClientFieldsOf<T extends ClientFrameType> = Omit<
  Extract<z.input<typeof clientFrameSchema>, { type: T }>,
  'v' | 'id' | 'type'
>;

export type SendFrame = FrameOf<'send'>;

// The fields of the common send: text into a known conversation.
const PLAIN_SEND_KEYS = new Set(['v', 'id', 'type', 'clientMsgId', 'conversationId', 'text']);

/**
 * The frame itself when it is the common send (text into a conversation, every field valid), checked by
 * hand; undefined for anything else, which the schema then judges and refuses with its errors. It only
 * ever accepts what the schema accepts, and yields the same fields: the schema's checks of every send
 * frame were a tenth of the node's frame intake at its best direct-message rate (bench/node profile).
 */
export function plainSendFrame(raw: Record<string, unknown>): SendFrame | undefined {
  for (const key in raw) if (!PLAIN_SEND_KEYS.has(key)) return undefined;
  const { v, id, type, clientMsgId, conversationId, text } = raw;
  if (v !== PROTOCOL_VERSION || type !== 'send') return undefined;
  if (typeof id !== 'string' || id.length < 1 || id.length > FRAME_ID_MAX) return undefined;
  if (typeof clientMsgId !== 'string' || !CLIENT_MSG_ID.test(clientMsgId)) return undefined;
  if (typeof conversationId !== 'string' || !UUID.test(conversationId)) return undefined;
  if (text !== undefined && (typeof text !== 'string' || text.length > MAX_TEXT_CHARS)) return undefined;
  return raw as SendFrame;
}
