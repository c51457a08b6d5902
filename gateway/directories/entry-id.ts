import type { Entry } from 'ldapts';
import type { DirectorySettings } from './schemas.ts';

/*
 * A directory entry's stable id (OpenLDAP's entryUUID, AD's objectGUID): set when the entry is made and
 * never changed, whatever happens to its DN or its username. A person's link keeps it, so that an entry
 * moved to another OU is still them, and an entry that merely carries their username (a reused one, or a
 * copy) is never taken for them. Kept as the hex of the value's bytes: AD's id is binary, and the hex
 * turns back into the exact bytes a search for the entry needs.
 */

/** Longer values are refused: an id is a handful of bytes, and the column holds the hex of 255. */
const MAX_ID_BYTES = 255;

/**
 * The names to ask ldapts for as bytes. ldapts compares the name the server answers with, case and all;
 * the preset ids are named as their servers spell them, and a hand-set one is asked as typed and in lower
 * case. Otherwise ldapts (9.2) keeps a value that is not valid UTF-8 as bytes, but decodes one that is,
 * and the text need not turn back into the same bytes (a leading byte-order mark is dropped): the bytes
 * are what a search for the entry by its id must send.
 */
export function idBufferAttributes(s: DirectorySettings): string[] {
  if (!s.idAttribute) return [];
  return [...new Set([s.idAttribute, s.idAttribute.toLowerCase(), 'objectGUID', 'entryUUID'])];
}

export type ReadId = { id: string } | { problem: string } | { id: null };

/** The entry's id as its link keeps it; `{ id: null }` when the directory is set to have none. */
export function entryIdOf(entry: Entry, s: DirectorySettings): ReadId {
  if (!s.idAttribute) return { id: null };
  const wanted = s.idAttribute.toLowerCase();
  const key = Object.keys(entry).find((k) => k.toLowerCase() === wanted);
  const raw = key === undefined ? undefined : entry[key];
  const values = (raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]).map((v) =>
    Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8'),
  );
  if (values.length === 0 || values[0]!.length === 0) return { problem: `has no ${s.idAttribute}` };
  if (values.length > 1)
    return { problem: `has ${values.length} values of ${s.idAttribute}, which should name one entry` };
  if (values[0]!.length > MAX_ID_BYTES)
    return { problem: `its ${s.idAttribute} is longer than ${MAX_ID_BYTES} bytes, too long to be an entry id` };
  return { id: values[0]!.toString('hex') };
}

/** The bytes to search the directory for (an equality filter on the id attribute). */
export const idBytes = (id: string): Buffer => Buffer.from(id, 'hex');

/**
 * The id as an administrator knows it, for reports: AD's objectGUID as AD writes a GUID ({…}, its first
 * three parts little-endian), a text id (entryUUID) as its text, anything else as hex. The attribute says
 * which: bytes alone cannot, since a GUID's 16 bytes may all happen to be printable.
 */
export function describeEntryId(id: string, attribute: string | null): string {
  const bytes = idBytes(id);
  if (attribute?.toLowerCase() === 'objectguid' && bytes.length === 16) {
    const hex = (from: number, to: number, reverse: boolean) => {
      const part = [...bytes.subarray(from, to)];
      return Buffer.from(reverse ? part.reverse() : part).toString('hex');
    };
    return `{${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}}`;
  }
  if (bytes.every((b) => b >= 0x20 && b < 0x7f)) return bytes.toString('latin1');
  return id;
}
