import { z } from 'zod';
import { addressSchema } from './address.ts';
import { bodyFits, MAX_BODY_BYTES } from './client-frames.ts';

/*
 * What domain nodes send each other, request by request (docs/federation.md): the events of a
 * transaction, a submit, and the bodies of the other server-to-server requests. Every receiver parses
 * what it is sent against these schemas; requests are signed with signature.ts.
 */

const id = z.string().uuid();
const seq = z.number().int().min(0);
/** A message's stored body: what every node's database holds (MAX_BODY_BYTES). */
const body = z
  .string()
  .max(MAX_BODY_BYTES)
  .refine(bodyFits, { message: `at most ${MAX_BODY_BYTES} bytes of UTF-8` });

export const memberSnapshotSchema = z.object({
  address: addressSchema,
  role: z.enum(['owner', 'admin', 'member']),
  state: z.enum(['active', 'left', 'removed']),
  joinedSeq: seq,
});

export const conversationSnapshotSchema = z.object({
  id,
  kind: z.enum(['direct', 'group']),
  homeDomain: z.string().max(253),
  title: z.string().max(200).nullable(),
  // Every member row, those who left included: a group holds up to 10,000 active members.
  members: z.array(memberSnapshotSchema).max(50_000),
});

export const entrySchema = z.object({
  id,
  seq: seq.min(1),
  sender: addressSchema,
  clientMsgId: z.string().max(64),
  kind: z.string().max(16),
  body,
  refId: id.nullable(),
  createdAt: z.string().datetime(),
  editedAt: z.string().datetime().nullable(),
  recalledAt: z.string().datetime().nullable(),
});

/** What one domain tells another; see docs/federation.md for who may send which. */
export const federationEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('conversation'), conversation: conversationSnapshotSchema }),
  z.object({
    type: z.literal('entry'),
    conversationId: id,
    message: entrySchema,
    /** The target's state after an edit or recall, applied with the entry. */
    target: z
      .object({
        id,
        body,
        editedAt: z.string().datetime().nullable(),
        recalledAt: z.string().datetime().nullable(),
      })
      .optional(),
  }),
  z.object({ type: z.literal('receipt'), conversationId: id, address: addressSchema, readSeq: seq, deliveredSeq: seq }),
  /**
   * A person of the origin domain moved off it (the gateway's "Move their chat"): they chat at `to` now,
   * the same username at another domain. Sent by the domain left to the home of each group `from` is in;
   * the home checks it with the campus directory and puts `to` in `from`'s place (docs/federation.md).
   */
  z.object({ type: z.literal('moved'), from: addressSchema, to: addressSchema }),
]);

export type FederationEvent = z.infer<typeof federationEventSchema>;

export const transactionSchema = z.object({ events: z.array(federationEventSchema).min(1).max(500) });

export const submitSchema = z.object({
  conversationId: id,
  sender: addressSchema,
  clientMsgId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  kind: z.enum(['text', 'edit', 'recall', 'file.removed', 'leave']),
  body,
  refId: id.nullable().optional(),
  /** For a direct conversation the home does not know yet: its own member. */
  peer: addressSchema.optional(),
});

export type Submit = z.infer<typeof submitSchema>;

/** Presence of some of a domain's people, as that domain's node tells it. */
export const presenceListSchema = z
  .array(
    z.object({
      address: addressSchema,
      status: z.enum(['online', 'away', 'offline']),
      lastSeen: z.string().datetime({ offset: true }).nullable(),
    }),
  )
  .max(500);

/** Another domain asks about some of this domain's people (and hears of their changes for a while). */
export const presenceQuerySchema = z.object({ addresses: z.array(addressSchema).min(1).max(500) });

/** Another domain tells of changes of its people's presence. */
export const presenceChangedSchema = z.object({ presence: presenceListSchema });

/** The files a remote sender's message shares, as their node describes them (they stay on that node). */
export const sharedFilesSchema = z
  .array(
    z.object({
      id: z.string().uuid(),
      name: z.string().min(1).max(255),
      contentType: z.string().regex(/^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i),
      size: z.number().int().min(0),
    }),
  )
  .max(10);

/** A click on a card, by a person of the asking domain, for the card's home to send to the app. */
export const cardClickSchema = z.object({
  messageId: z.string().uuid(),
  actionId: z.string().min(1).max(64),
  user: z.object({ address: addressSchema, name: z.string().min(1).max(200) }),
});

/** What a node asks another about that one's own addresses (POST /federation/v1/addresses). */
export const addressQuerySchema = z.object({ addresses: z.array(addressSchema).min(1).max(5_000) });

/**
 * The answer: those of the addresses nobody has there, and those that are apps' bots there (which may be
 * neither owner nor admin of a group); a node before `bots` sent none.
 */
export const addressAnswerSchema = z.object({ unknown: z.array(z.string()), bots: z.array(z.string()).optional() });

/**
 * A home asks a domain holding copies of its conversations how far each copy goes, as it starts
 * (POST /federation/v1/highest-seqs): one restored from an older backup numbers past them.
 */
export const highestSeqsQuerySchema = z.object({ conversationIds: z.array(id).min(1).max(1_000) });

/** The answer: the highest seq held of each of those conversations held there whose home is the asking domain. */
export const highestSeqsAnswerSchema = z.object({ seqs: z.record(z.string(), seq.max(Number.MAX_SAFE_INTEGER)) });

/** Asks a file's node for it on behalf of a person of the asking domain. */
export const attachmentRequestSchema = z.object({ for: addressSchema });

export const typingSchema = z.object({ conversationId: id, address: addressSchema });

/** A home's answer to a submission: the entry as it stored it (POST /federation/v1/submit). */
export const submitAckSchema = z.object({
  messageId: z.string(),
  seq,
  at: z.string(),
  duplicate: z.boolean(),
});
export type SubmitAck = z.infer<typeof submitAckSchema>;

/** A home's answer to a card click it took for one of this node's people (POST /federation/v1/card-action). */
export const cardActionResultSchema = z.object({
  messageId: z.string(),
  actionId: z.string(),
  updated: z.boolean(),
  toast: z.string().optional(),
  seq: seq.optional(),
});
export type CardActionResult = z.infer<typeof cardActionResultSchema>;
