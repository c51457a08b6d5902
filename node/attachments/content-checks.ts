import { AppError } from '../../core/errors.ts';

/*
 * Whether an upload's bytes are of the type it was sent as: a program sent as a picture is refused. The
 * check watches the bytes as they stream to disk (attachment-files.ts writeLimited): a type with a
 * signature is judged on its first bytes alone, text on every byte, and nothing is held but a short head.
 */

/** Watches an upload's bytes in order; `take` and `end` throw ContentMismatchError when they are not of the type. */
export type ContentWatch = {
  take(chunk: Buffer): void;
  /** After the last byte: the type to store the file as (a CSV that Windows calls an Excel sheet is text/csv). */
  end(): string;
};

/** What each type is called in a refusal. */
const CALLED: Record<string, string> = {
  'image/png': 'a PNG picture',
  'image/jpeg': 'a JPEG picture',
  'image/gif': 'a GIF picture',
  'image/webp': 'a WebP picture',
  'application/pdf': 'a PDF',
  'application/msword': 'a Word document',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'a Word document',
  'application/vnd.ms-excel': 'an Excel workbook',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'an Excel workbook',
  'application/vnd.ms-powerpoint': 'a PowerPoint presentation',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'a PowerPoint presentation',
  'application/vnd.oasis.opendocument.text': 'an OpenDocument text',
  'application/vnd.oasis.opendocument.spreadsheet': 'an OpenDocument spreadsheet',
  'application/vnd.oasis.opendocument.presentation': 'an OpenDocument presentation',
  'application/zip': 'a zip file',
};

/** An upload whose bytes are not of the type it was sent as: the same code as a type not taken. */
export class ContentMismatchError extends AppError {
  constructor(type: string) {
    const called = CALLED[type] ?? (type.startsWith('text/') ? 'a text file' : `a file of type ${type}`);
    super(
      'unsupported_media_type',
      415,
      `This file is not really ${called} (was it renamed from another kind of file?), so it was not saved.`,
    );
  }
}

type Signature = { need: number; test(head: Buffer): boolean };
type Watch = { take(chunk: Buffer): void; end(): void };

const bytesAt = (head: Buffer, at: number, expected: string | number[]) =>
  head
    .subarray(at, at + expected.length)
    .equals(typeof expected === 'string' ? Buffer.from(expected, 'latin1') : Buffer.from(expected));

const prefix = (...prefixes: (string | number[])[]): Signature => ({
  need: Math.max(...prefixes.map((p) => p.length)),
  test: (head) => prefixes.some((p) => bytesAt(head, 0, p)),
});

const OLE = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
// Every Office Open XML and OpenDocument file is a zip archive; its first entry starts the file.
const ZIP_ENTRY = 'PK\x03\x04';

