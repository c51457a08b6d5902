import { Op } from 'sequelize';
import { z } from 'zod';
import { ForbiddenError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema, domainOf } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import { NotMemberError } from '../conversations/membership.ts';
import { openDirect } from '../conversations/open-direct.ts';
import { bodyFits, CLIENT_MSG_ID, MAX_TEXT_CHARS, messageContentSchema } from '../../protocol/frames.ts';
import { BodyTooLargeError, type Appended } from './group-commit.ts';
import type { MessageBody } from './present-message.ts';

export const sendSchema = z
  .object({
    clientMsgId: z.string().regex(CLIENT_MSG_ID, { message: '8-64 letters, digits, - or _' }),
    conversationId: z.string().uuid().optional(),
    to: addressSchema.optional(),
    ...messageContentSchema.shape,
  })
  .refine((s) => Boolean(s.conversationId) !== Boolean(s.to), {
    message: 'give either conversationId or to',
    path: ['conversationId'],
  });

export type SendInput = z.input<typeof sendSchema>;
type SendData = z.output<typeof sendSchema>;

// zod's own pattern for `.uuid()`: the check below accepts exactly what the schema accepts.
const UUID = z.regexes.uuid();

/**
 * The common send (text into a conversation, every field valid) read without the schema; undefined for
 * anything else, which the schema then judges and refuses with its field errors. Like the schema it
 * ignores fields it does not know (a socket frame's `v`, `id`, `type`). A socket's send frame has passed
 * the frame schema, or its hand-made twin, already: checking it all again with zod was a cost per message.
 */
function plainSend(input: unknown): SendData | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const { clientMsgId, conversationId, to, text, mentions, attachments } = input as Record<string, unknown>;
  if (to !== undefined || mentions !== undefined || attachments !== undefined) return undefined;
  if (typeof clientMsgId !== 'string' || !CLIENT_MSG_ID.test(clientMsgId)) return undefined;
  if (typeof conversationId !== 'string' || !UUID.test(conversationId)) return undefined;
  if (text === undefined) return { clientMsgId, conversationId };
  if (typeof text !== 'string' || text.length > MAX_TEXT_CHARS) return undefined;
  return { clientMsgId, conversationId, text };
}
export type SendOptions = {
  /** A remote sender's files, as their node described them (the home orders the message; the files stay there). */
  sharedFromSendersNode?: NonNullable<MessageBody['attachments']>;
};

/**
 * Sends a text message (with mentions and attachments) into a conversation the actor belongs to, or to
 * a person directly. Resolves once the message is queued for the next group commit; `durable` resolves
 * once it is committed (a retried client id resolves to the first message). Queueing in the order sends
 * arrive keeps one device's messages in its order.
 */
export async function enqueueMessage(
  ctx: NodeContext,
  input: unknown,
  options: SendOptions = {},
): Promise<{ durable: Promise<Appended> }> {
  const data = plainSend(input) ?? parseInput(sendSchema, input);
  if (!data.text?.trim() && !data.attachments?.length && !options.sharedFromSendersNode?.length) {
    throw new ValidationError('Some fields are invalid', { text: 'a message needs text or an attachment' });
  }
  if (data.text && data.text.length > ctx.config.maxTextChars) {
    const most = ctx.config.maxTextChars.toLocaleString('en');
    throw new ValidationError(`The message is too long (at most ${most} characters)`, {
      text: `at most ${most} characters`,
    });
  }
  const conversationId = data.conversationId ?? (await openDirect(ctx, data.to!, 'to')).conversation.id;
  // A cached conversation is answered without a promise (bench/node: the awaits of one check after
  // another were a tenth of what a send allocated).
  const conversation = ctx.members.peek(conversationId) ?? (await ctx.members.entry(conversationId));
  if (!conversation.members.has(ctx.actor.address)) throw new NotMemberError();
  const members = conversation.members;
  // Refused only when nothing could carry it: a group this node orders goes to the members it can reach.
  const needed = ctx.federation.policy.mustReach(conversationId, conversation);
  if (needed.length > 0) await ctx.federation.policy.assertAllowedDomains(needed);
  // A direct conversation's other person may have moved to another college (conversations/moved-peers.ts).
  const moved = ctx.movedPeers.refuseIfMoved(conversationId, members, ctx.actor.address);
  if (moved) await moved;

  const body: MessageBody = {};
  if (data.text) body.text = data.text;
  if (data.mentions?.length) {
    const { Member } = ctx.models;
    const members = await Member.findAll({
      where: { conversationId, address: { [Op.in]: data.mentions }, state: 'active' },
      attributes: ['address'],
    });
    body.mentions = members.map((m) => m.address);
  }
  // Files stay on their uploader's node (this one), bound to the conversation; members of other domains
  // fetch them here through their own node, wherever the conversation is hosted.
  if (data.attachments?.length) {
    const ids = [...new Set(data.attachments)];
    body.attachments = await shareableFiles(ctx, conversationId, ids);
    // Checked before the files are bound (the committer checks again): a message refused as too large
    // leaves them as they were, and an unshared one can go in a shorter message, anywhere.
    if (!bodyFits(JSON.stringify(body))) throw new BodyTooLargeError();
    await bindFiles(ctx, conversationId, ids);
  } else if (options.sharedFromSendersNode?.length)
    body.attachments = await notHeldHere(ctx, options.sharedFromSendersNode);
  const home = conversation.home;
  if (home && home !== ctx.domain)
    return { durable: submitToHome(ctx, home, conversationId, data.clientMsgId, body, [...members]) };

  const durable = ctx.committer.append({
    conversationId,
    sender: ctx.actor.address,
    clientMsgId: data.clientMsgId,
    kind: 'text',
    body: JSON.stringify(body),
    ...(ctx.connectionId ? { origin: ctx.connectionId } : {}),
  });
  return { durable };
}

