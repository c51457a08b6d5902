import { AppError } from '../../core/errors.ts';
import { userOf } from '../../protocol/address.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import type { Conversation } from '../models.ts';
import type { Connection } from '../ws/registry.ts';
import { chosenByBot } from './bot-reach.ts';
import type { BotIdentity } from './require-bot.ts';

type ConversationFacts = Pick<Conversation, 'kind' | 'createdBy' | 'directKey'>;

/** How many people a bot's read asks the gateway about at once (each answer is then kept: bot-reach.ts). */
const ASKED_AT_ONCE = 16;
/** How many conversations' facts the push gate keeps (they never change: who opened a direct one, with whom). */
const FACTS_KEPT = 10_000;

/**
 * Whether a bot may read a conversation it is a member of: by the rule it writes by (bot-reach.ts). A direct
 * conversation the bot opened is the app's reaching out, read only while the app is for the other person;
 * what people let it into (a group someone invited it to, a direct conversation a person opened with it)
 * it always reads. The person's own copy is never touched: the bot merely stops reading it. While the
 * gateway cannot be asked, its last answer since the app's latest change stands, as for the bot's token.
 */
export async function botMayRead(
  services: Pick<NodeServices, 'apps'>,
  bot: BotIdentity,
  conversation: ConversationFacts,
): Promise<boolean> {
  const peer = chosenByBot(conversation, bot);
  return !peer || services.apps.reach.isFor(bot.slug, userOf(peer), { lastIfAway: true });
}

/** A bot asked to read a direct conversation it opened with someone its app is no longer for. */
export class NotReadableByBotError extends AppError {
  constructor(bot: string, peer: string) {
    super(
      'forbidden',
      403,
      `The app of ${bot} is no longer for ${peer} (its unit, visibility units and roles leave them out): ` +
        'its bot may not read the conversation it opened with them',
      { fields: { conversationId: `${peer} is not one of the people this app is for` } },
    );
  }
}

/** Before the actor reads a conversation it is an active member of: people always may, a bot as botMayRead says. */
export async function assertMayRead(ctx: NodeContext, conversation: ConversationFacts): Promise<void> {
  const actor = ctx.actor;
  if (actor.kind !== 'app' || (await botMayRead(ctx, actor, conversation))) return;
  throw new NotReadableByBotError(actor.address, chosenByBot(conversation, actor)!);
}

/**
 * Of conversations the actor is a member of, those it may read: all of them for a person; for a bot, all
 * but the direct conversations it opened with people its app is no longer for (one question per person,
 * a few at a time, and mostly answered from what the node keeps).
 */
export async function readableByActor<C extends ConversationFacts>(ctx: NodeContext, conversations: C[]): Promise<C[]> {
  const bot = ctx.actor;
  if (bot.kind !== 'app') return conversations;
  const peers = [...new Set(conversations.map((c) => chosenByBot(c, bot)).filter((p) => p !== null))];
  const left = new Set<string>();
  for (let i = 0; i < peers.length; i += ASKED_AT_ONCE) {
    const slice = peers.slice(i, i + ASKED_AT_ONCE);
    const answers = await Promise.all(
      slice.map((peer) => ctx.apps.reach.isFor(bot.slug, userOf(peer), { lastIfAway: true })),
    );
    slice.forEach((peer, j) => {
      if (!answers[j]) left.add(peer);
    });
  }
  if (left.size === 0) return conversations;
  return conversations.filter((c) => !left.has(chosenByBot(c, bot) ?? ''));
}

/** The conversation a pushed frame is about (a message, a receipt, typing, a conversation's view), if any. */
function conversationOf(text: string): string | undefined {
  const frame = JSON.parse(text) as {
    conversationId?: unknown;
    message?: { conversationId?: unknown };
    conversation?: { id?: unknown };
  };
  const id = frame.conversationId ?? frame.message?.conversationId ?? frame.conversation?.id;
  return typeof id === 'string' ? id : undefined;
}

/** Hands a frame pushed to a socket on to it (`write`), or holds it back. */
export type PushGate = (connection: Connection, text: string, write: () => void) => void;

/**
 * What is pushed to a bot's sockets (new messages, receipts, typing, conversation views) follows its reads:
 * nothing of a conversation it may not read (botMayRead) reaches it. People's sockets are not concerned.
 * A bot socket's frames are checked one after another, so they keep their order; one whose conversation
 * cannot be judged (the gateway away, nothing known of the person) is held back, and the bot gets it with
 * its next sync, from its cursor, once it may.
 */
export function botPushGate(services: Pick<NodeServices, 'apps' | 'models' | 'logger'>): PushGate {
  const facts = new Map<string, ConversationFacts>();
  const queues = new WeakMap<Connection, (() => Promise<void>)[]>();

  async function factsOf(conversationId: string): Promise<ConversationFacts | null> {
    const kept = facts.get(conversationId);
    if (kept) return kept;
    const found = await services.models.Conversation.findByPk(conversationId, {
      attributes: ['kind', 'createdBy', 'directKey'],
    });
    if (!found) return null;
    const known = { kind: found.kind, createdBy: found.createdBy, directKey: found.directKey };
    if (facts.size >= FACTS_KEPT) facts.delete(facts.keys().next().value!);
    facts.set(conversationId, known);
    return known;
  }

  async function mayHear(bot: BotIdentity, text: string): Promise<boolean> {
    const conversationId = conversationOf(text);
    const conversation = conversationId && (await factsOf(conversationId));
    return !conversation || botMayRead(services, bot, conversation);
  }

  async function drain(connection: Connection, bot: BotIdentity, queue: (() => Promise<void>)[]) {
    for (let task = queue.shift(); task; task = queue.shift()) {
      try {
        await task();
      } catch (err) {
        services.logger.warn(
          { err, bot: bot.address },
          'a frame held back from a bot: whether it may read it is unknown',
        );
      }
    }
    queues.delete(connection);
  }

  return (connection, text, write) => {
    const bot = connection.identity;
    if (bot?.kind !== 'app') return write();
    const task = async () => {
      if (await mayHear(bot, text)) write();
    };
    const queue = queues.get(connection);
    if (queue) return void queue.push(task);
    const fresh = [task];
    queues.set(connection, fresh);
    void drain(connection, bot, fresh);
  };
}
