import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AppError } from '../../core/errors.ts';
import type { NodeContext } from '../context.ts';
import type { Attachment } from '../models.ts';

/**
 * A limit as people say it: "20 MB", "1.5 MB", "512 KB" (binary units, as the limit is set). Rounded
 * down, so that a file of the size said always fits.
 */
export function limitInWords(bytes: number): string {
  const units: [number, string][] = [
    [1024 * 1024 * 1024, 'GB'],
    [1024 * 1024, 'MB'],
    [1024, 'KB'],
  ];
  for (const [size, unit] of units) {
    if (bytes < size) continue;
    const tenths = Math.floor((bytes / size) * 10) / 10;
    return `${tenths} ${unit}`;
  }
  return `${bytes} bytes`;
}

export class TooLargeError extends AppError {
  constructor(maxBytes: number) {
    super('too_large', 413, `Attachments may be at most ${limitInWords(maxBytes)}`);
  }
}

export class UploadAbortedError extends AppError {
  constructor() {
    super('upload_aborted', 400, 'The upload ended before the file was complete');
  }
}

/** The file's uploader deleted it; the messages that carried it stay, and show it as removed. */
export class AttachmentRemovedError extends AppError {
  constructor() {
    super('attachment_removed', 410, 'The sender removed this file');
  }
}

/** Files are stored under their id alone; the uploader's name never reaches the file system. */
export function attachmentPath(ctx: Pick<NodeContext, 'config'>, id: string): string {
  return join(ctx.config.attachments.dir, id);
}

export function presentAttachment(attachment: Attachment) {
  return { id: attachment.id, name: attachment.name, contentType: attachment.contentType, size: attachment.size };
}

export type PresentedAttachment = ReturnType<typeof presentAttachment>;

/**
 * Copies a stream to a new file, hashing and counting as it goes, and stops with TooLargeError the
 * moment the count passes the limit. `watch` sees each chunk before it is written, and stops the copy
 * by throwing (content-checks.ts). The source is left alone on failure (not destroyed), so an HTTP
 * request can still be answered; removing the partial file is the caller's part.
 */
export function writeLimited(
  source: Readable,
  path: string,
  maxBytes: number,
  watch?: { take(chunk: Buffer): void },
): Promise<{ size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    // A client that gave up before we started listening would otherwise never settle this.
    if (source.destroyed) return reject(new UploadAbortedError());
    const hash = createHash('sha256');
    const out = createWriteStream(path, { flags: 'wx' });
    let size = 0;
    let settled = false;

    const detach = () => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', fail);
      source.off('close', onClose);
    };
    function fail(error: Error) {
      if (settled) return;
      settled = true;
      detach();
      out.destroy();
      // The file handle must be closed before the caller deletes the file.
      if (out.closed) reject(error);
      else out.once('close', () => reject(error));
    }
    function onData(chunk: Buffer) {
      size += chunk.length;
      if (size > maxBytes) return fail(new TooLargeError(maxBytes));
      try {
        watch?.take(chunk);
      } catch (error) {
        return fail(error as Error);
      }
      hash.update(chunk);
      if (!out.write(chunk)) {
        source.pause();
        out.once('drain', () => !settled && source.resume());
      }
    }
    function onEnd() {
      if (settled) return;
      settled = true;
      detach();
      out.end(() => resolve({ size, sha256: hash.digest('hex') }));
    }
    function onClose() {
      if (!source.readableEnded) fail(new UploadAbortedError());
    }

    out.on('error', fail);
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', fail);
    source.on('close', onClose);
  });
}
