import { Op } from 'sequelize';
import { z } from 'zod';
import { ForbiddenError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema, domainOf } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import { NotMemberError } from '../conversations/membership.ts';
import { openDirect } from '../conversations/open-direct.ts';
import { CLIENT_MSG_ID, MAX_TEXT_CHARS, messageContentSchema } from '../../protocol/frames.ts';
import type { Appended } from './group-commit.ts';
import type { MessageBody } from './present-message.ts';

const sendSchema = z
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
  if (ctx.federation.policy.remoteDomains(members).length > 0) await ctx.federation.policy.assertAllowed(members);

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
  if (data.attachments?.length) body.attachments = await claimAttachments(ctx, conversationId, data.attachments);
  else if (options.sharedFromSendersNode?.length)
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

/** Attachments must be the sender's own uploads, not yet shared elsewhere; sharing binds them to this conversation. */
async function claimAttachments(
  ctx: NodeContext,
  conversationId: string,
  ids: string[],
): Promise<NonNullable<MessageBody['attachments']>> {
  const { Attachment } = ctx.models;
  const found = await Attachment.findAll({ where: { id: { [Op.in]: ids } } });
  const usable = found.filter(
    (a) => a.owner === ctx.actor.address && (a.conversationId === null || a.conversationId === conversationId),
  );
  if (usable.length !== new Set(ids).size) throw unknownAttachment(ctx);
  const unbound = usable.filter((a) => a.conversationId === null).map((a) => a.id);
  if (unbound.length > 0) {
    // Bind only what is still unbound; if a concurrent send took one meanwhile, or the sweep of unshared
    // uploads deleted one, refuse rather than share it twice or share a file that is gone.
    const [bound] = await Attachment.update(
      { conversationId },
      { where: { id: { [Op.in]: unbound }, conversationId: null } },
    );
    if (bound !== unbound.length) {
      if ((await Attachment.count({ where: { id: { [Op.in]: unbound } } })) < unbound.length)
        throw unknownAttachment(ctx);
      throw new ForbiddenError('An attachment was just shared into another conversation');
    }
  }
  return usable.map((a) => ({ id: a.id, name: a.name, contentType: a.contentType, size: a.size }));
}