const SIGNATURES: Record<string, Signature> = {
  'image/png': prefix([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  'image/jpeg': prefix([0xff, 0xd8, 0xff]),
  'image/gif': prefix('GIF87a', 'GIF89a'),
  'image/webp': { need: 12, test: (head) => bytesAt(head, 0, 'RIFF') && bytesAt(head, 8, 'WEBP') },
  // Readers take the header anywhere in the first kilobyte, and some producers put bytes before it.
  'application/pdf': { need: 1024, test: (head) => head.includes('%PDF-') },
  // Word reads an RTF document sent as a .doc, and many older ones are.
  'application/msword': prefix(OLE, '{\\rtf'),
  'application/vnd.ms-excel': prefix(OLE),
  'application/vnd.ms-powerpoint': prefix(OLE),
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': prefix(ZIP_ENTRY),
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': prefix(ZIP_ENTRY),
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': prefix(ZIP_ENTRY),
  'application/vnd.oasis.opendocument.text': prefix(ZIP_ENTRY),
  'application/vnd.oasis.opendocument.spreadsheet': prefix(ZIP_ENTRY),
  'application/vnd.oasis.opendocument.presentation': prefix(ZIP_ENTRY),
  // An empty archive is only its end record.
  'application/zip': prefix(ZIP_ENTRY, 'PK\x05\x06'),
};

/*
 * Text has no byte 0 and none of the control bytes that only binary files hold; tab, line and page
 * breaks, the old end-of-file mark (0x1a) and escape (coloured logs) are text. Any 8-bit encoding passes,
 * not only UTF-8: a CSV saved by Excel in a Western European Windows is Windows-1252, and is still text.
 */
const NOT_TEXT = /[\u0000-\u0008\u000e-\u0019\u001c-\u001f]/;

/**
 * Every byte of a text upload. UTF-16, as Notepad and Excel save "Unicode" text, has a byte-order mark
 * and zero bytes in most characters: it is decoded (strictly) and its characters checked instead.
 */
function textWatch(refusal: () => Error): Watch {
  let start: Buffer | null = Buffer.alloc(0);
  let decoder: TextDecoder | null = null;
  const check = (chunk: Buffer) => {
    let text: string;
    try {
      text = decoder ? decoder.decode(chunk, { stream: true }) : chunk.toString('latin1');
    } catch {
      throw refusal();
    }
    if (NOT_TEXT.test(text)) throw refusal();
  };
  // The mark takes two bytes, which may come in two chunks.
  const begin = (atEnd: boolean) => {
    const head = start!;
    if (head.length < 2 && !atEnd) return;
    start = null;
    if (bytesAt(head, 0, [0xff, 0xfe])) decoder = new TextDecoder('utf-16le', { fatal: true });
    else if (bytesAt(head, 0, [0xfe, 0xff])) decoder = new TextDecoder('utf-16be', { fatal: true });
    check(head);
  };
  return {
    take(chunk) {
      if (start === null) return check(chunk);
      start = Buffer.concat([start, chunk]);
      begin(false);
    },
    end() {
      if (start !== null) begin(true);
      if (!decoder) return;
      try {
        decoder.decode();
      } catch {
        throw refusal();
      }
    },
  };
}

/**
 * Judges the first `signature.need` bytes (fewer in a shorter file) as soon as they are in; holds only
 * those. `otherwise`: what watches the rest of a file whose head the signature refuses, instead of
 * refusing it.
 */
function headWatch(signature: Signature, refusal: () => Error, otherwise?: () => Watch): Watch {
  let head: Buffer | null = Buffer.alloc(0);
  let rest: Watch | null = null;
  const judge = (judged: Buffer): Watch | null => {
    head = null;
    if (signature.test(judged)) return null;
    if (!otherwise) throw refusal();
    const watch = otherwise();
    watch.take(judged);
    return watch;
  };
  return {
    take(chunk) {
      if (rest) return rest.take(chunk);
      if (head === null) return;
      const missing = signature.need - head.length;
      head = Buffer.concat([head, chunk.subarray(0, missing)]);
      if (head.length < signature.need) return;
      rest = judge(head);
      if (rest && chunk.length > missing) rest.take(chunk.subarray(missing));
    },
    end() {
      if (head !== null) rest = judge(head);
      rest?.end();
    },
  };
}

/** Whether a name ends in `.csv`. */
const isCsv = (name: string) => /\.csv$/i.test(name.trim());

/**
 * The watch for an upload of `type` (one of `allowed`, bare) named `name`. A type with no signature known
 * here and not text (one an operator added) is taken as it comes. Windows sends a `.csv` file as
 * `application/vnd.ms-excel` wherever Excel is installed: one that is text is stored as `text/csv`, where
 * that is allowed.
 */
export function watchContent(type: string, name: string, allowed: readonly string[]): ContentWatch {
  let stored = type;
  const done = (watch: Watch): ContentWatch => ({
    take: (chunk) => watch.take(chunk),
    end: () => {
      watch.end();
      return stored;
    },
  });
  const refusal = () => new ContentMismatchError(type);
  if (type.startsWith('text/')) return done(textWatch(refusal));
  const signature = SIGNATURES[type];
  if (!signature) return done({ take: () => undefined, end: () => undefined });
  if (type !== 'application/vnd.ms-excel' || !isCsv(name) || !allowed.includes('text/csv'))
    return done(headWatch(signature, refusal));
  const csv = () => {
    stored = 'text/csv';
    return textWatch(() => new ContentMismatchError('text/csv'));
  };
  return done(headWatch(signature, refusal, csv));
}
