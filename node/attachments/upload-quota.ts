import { QueryTypes } from 'sequelize';
import { AppError, RateLimitedError } from '../../core/errors.ts';
import { tryAgainIn } from '../../core/try-again.ts';
import type { NodeContext } from '../context.ts';

/**
 * A size as people say it: "868 KB", "1.5 MB", "0.98 MB" (binary units, as the quotas are set; a number
 * of 1000 or more in a unit is said in the next one). Rounded `up` for what is used and what is uploaded
 * and `down` for a quota, so that a refusal always adds up: the sizes said pass the quota said.
 */
export function sizeInWords(bytes: number, round: 'up' | 'down'): string {
  const fit = round === 'up' ? Math.ceil : Math.floor;
  let value = bytes;
  let unit = bytes === 1 ? 'byte' : 'bytes';
  for (const next of ['KB', 'MB', 'GB']) {
    if (fit(value) < 1000) break;
    value /= 1024;
    unit = next;
  }
  const digits = unit.startsWith('byte') ? 0 : value < 1 ? 2 : value < 10 ? 1 : 0;
  const scale = 10 ** digits;
  return `${Number((fit(value * scale) / scale).toFixed(digits))} ${unit}`;
}

/** "this file (250 KB)": the refused file, with its size when it was announced. */
const thisFile = (fileBytes?: number) =>
  fileBytes === undefined ? 'this file' : `this file (${sizeInWords(fileBytes, 'up')})`;

export class StorageQuotaError extends AppError {
  /** `fileBytes`: the refused file's size, when it was announced. */
  constructor(usedBytes: number, quotaBytes: number, fileBytes?: number) {
    super(
      'storage_quota',
      413,
      `You use ${sizeInWords(usedBytes, 'up')} of your ${sizeInWords(quotaBytes, 'down')} here; ` +
        `${thisFile(fileBytes)} would pass it.`,
    );
  }
}

/** Refused as the person's files uploaded and not yet sent in a message would pass what they may keep unsent. */
export class UploadQuotaError extends AppError {
  /** `fileBytes`: the refused file's size, when it was announced. */
  constructor(unsentBytes: number, quotaBytes: number, fileBytes?: number) {
    super(
      'upload_quota',
      413,
      `Files you have not sent yet use ${sizeInWords(unsentBytes, 'up')} of the ` +
        `${sizeInWords(quotaBytes, 'down')} you may keep unsent here; ${thisFile(fileBytes)} would pass it. ` +
        'Send or delete some of them first.',
    );
  }
}

/** What one person's files take up: all of them, and those not yet shared in a message. */
type Usage = { total: number; unshared: number };

/**
 * One indexed read (attachments_owner) for both quotas. A SUM over no rows is NULL, and MariaDB answers
 * a SUM of integers as a decimal string: both become numbers here.
 */
export async function usageOf(ctx: NodeContext): Promise<Usage> {
  const [row] = await ctx.sequelize.query<{ total: unknown; unshared: unknown }>(
    `SELECT SUM(size) AS total, SUM(CASE WHEN conversation_id IS NULL THEN size ELSE 0 END) AS unshared
     FROM attachments WHERE owner = ?`,
    { replacements: [ctx.actor.address], type: QueryTypes.SELECT },
  );
  return { total: Number(row?.total ?? 0), unshared: Number(row?.unshared ?? 0) };
}

/**
 * The quota an upload of `size` more bytes would pass, if any: storage first, as waiting frees little of
 * it. `fileBytes`: the upload's size as the refusal tells it, when known.
 */
function passed(ctx: NodeContext, usage: Usage, size: number, fileBytes?: number): AppError | undefined {
  const { storageQuotaBytes, unsharedQuotaBytes } = ctx.config.attachments;
  if (storageQuotaBytes !== undefined && usage.total + size > storageQuotaBytes)
    return new StorageQuotaError(usage.total, storageQuotaBytes, fileBytes);
  if (usage.unshared + size > unsharedQuotaBytes)
    return new UploadQuotaError(usage.unshared, unsharedQuotaBytes, fileBytes);
  return undefined;
}

export type Room = {
  /** The most bytes the upload may have. */
  bytes: number;
  /** The error for an upload larger than `bytes` (of `size`, when announced): the quota that leaves the least room. */
  refusal: (size?: number) => AppError;
};

/**
 * Counts an upload against its uploader's hourly allowance, then answers how many bytes the file may
 * have: what is left of their quota for uploads not yet shared in any message, and of their storage
 * quota for all their files (ATTACHMENT_STORAGE_QUOTA_MB), or the quota error when nothing is. Files
 * never shared are deleted after a while (sweep-unshared.ts), and a shared one counts only in storage.
 */
export async function roomForUpload(ctx: NodeContext, declaredSize?: number): Promise<Room> {
  const { storageQuotaBytes, unsharedQuotaBytes, uploadsPerHour } = ctx.config.attachments;
  const pace = await ctx.uploadLimiter.hit(ctx.actor.address);
  if (!pace.allowed) {
    const wait = tryAgainIn(pace.retryAfterSeconds);
    throw new RateLimitedError(pace.retryAfterSeconds, `At most ${uploadsPerHour} uploads an hour. ${wait}`);
  }
  const usage = await usageOf(ctx);
  const full = passed(ctx, usage, 1, declaredSize);
  if (full) throw full;
  const storageLeft = storageQuotaBytes === undefined ? Infinity : storageQuotaBytes - usage.total;
  const unsharedLeft = unsharedQuotaBytes - usage.unshared;
  if (storageLeft <= unsharedLeft)
    return { bytes: storageLeft, refusal: (size) => new StorageQuotaError(usage.total, storageQuotaBytes!, size) };
  return {
    bytes: unsharedLeft,
    refusal: (size) => new UploadQuotaError(usage.unshared, unsharedQuotaBytes, size),
  };
}

/**
 * Checks the quotas again once an upload of `size` bytes is recorded: the error if it must go after all.
 * Uploads of one person that ran side by side each saw the room left before any of them was recorded.
 * Each is recorded, then sums everything recorded, its own included: so the last of them to sum sees
 * every other one that was kept, and none is kept that takes the total past a quota (side by side, all
 * of them may be refused, and the person uploads again).
 */
export async function passedAfterRecording(ctx: NodeContext, size: number): Promise<AppError | undefined> {
  const usage = await usageOf(ctx);
  return passed(ctx, { total: usage.total - size, unshared: usage.unshared - size }, size, size);
}
