import { AppError, RateLimitedError } from '../../core/errors.ts';
import { tryAgainIn } from '../../core/try-again.ts';
import type { NodeContext } from '../context.ts';
import { limitInWords } from './attachment-files.ts';

export class UploadQuotaError extends AppError {
  constructor(quotaBytes: number, keepHours: number) {
    super(
      'upload_quota',
      413,
      `Files uploaded but not yet sent in a message may take up ${limitInWords(quotaBytes)} together, and this one ` +
        `would pass that: send the ones you uploaded, or wait until those you do not send are cleared ` +
        `(${keepHours} hours after their upload), then upload again`,
    );
  }
}

/**
 * Counts an upload against its uploader's hourly allowance, then answers how many bytes the file may
 * have: what is left of their quota for uploads not yet shared in any message (one SUM), or the quota
 * error when nothing is. Files never shared are deleted after a while (sweep-unshared.ts), and a shared
 * one no longer counts.
 */
export async function roomForUpload(ctx: NodeContext): Promise<number> {
  const { unsharedQuotaBytes, unsharedKeepHours, uploadsPerHour } = ctx.config.attachments;
  const pace = await ctx.uploadLimiter.hit(ctx.actor.address);
  if (!pace.allowed) {
    const wait = tryAgainIn(pace.retryAfterSeconds);
    throw new RateLimitedError(pace.retryAfterSeconds, `At most ${uploadsPerHour} uploads an hour. ${wait}`);
  }
  const used = await ctx.models.Attachment.sum('size', {
    where: { owner: ctx.actor.address, conversationId: null },
  });
  const left = unsharedQuotaBytes - (Number(used) || 0);
  if (left <= 0) throw new UploadQuotaError(unsharedQuotaBytes, unsharedKeepHours);
  return left;
}
