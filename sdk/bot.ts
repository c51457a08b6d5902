import * as z from 'zod';
import { ackSchema, conversationViewSchema, messageSchema } from '../protocol/frames.ts';
import { AtriumError, type Ack, type Card, type Conversation, type Message } from './types.ts';

const meSchema = z.object({ address: z.string(), kind: z.string(), domain: z.string() });
const conversationsSchema = z.object({ conversations: z.array(conversationViewSchema) });
const historySchema = z.object({ messages: z.array(messageSchema), hasMore: z.boolean() });

export type BotOptions = {
  /** The node's base URL, e.g. http://localhost:4201 */
  nodeUrl: string;
  /** A current client-credentials access token of the app for this node (resource = the node's URL, scope im). */
  token: () => string | Promise<string>;
  fetch?: typeof fetch;
  /**
   * The longest a call waits when the node says the bot is writing too often (429 `rate_limited`): it
   * waits as long as the node's Retry-After says, then tries once more. A longer wait, or a second
   * refusal, rejects with `rate_limited` and `retryAfterMs`. Default 60 000 (the node counts per minute);
   * 0 never waits.
   */
  maxRateLimitWaitMs?: number;
};

/** What a node's 429 is taken to ask when it says no Retry-After (every node answer does): a whole window. */
const RETRY_AFTER_FALLBACK_MS = 60_000;

/** Retry-After in milliseconds: seconds, or an HTTP date (as RFC 9110 allows either). */
function retryAfterMsOf(response: Response): number {
  const header = response.headers.get('retry-after')?.trim();
  if (!header) return RETRY_AFTER_FALLBACK_MS;
  if (/^\d+$/.test(header)) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? RETRY_AFTER_FALLBACK_MS : Math.max(0, at - Date.now());
}

export type BotPost = { to: string; conversationId?: undefined } | { conversationId: string; to?: undefined };

/**
 * An app's bot on one node, over HTTP (a bot may also read live on a socket: AtriumClient with its token): post text or cards to people or to the
 * groups it was invited to, update its cards, edit and recall its messages, read its conversations. Errors reject with the node's code.
 * Told it writes too often (429), a call waits as the node says and tries once more (maxRateLimitWaitMs).
 */
export class AtriumBot {
  readonly options: BotOptions;

  constructor(options: BotOptions) {
    this.options = options;
  }

  /**
   * Calls the bot API; its answer is checked against the schema of what the node answers there. A 429
   * stored nothing, so the call waits as told and is sent once more (maxRateLimitWaitMs).
   */
  async #call<T>(schema: z.ZodType<T>, method: string, path: string, body?: unknown): Promise<T> {
    let response = await this.#send(method, path, body);
    const waitMs = response.status === 429 ? retryAfterMsOf(response) : undefined;
    if (waitMs !== undefined && waitMs <= (this.options.maxRateLimitWaitMs ?? 60_000)) {
      await response.body?.cancel().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      response = await this.#send(method, path, body);
    }
    const parsed = (await response.json().catch(() => ({}))) as {
      error?: { code: string; message: string; fields?: Record<string, string> };
    };
    if (!response.ok)
      throw new AtriumError(
        parsed.error?.code ?? `http_${response.status}`,
        parsed.error?.message ?? `HTTP ${response.status}`,
        parsed.error?.fields,
        response.status === 429 ? retryAfterMsOf(response) : undefined,
      );
    const answer = schema.safeParse(parsed);
    if (!answer.success)
      throw new AtriumError(
        'unexpected_response',
        `The node's answer to ${method} ${path} is not what the bot API answers`,
      );
    return answer.data;
  }

  async #send(method: string, path: string, body?: unknown): Promise<Response> {
    const doFetch = this.options.fetch ?? fetch;
    return doFetch(`${this.options.nodeUrl.replace(/\/$/, '')}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.options.token()}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }

  /** Posts text to a person (a direct conversation bot↔person) or into a conversation; a clientMsgId makes a retry safe. */
  sendText(where: BotPost, text: string, clientMsgId?: string): Promise<Ack> {
    return this.#call(ackSchema, 'POST', '/bot/messages', { ...where, text, ...(clientMsgId ? { clientMsgId } : {}) });
  }

  /** Posts an interactive card; clicks on its actions reach the app's interaction callback URL. */
  sendCard(where: BotPost, card: Card, clientMsgId?: string): Promise<Ack> {
    return this.#call(ackSchema, 'POST', '/bot/messages', { ...where, card, ...(clientMsgId ? { clientMsgId } : {}) });
  }

  /** Replaces one of this bot's cards for everyone in its conversation. */
  updateCard(messageId: string, card: Card, clientMsgId?: string): Promise<Ack> {
    return this.#call(ackSchema, 'PATCH', `/bot/messages/${encodeURIComponent(messageId)}`, {
      card,
      ...(clientMsgId ? { clientMsgId } : {}),
    });
  }

  /**
   * Replaces the text of one of this bot's text messages for everyone (an `edit` entry). Sent again with
   * the same clientMsgId, or without one to the text the message already shows, it answers the earlier
   * edit (`duplicate: true`) instead of editing twice.
   */
  editText(messageId: string, text: string, clientMsgId?: string): Promise<Ack> {
    return this.#call(ackSchema, 'PATCH', `/bot/messages/${encodeURIComponent(messageId)}`, {
      text,
      ...(clientMsgId ? { clientMsgId } : {}),
    });
  }

  /**
   * Takes back one of this bot's messages, text or card, for everyone (a `recall` entry), within the node's
   * recall window. Safe to send again: a message recalled already answers its recall (`duplicate: true`).
   */
  recall(messageId: string): Promise<Ack> {
    return this.#call(ackSchema, 'DELETE', `/bot/messages/${encodeURIComponent(messageId)}`);
  }

  async me(): Promise<{ address: string; kind: string; domain: string }> {
    return this.#call(meSchema, 'GET', '/me');
  }

  async conversations(): Promise<Conversation[]> {
    return (await this.#call(conversationsSchema, 'GET', '/conversations')).conversations;
  }

  history(
    conversationId: string,
    options: { before?: number; limit?: number } = {},
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    const query = new URLSearchParams();
    if (options.before !== undefined) query.set('before', String(options.before));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    return this.#call(
      historySchema,
      'GET',
      `/conversations/${encodeURIComponent(conversationId)}/messages${query.size ? `?${query}` : ''}`,
    );
  }
}
