/*
 * Bytes a node takes as a file of a given type: they begin as such files begin (node/attachments/
 * content-checks.ts), and the rest is zeros (for text: letters). Enough for tests about sizes, quotas and
 * names, which do not care what is in a file.
 */

const OLE = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const ZIP = [0x50, 0x4b, 0x03, 0x04];
const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

/** How files of each allowed type begin. */
export const HEADS: Record<string, number[]> = {
  'image/png': [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  'image/jpeg': [0xff, 0xd8, 0xff, 0xe0],
  'image/gif': ascii('GIF89a'),
  'image/webp': [...ascii('RIFF'), 0, 0, 0, 0, ...ascii('WEBPVP8 ')],
  'application/pdf': ascii('%PDF-1.7\n'),
  'application/msword': OLE,
  'application/vnd.ms-excel': OLE,
  'application/vnd.ms-powerpoint': OLE,
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ZIP,
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ZIP,
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': ZIP,
  'application/vnd.oasis.opendocument.text': ZIP,
  'application/vnd.oasis.opendocument.spreadsheet': ZIP,
  'application/vnd.oasis.opendocument.presentation': ZIP,
  'application/zip': ZIP,
};

/**
 * `size` bytes that a node takes as a file of `type`. Fewer than the type's head are only its start, which
 * no node takes: for a refusal that comes before the bytes are looked at (a size or a quota).
 */
export function typedBytes(type: string, size = 64): Uint8Array<ArrayBuffer> {
  if (type.startsWith('text/')) return new Uint8Array(size).fill(0x61);
  const head = HEADS[type];
  if (!head) throw new Error(`no head known for ${type}`);
  const bytes = new Uint8Array(size);
  bytes.set(head.slice(0, size));
  return bytes;
}

/** The start of a Windows program (`MZ`, then a zero): what a walkthrough sent as a picture, a PDF, a text. */
export const PROGRAM = new Uint8Array([0x4d, 0x5a, 0x90, 0x00, ...ascii(' this program cannot be run in DOS mode')]);
