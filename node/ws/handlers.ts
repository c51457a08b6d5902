import { AppError, ForbiddenError, RateLimitedError } from '../../core/errors.ts';
import { createTokenBucket, type TokenBucket } from '../../core/rate-limit.ts';
import { domainOf } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import { createGroup } from '../conversations/create-group.ts';
import { inviteMembers } from '../conversations/invite-members.ts';
import { leaveGroup } from '../conversations/leave-group.ts';
import { listConversations } from '../conversations/list-conversations.ts';
import { listMembers } from '../conversations/list-members.ts';
import { openDirect } from '../conversations/open-direct.ts';
import { presentForActor } from '../conversations/list-conversations.ts';
import { removeMember } from '../conversations/remove-member.ts';
import { renameGroup } from '../conversations/rename-group.ts';
import { setRole } from '../conversations/set-role.ts';
import type { Appended } from '../messages/group-commit.ts';
import { editMessage, recallMessage } from '../messages/recall-edit.ts';
import { searchMessages } from '../messages/search-messages.ts';
import { enqueueMessage } from '../messages/send-message.ts';
import { presentAck } from '../messages/present-message.ts';
import { history, sync } from '../messages/sync.ts';
import { announceTyping } from '../presence/typing.ts';
import { paceSearch, paceWrite } from '../limits/person-limits.ts';
import {
  serverFrame,
  type ClientFrameType,
  type Conversation,
  type FrameOf,
  type ReplyTo,
  type ServerFieldsOf,
  type ServerFrame,
  type ServerFrameType,
} from '../../protocol/frames.ts';
import { markReceipt } from '../receipts/mark-receipt.ts';
import { readCounts } from '../receipts/read-counts.ts';
import type { Connection, Registry } from './registry.ts';
import { cardAction } from '../cards/card-action.ts';
import { createWebhook, listWebhooks, revokeWebhook } from '../webhooks/manage-webhooks.ts';

/** A reply now, or one that follows later (a send is acknowledged once durable) without holding up the socket. */
export type HandlerResult = ServerFrame | { deferred: Promise<ServerFrame> };

export type SocketSession = {
  ctx: NodeContext;
  connection: Connection;
  registry: Registry;
  /** How many more addresses the socket may start watching (`presence.query`); made at its first query. */
  presenceAllowance?: TokenBucket;
  setStatus(status: 'online' | 'away'): Promise<void>;
};

/** A handler answers its frame with the reply its type has (protocol/server-frames.ts, REPLY_TYPES), now or deferred. */
type Handler<T extends ClientFrameType> = (
  session: SocketSession,
  frame: FrameOf<T>,
) => Promise<ReplyTo<T> | { deferred: Promise<ReplyTo<T>> }>;
export type Handlers = { [T in Exclude<ClientFrameType, 'auth'>]?: Handler<T> };

/**
 * Addresses a socket may start watching: two full queries at once (a page naming every peer on its list
 * when it connects), then 10 a second. A device names again the people it watches whenever its list
 * grows, and those cost nothing; queries of ever new addresses, each of another domain's a question to
 * that domain's node, are held to this pace whatever the socket's frame allowance.
 */
export const PRESENCE_WATCH_BURST = 1_000;
export const PRESENCE_WATCHES_PER_SECOND = 10;

const reply = <T extends ServerFrameType>(frame: { id: string }, type: T, fields: ServerFieldsOf<T>) =>
  serverFrame(type, fields, frame.id);

/** Every entry a client adds to a conversation (send, recall, edit) is acknowledged the same way. */
const ack = (frame: { id: string }, appended: Appended) => reply(frame, 'ack', presentAck(appended));

const conversationReply = (frame: { id: string }, conversation: Conversation) =>
  reply(frame, 'conversation', { conversation });

