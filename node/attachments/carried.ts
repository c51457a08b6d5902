import { Op, type Transaction } from 'sequelize';
import { containsPattern, like } from '../../core/like.ts';
import type { NodeServices } from '../context.ts';

/** A file as bound to a conversation. */
export type BoundFile = { id: string; owner: string; conversationId: string };

/**
 * Whether a visible text message of the file's uploader in the conversation it is bound to (other than
 * `except`; after `afterSeq`, for someone who joined then) names it. Only the uploader's messages count: another node describes a file in a message of
 * its own people as it likes, and such a message must not keep a file its uploader took back.
 */
export async function isCarried(
  services: Pick<NodeServices, 'models' | 'sequelize'>,
  file: BoundFile,
  options: { except?: string; afterSeq?: number; transaction?: Transaction } = {},
): Promise<boolean> {
  const carriers = await services.models.Message.count({
    where: {
      conversationId: file.conversationId,
      ...(options.except ? { id: { [Op.ne]: options.except } } : {}),
      ...(options.afterSeq !== undefined ? { seq: { [Op.gt]: options.afterSeq } } : {}),
      sender: file.owner,
      kind: 'text',
      recalledAt: null,
      body: like(services.sequelize, containsPattern(`"id":${JSON.stringify(file.id)}`)),
    },
    ...(options.transaction ? { transaction: options.transaction } : {}),
  });
  return carriers > 0;
}
