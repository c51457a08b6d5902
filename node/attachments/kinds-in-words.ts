/*
 * The kinds of file a node takes, in the words people use ("pictures, PDFs, Office documents"), for the
 * refusal of an upload of another kind. Clients show a refusal's message as it is, on screens as narrow
 * as a phone's: a list of media types (`application/vnd.openxmlformats-officedocument…`) says nothing
 * to most people there, and does not fit. The exact types are in `ready` (`attachmentTypes`).
 */

const OFFICE =
  /^application\/(msword|vnd\.openxmlformats-officedocument\.|vnd\.ms-(excel|powerpoint)|vnd\.oasis\.opendocument\.)/;
const ZIP = new Set(['application/zip', 'application/x-zip-compressed']);
const PAGE = new Set(['text/html', 'application/xhtml+xml']);
/** What a media type looks like; anything else an uploader declared is not repeated back. */
const MEDIA_TYPE = /^[a-z0-9][\w.+-]{0,62}\/[a-z0-9][\w.+-]{0,126}$/;

/** A kind of file as a plural noun phrase, lower case: "pictures"; a type without a common word, itself. */
function kindOf(type: string): string {
  if (type.startsWith('image/')) return 'pictures';
  if (type.startsWith('video/')) return 'videos';
  if (type.startsWith('audio/')) return 'audio files';
  if (type === 'application/pdf') return 'PDFs';
  if (OFFICE.test(type)) return 'Office documents';
  if (type === 'text/plain' || type === 'text/csv') return 'text files';
  if (ZIP.has(type)) return 'zip files';
  if (PAGE.has(type)) return 'web pages';
  return type;
}

/** "a", "a and b", "a, b and c". */
function listed(words: string[]): string {
  return words.length < 2 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/**
 * Why an upload of `refused` (its media type, lower case, without parameters; '' when none was given)
 * is refused where `allowed` are taken: "Videos cannot be sent here; pictures, PDFs, Office documents,
 * text files and zip files can." A type of a kind that is taken in other types (an SVG where pictures
 * are taken), or without a common word, is named by its type.
 */
export function refusedKindInWords(refused: string, allowed: string[]): string {
  const kinds = [...new Set(allowed.map(kindOf))];
  if (kinds.length === 0) return 'Files cannot be sent here.';
  const kind = kindOf(refused);
  const what =
    refused === 'application/octet-stream' || !MEDIA_TYPE.test(refused)
      ? 'Files of an unknown type'
      : kind === refused || kinds.includes(kind)
        ? `Files of type ${refused}`
        : kind[0]!.toUpperCase() + kind.slice(1);
  return `${what} cannot be sent here; ${listed(kinds)} can.`;
}
