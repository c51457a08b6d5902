import type { z } from 'zod';
import { AppError, NotFoundError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import {
  cardActionResultSchema,
  submitAckSchema,
  type CardActionResult,
  type Submit,
  type SubmitAck,
} from '../../protocol/federation-events.ts';
import { AttachmentRemovedError } from '../attachments/attachment-files.ts';
import { errorOf, unconfirmed, type ServedFile, type Transport } from './transport.ts';

export type { SubmitAck };

/**
 * What this node asks of another domain's node directly, answered at once (no outbox): entries submitted
 * to a conversation's home, files and card clicks held there, and typing, which crosses best-effort.
 */
export interface HomeCalls {
  /**
   * Sends a remote member's entry to the conversation's home, which orders it; resolves with its ack.
   * A person's entries to one conversation go one after another, so they keep their order there.
   */
  submit(home: string, submit: Submit): Promise<SubmitAck>;
  /**
   * An entry this node submitted lately and its home acknowledged, by the id the home gave it. Its copy
   * here comes back through federation a moment after the ack; a recall or edit sent at once finds the
   * entry here meanwhile, instead of "No such message".
   */
  acked(messageId: string): { submit: Submit; ack: SubmitAck } | undefined;
  /**
   * A file shared by someone of `home` (files stay on their uploader's node), fetched there for one of
   * this domain's people: that node checks that they are a member of the conversation it was shared in.
   */
  fetchAttachment(home: string, attachmentId: string, forAddress: string): Promise<ServedFile>;
  /** A person of this domain clicked a card in a conversation hosted at `home`: the home sends it to the app. */
  cardActionAtHome(
    home: string,
    click: { messageId: string; actionId: string; user: { address: string; name: string } },
  ): Promise<CardActionResult>;
  /** Tells the other member domains that `address` is typing: one attempt, no outbox. */
  shareTyping(conversationId: string, address: string, addresses: Iterable<string>): void;
}

export function createHomeCalls(options: {
  transport: Transport;
  remoteDomains: (addresses: Iterable<string>) => string[];
  logger: Logger;
}): HomeCalls {
  const { transport, remoteDomains, logger } = options;
  const submitChains = new Map<string, Promise<unknown>>();
  // The latest acknowledged submissions, oldest first; their copies arrive within moments, so a bounded
  // number is plenty.
  const ACKED_KEPT = 10_000;
  const acked = new Map<string, { submit: Submit; ack: SubmitAck }>();
  function remember(submit: Submit, ack: SubmitAck) {
    acked.delete(ack.messageId);
    acked.set(ack.messageId, { submit, ack });
    if (acked.size > ACKED_KEPT) acked.delete(acked.keys().next().value!);
  }

  async function submitNow(home: string, submit: Submit): Promise<SubmitAck> {
    const response = await transport.post(home, '/federation/v1/submit', submit).catch(unconfirmed(home));
    if (response.status === 200) return answerOf(submitAckSchema, response.body, home, 'submission');
    const { code, message } = errorOf(response);
    if (response.status >= 500 || response.status === 401)
      throw new AppError(
        'federation_unavailable',
        503,
        `${home} cannot take the message now (${code}); it was not sent`,
      );
    throw new AppError(code, response.status, message);
  }

  return {
    submit(home, submit) {
      const key = `${submit.conversationId}|${submit.sender}`;
      const next = (submitChains.get(key) ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => submitNow(home, submit))
        .then((ack) => {
          remember(submit, ack);
          return ack;
        });
      submitChains.set(key, next);
      void next.finally(() => submitChains.get(key) === next && submitChains.delete(key)).catch(() => undefined);
      return next;
    },

    acked(messageId) {
      return acked.get(messageId);
    },

    async fetchAttachment(home, attachmentId, forAddress) {
      const response = await transport
        .postForFile(home, `/federation/v1/attachments/${attachmentId}`, { for: forAddress })
        .catch(unconfirmed(home, 'fetch the file'));
      if (response.file) return response.file;
      const { code, message } = errorOf(response);
      if (response.status === 404) throw new NotFoundError('No such attachment');
      if (response.status === 410 && code === 'attachment_removed') throw new AttachmentRemovedError();
      if (response.status >= 500 || response.status === 401)
        throw new AppError('federation_unavailable', 503, `${home} cannot serve the file now (${code})`);
      throw new AppError(code, response.status, message);
    },

    async cardActionAtHome(home, click) {
      const response = await transport.post(home, '/federation/v1/card-action', click, 20_000).catch(unconfirmed(home));
      if (response.status === 200) return answerOf(cardActionResultSchema, response.body, home, 'card click');
      const { code, message } = errorOf(response);
      if (response.status >= 500 || response.status === 401)
        throw new AppError('federation_unavailable', 503, `${home} cannot take the click now (${code})`);
      throw new AppError(code, response.status, message);
    },

    shareTyping(conversationId, address, addresses) {
      for (const dest of remoteDomains(addresses)) {
        transport
          .post(dest, '/federation/v1/typing', { conversationId, address }, 3_000)
          .catch((err: unknown) => logger.debug({ err, dest }, 'typing not relayed'));
      }
    },
  };
}

/** A peer's answer in the shape the protocol gives it, or a retryable error: a node never trusts a peer's body. */
function answerOf<T>(schema: z.ZodType<T>, body: unknown, home: string, what: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new AppError('federation_unavailable', 503, `${home} answered the ${what} in a shape this node does not know`);
}
