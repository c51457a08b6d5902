import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AppError, ValidationError } from '../../core/errors.ts';
import type { NodeContext } from '../context.ts';
import {
  attachmentPath,
  presentAttachment,
  TooLargeError,
  writeLimited,
  type PresentedAttachment,
} from './attachment-files.ts';
import { watchContent } from './content-checks.ts';
import { nameForType } from './file-extensions.ts';
import { refusedKindInWords } from './kinds-in-words.ts';
import { passedAfterRecording, roomForUpload } from './upload-quota.ts';

/** An upload of a type the node does not take: said in words, as clients show it as it is (kinds-in-words.ts). */
export class UnsupportedMediaTypeError extends AppError {
  constructor(refused: string, allowed: string[]) {
    super('unsupported_media_type', 415, refusedKindInWords(refused, allowed));
  }
}

export type UploadInput = {
  /** The name the uploader gave the file; sanitized before it is stored. */
  name: string | undefined;
  /** The declared media type, parameters allowed (`text/plain; charset=utf-8`). */
  contentType: string | undefined;
  /** The length the uploader announced, if any: refused early when already too large. */
  declaredSize: number | undefined;
  body: Readable;
};

const MAX_NAME_CHARS = 255;
// Control characters and bidi controls (which disguise an extension: "photo\u202Egnp.exe"). Characters
// some systems refuse in file names (`<>:"|?*`) stay as typed: "<v2>.pdf" is a fine name to show, the
// page shows names as text, the download header percent-encodes them (contentDisposition), and each
// browser fits a name to its own system when it saves the file. Files are stored by id, never by name.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A name safe to store and to offer back in a Content-Disposition header: the last part of a path (a
 * name never leads anywhere else), as typed but for what UNSAFE lists.
 */
export function sanitizeName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop()!;
  const name = base
    .normalize('NFC')
    .replace(UNSAFE, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[.\s]+/, '');
  if ([...name].length > MAX_NAME_CHARS)
    throw new ValidationError('The file name is too long', { name: `at most ${MAX_NAME_CHARS} characters` });
  return name || 'file';
}

/** A declared media type without its parameters, lower case. */
const bareType = (raw: string | undefined) => (raw ?? '').split(';')[0]!.trim().toLowerCase();

/** The media type without its parameters, when it is one this node allows for uploads; else undefined. */
export function listedType(ctx: Pick<NodeContext, 'config'>, raw: string | undefined): string | undefined {
  const type = bareType(raw);
  return ctx.config.attachments.types.includes(type) ? type : undefined;
}

function allowedType(ctx: NodeContext, raw: string | undefined): string {
  const type = listedType(ctx, raw);
  if (type === undefined) throw new UnsupportedMediaTypeError(bareType(raw), ctx.config.attachments.types);
  return type;
}

/**
 * Stores an upload for the actor: streamed to disk with its size limited (by the limit per file, and by
 * what is left of the actor's quotas for unshared uploads and for all their files), its bytes checked
 * against its type (content-checks.ts) and its sha256 computed on the way, then recorded under a name
 * that agrees with its type (file-extensions.ts). It belongs to nobody else until the actor shares it in
 * a message. Whatever fails, no partial file and no record remain.
 */
export async function uploadAttachment(ctx: NodeContext, input: UploadInput): Promise<PresentedAttachment> {
  const typed = sanitizeName(input.name);
  const declared = allowedType(ctx, input.contentType);
  const { dir, maxBytes } = ctx.config.attachments;
  if (input.declaredSize !== undefined && input.declaredSize > maxBytes) throw new TooLargeError(maxBytes);
  const room = await roomForUpload(ctx, input.declaredSize);
  if (input.declaredSize !== undefined && input.declaredSize > room.bytes) throw room.refusal(input.declaredSize);

  await mkdir(dir, { recursive: true });
  const id = randomUUID();
  const path = attachmentPath(ctx, id);
  const partial = `${path}.part`;
  const watch = watchContent(declared, typed, ctx.config.attachments.types);
  let written: { size: number; sha256: string };
  let contentType: string;
  try {
    written = await writeLimited(input.body, partial, Math.min(maxBytes, room.bytes), watch);
    if (written.size === 0) throw new ValidationError('The file is empty', { body: 'the file is empty' });
    contentType = watch.end();
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error instanceof TooLargeError && room.bytes < maxBytes ? room.refusal() : error;
  }
  return record(ctx, { id, name: nameForType(typed, contentType), contentType, ...written }, path);
}

/** Records a stored upload, unless the quotas were passed meanwhile by the actor's other uploads. */
async function record(
  ctx: NodeContext,
  file: { id: string; name: string; contentType: string; size: number; sha256: string },
  path: string,
): Promise<PresentedAttachment> {
  const { Attachment } = ctx.models;
  let recorded = false;
  try {
    const attachment = await Attachment.create({
      ...file,
      owner: ctx.actor.address,
      conversationId: null,
      createdAt: new Date(),
    });
    recorded = true;
    const refusal = await passedAfterRecording(ctx, file.size);
    if (refusal) throw refusal;
    return presentAttachment(attachment);
  } catch (error) {
    if (recorded) await Attachment.destroy({ where: { id: file.id, conversationId: null } });
    await rm(path, { force: true });
    throw error;
  }
}