export async function sendMessage(ctx: NodeContext, input: unknown, options: SendOptions = {}): Promise<Appended> {
  return (await enqueueMessage(ctx, input, options)).durable;
}

/** The home of the conversation orders the message; the local copy arrives back through federation. */
async function submitToHome(
  ctx: NodeContext,
  home: string,
  conversationId: string,
  clientMsgId: string,
  body: MessageBody,
  members: string[],
): Promise<Appended> {
  const peer = members.find((a) => domainOf(a) === home);
  const ack = await ctx.federation.home.submit(home, {
    conversationId,
    sender: ctx.actor.address,
    clientMsgId,
    kind: 'text',
    body: JSON.stringify(body),
    ...(peer ? { peer } : {}),
  });
  const message = ctx.models.Message.build(
    {
      conversationId,
      seq: ack.seq,
      id: ack.messageId,
      sender: ctx.actor.address,
      clientMsgId,
      kind: 'text',
      body: JSON.stringify(body),
      refId: null,
      createdAt: new Date(ack.at),
      editedAt: null,
      recalledAt: null,
    },
    { isNewRecord: false },
  );
  return { message, duplicate: ack.duplicate };
}

/**
 * A remote sender's files are on their own node. One held here is a person's of this node, which the
 * sender never had: named in their message, it would count as shared still after its uploader recalled it.
 */
async function notHeldHere(
  ctx: NodeContext,
  files: NonNullable<MessageBody['attachments']>,
): Promise<NonNullable<MessageBody['attachments']>> {
  const held = await ctx.models.Attachment.count({ where: { id: { [Op.in]: files.map((f) => f.id) } } });
  if (held > 0) throw new ForbiddenError('An attachment is unknown, or not yours to share here');
  return files;
}

/** An upload that is not there to share: perhaps never shared in time, and so deleted (sweep-unshared.ts). */
function unknownAttachment(ctx: NodeContext): ForbiddenError {
  const hours = ctx.config.attachments.unsharedKeepHours;
  return new ForbiddenError(
    `An attachment is unknown, or not yours to share here; a file not sent in a message within ${hours} hours of its upload is deleted, so upload it again`,
  );
}

/** Attachments must be the sender's own uploads, not yet shared elsewhere: how the message describes them. */
async function shareableFiles(
  ctx: NodeContext,
  conversationId: string,
  ids: string[],
): Promise<NonNullable<MessageBody['attachments']>> {
  const found = await ctx.models.Attachment.findAll({ where: { id: { [Op.in]: ids } } });
  const usable = new Map(
    found
      .filter(
        (a) => a.owner === ctx.actor.address && (a.conversationId === null || a.conversationId === conversationId),
      )
      .map((a) => [a.id, a]),
  );
  if (usable.size !== ids.length) throw unknownAttachment(ctx);
  // In the sender's order, not the database's: the message shows its files as they were attached.
  return ids.map((id) => {
    const a = usable.get(id)!;
    return { id: a.id, name: a.name, contentType: a.contentType, size: a.size };
  });
}

/**
 * Sharing binds the files to the conversation, and notes when they were named: should the send fail
 * from here on, no message carries them, and the sweep deletes them (sweep-uncarried.ts); a send naming
 * them again puts that off. Binds only what is still unbound or bound here: if a concurrent send took one
 * into another conversation meanwhile, or a sweep deleted one, refuses rather than share it twice or
 * share a file that is gone.
 */
async function bindFiles(ctx: NodeContext, conversationId: string, ids: string[]): Promise<void> {
  const { Attachment } = ctx.models;
  const mine = { id: { [Op.in]: ids }, owner: ctx.actor.address };
  const [bound] = await Attachment.update(
    { conversationId, unconfirmedSince: new Date() },
    { where: { ...mine, [Op.or]: [{ conversationId: null }, { conversationId }] } },
  );
  if (bound === ids.length) return;
  // MariaDB counts only the rows an update changed: one named by two sends in the same millisecond was not.
  if ((await Attachment.count({ where: { ...mine, conversationId } })) === ids.length) return;
  if ((await Attachment.count({ where: mine })) < ids.length) throw unknownAttachment(ctx);
  throw new ForbiddenError('An attachment was just shared into another conversation');
}
