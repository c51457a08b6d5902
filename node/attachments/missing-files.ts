import { access } from 'node:fs/promises';
import type { Logger } from '../../core/logger.ts';
import type { NodeContext } from '../context.ts';
import { attachmentPath } from './attachment-files.ts';

/** How many of the newest files a start looks for: enough to tell a lost folder from one lost file. */
const LOOKED_AT = 20;

/**
 * Looks, once at start, whether the newest files the database lists are in the attachments folder. A node
 * restored or moved with its database but not that folder lists every file and serves none (each download
 * a 404): the operator hears it at start, with the folder and what to do, rather than from people.
 * Returns how many of those looked at are missing.
 */
export async function lookForMissingFiles(
  ctx: Pick<NodeContext, 'config' | 'models'>,
  logger: Logger,
): Promise<number> {
  const newest = await ctx.models.Attachment.findAll({
    attributes: ['id'],
    order: [['createdAt', 'DESC']],
    limit: LOOKED_AT,
  });
  const present = await Promise.all(
    newest.map((file) =>
      access(attachmentPath(ctx, file.id)).then(
        () => true,
        () => false,
      ),
    ),
  );
  const missing = present.filter((here) => !here).length;
  if (missing > 0) {
    logger.error(
      { dir: ctx.config.attachments.dir, missing, lookedAt: newest.length },
      `${missing} of the ${newest.length} newest files this node's database lists are not in ${ctx.config.attachments.dir}: downloads of them fail. Was the node restored or moved without that folder? Restore it from the same backup as the database (docs/operations.md, "Backing up, upgrading, rolling back")`,
    );
  }
  return missing;
}
