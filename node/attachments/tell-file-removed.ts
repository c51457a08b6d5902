import { createHash } from 'node:crypto';
import { AppError } from '../../core/errors.ts';
import { containsPattern, like } from '../../core/like.ts';
import { userOf } from '../../protocol/address.ts';
import type { Identity } from '../auth/token-verifier.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import type { RemovedAttachment } from '../models.ts';
import { markFileRemoved, stillOffers } from './mark-file-removed.ts';

/**
 * The client id of the entry that tells of a file's removal from one message: the same for every try,
 * so that the home takes a removal tried again (after an answer that was lost, say) only once.
 */
function removalId(attachmentId: string, messageId: string): string {
  return `rm-${createHash('sha256').update(`${attachmentId}/${messageId}`).digest('base64url').slice(0, 40)}`;
}

/** The uploader, for whom the node tells of their removal, during their request or after it. */
function uploader(address: string): Identity {
  const username = userOf(address);
  return {
    kind: 'user',
    sub: '',
    username,
    name: username,
    address,
    sid: null,
    clientId: 'file-removal',
    expiresAt: Number.MAX_SAFE_INTEGER,
  };
}

/**
 * Whether the home's refusal is for good, so that trying again cannot help: it judged the removal and
 * would judge it alike (a node before `file.removed` refuses the kind as `invalid_input`; the message is
 * gone, recalled, or no longer the person's to change). A policy refusal, or a home the registry does not
 * have, may come of a copy of the registry not caught up yet: tried again a few times first, as the
 * outbox does. Anything else (out of reach, busy, not answered, this node's own database) is tried again.
 */
function refusedForGood(error: unknown, attempts: number, policyRetries: number): boolean {
  if (!(error instanceof AppError)) return false;
  if (error.code === 'policy_denied' || error.code === 'unknown_destination') return attempts >= policyRetries;
  return error.status >= 400 && error.status < 500 && ![401, 408, 425, 429].includes(error.status);
}

/**
 * Tells the home of a deleted file's conversation (wherever it is) of the removal from each visible
 * message of the uploader that carries it, in this node's copy of the conversation, and still offers it
 * there (a message whose copy shows the file removed was told). A message whose home refuses for good
 * keeps offering the file, and a download there answers 410: that is logged. Answers why it stopped,
 * to be tried again later, or undefined once every message was told or refused for good.
 */
export async function tellHome(services: NodeServices, notice: RemovedAttachment): Promise<string | undefined> {
  const ctx: NodeContext = { ...services, actor: uploader(notice.owner) };
  const { id: attachmentId, conversationId, untoldHome: home } = notice;
  if (!conversationId) return undefined;
  // This domain removed at the gateway calls no one meanwhile; its removals wait for it to be added again.
  if (home !== ctx.domain && ctx.federation.removed()) return `${ctx.domain} is removed at the gateway`;
  const carriers = await ctx.models.Message.findAll({
    where: {
      conversationId,
      sender: notice.owner,
      kind: 'text',
      recalledAt: null,
      body: like(ctx.sequelize, containsPattern(`"id":${JSON.stringify(attachmentId)}`)),
    },
    attributes: ['id', 'body'],
  });
  for (const message of carriers) {
    if (!stillOffers(message.body, attachmentId)) continue;
    const clientMsgId = removalId(attachmentId, message.id);
    try {
      await markFileRemoved(ctx, { clientMsgId, messageId: message.id, attachmentId });
    } catch (error) {
      if (!refusedForGood(error, notice.tellAttempts, ctx.config.federationPolicyRetries))
        return error instanceof AppError ? `${error.code}: ${error.message}` : String(error);
      ctx.logger.warn(
        { err: error, attachment: attachmentId, message: message.id, home },
        'the home refused for good to mark a deleted file removed: its message there still offers the file',
      );
    }
  }
  return undefined;
}