export const handlers: Handlers = {
  async ping(_s, frame) {
    return reply(frame, 'pong', { serverTime: new Date().toISOString() });
  },

  async send(session, frame) {
    paceWrite(session.ctx);
    const { durable } = await enqueueMessage(session.ctx, frame);
    return { deferred: durable.then((appended) => ack(frame, appended)) };
  },

  // Deferred like a send: waiting for the commit (or a remote home's answer) must not hold up the socket.
  async recall(session, frame) {
    paceWrite(session.ctx);
    return { deferred: recallMessage(session.ctx, frame).then((appended) => ack(frame, appended)) };
  },

  async edit(session, frame) {
    paceWrite(session.ctx);
    return { deferred: editMessage(session.ctx, frame).then((appended) => ack(frame, appended)) };
  },

  async search(session, frame) {
    await paceSearch(session.ctx);
    return reply(frame, 'search.result', { ...(await searchMessages(session.ctx, frame)) });
  },

  async 'direct.open'(session, frame) {
    const { conversation } = await openDirect(session.ctx, frame.peer);
    const [presented] = await presentForActor(session.ctx, [conversation]);
    return conversationReply(frame, presented!);
  },

  async 'group.create'(session, frame) {
    return conversationReply(frame, await createGroup(session.ctx, frame));
  },

  // Each change of a group is an entry its members see, paced as messages are.
  async 'group.rename'(session, frame) {
    paceWrite(session.ctx);
    return conversationReply(frame, await renameGroup(session.ctx, frame));
  },

  async 'group.invite'(session, frame) {
    paceWrite(session.ctx);
    return conversationReply(frame, await inviteMembers(session.ctx, frame));
  },

  async 'group.leave'(session, frame) {
    return conversationReply(frame, await leaveGroup(session.ctx, frame));
  },

  async 'group.remove'(session, frame) {
    paceWrite(session.ctx);
    return conversationReply(frame, await removeMember(session.ctx, frame));
  },

  async 'group.role'(session, frame) {
    paceWrite(session.ctx);
    return conversationReply(frame, await setRole(session.ctx, frame));
  },

  async sync(session, frame) {
    return reply(frame, 'sync.result', { ...(await sync(session.ctx, frame)) });
  },

  async history(session, frame) {
    return reply(frame, 'history.result', {
      conversationId: frame.conversationId,
      ...(await history(session.ctx, frame)),
    });
  },

  async 'conversations.list'(session, frame) {
    return reply(frame, 'conversations', { conversations: await listConversations(session.ctx) });
  },

  async members(session, frame) {
    return reply(frame, 'members.result', { ...(await listMembers(session.ctx, frame)) });
  },

  async read(session, frame) {
    return reply(frame, 'receipt', { ...(await markReceipt(session.ctx, 'read', frame)) });
  },

  async 'read.counts'(session, frame) {
    return reply(frame, 'read.counts.result', { ...(await readCounts(session.ctx, frame)) });
  },

  async delivered(session, frame) {
    return reply(frame, 'receipt', { ...(await markReceipt(session.ctx, 'delivered', frame)) });
  },

  // Typing is best-effort: frames closer together than the interval are accepted but not relayed.
  async typing(session, frame) {
    await announceTyping(session.ctx, frame.conversationId);
    return reply(frame, 'ok', {});
  },

  async 'presence.set'(session, frame) {
    await session.setStatus(frame.status);
    return reply(frame, 'ok', {});
  },

  // People of this domain from its presence store; those of other domains from their nodes (docs/federation.md).
  async 'presence.query'(session, frame) {
    const { ctx, connection } = session;
    const fresh = new Set(frame.addresses.filter((a) => !connection.watching.has(a))).size;
    session.presenceAllowance ??= createTokenBucket({
      ratePerSecond: PRESENCE_WATCHES_PER_SECOND,
      burst: PRESENCE_WATCH_BURST,
      now: ctx.clock.now,
    });
    const { allowed, retryAfterMs } = session.presenceAllowance.take(fresh);
    if (!allowed)
      throw new RateLimitedError(
        Math.ceil(retryAfterMs / 1000),
        `Too many new addresses to watch: ${PRESENCE_WATCH_BURST} at once, then ${PRESENCE_WATCHES_PER_SECOND} a second`,
      );
    session.registry.watch(connection, frame.addresses);
    const own = frame.addresses.filter((a) => domainOf(a) === ctx.domain);
    const [mine, theirs] = await Promise.all([ctx.presence.get(own), ctx.federation.presence.query(frame.addresses)]);
    return reply(frame, 'presence.result', { presence: [...mine, ...theirs] });
  },

  // Deferred: the app's answer may take seconds, and the socket must keep moving meanwhile.
  async 'card.action'(session, frame) {
    return { deferred: cardAction(session.ctx, frame).then((result) => reply(frame, 'card.result', result)) };
  },

  async 'webhook.create'(session, frame) {
    return reply(frame, 'webhook', { ...(await createWebhook(session.ctx, frame)) });
  },

  async 'webhook.list'(session, frame) {
    return reply(frame, 'webhooks', { webhooks: await listWebhooks(session.ctx, frame) });
  },

  async 'webhook.revoke'(session, frame) {
    return reply(frame, 'webhook', { webhook: await revokeWebhook(session.ctx, frame) });
  },
};

/** What a bot may do on a socket: read. It posts through the HTTP bot API, where its messages carry its app's name. */
const BOT_FRAMES = new Set<string>(['ping', 'sync', 'history', 'conversations.list', 'members']);
for (const type of Object.keys(handlers) as (keyof Handlers)[]) {
  if (BOT_FRAMES.has(type)) continue;
  const handler = handlers[type] as (s: SocketSession, f: never) => Promise<HandlerResult>;
  (handlers as Record<string, unknown>)[type] = async (session: SocketSession, frame: never) => {
    if (session.ctx.actor.kind === 'app')
      throw new ForbiddenError('A bot reads on a socket and posts through /api/v1/bot/messages');
    return handler(session, frame);
  };
}

export function isDeferred(result: HandlerResult): result is { deferred: Promise<ServerFrame> } {
  return 'deferred' in result;
}

export class UnsupportedFrameError extends AppError {
  constructor(type: string) {
    super('unsupported_type', 400, `Frame type ${type} is not supported by this node`);
  }
}
