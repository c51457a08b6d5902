/*
 * A file's name says how a computer opens it once saved: by its last extension alone. An upload's name is
 * the uploader's to choose, its type is checked (content-checks.ts); the name must agree with the type,
 * or a picture named `setup.exe` is saved as a program by whoever downloads it.
 */

/** The extensions each type may end in, the one added to a name that has none of them first. */
const EXTENSIONS: Record<string, string[]> = {
  'image/png': ['png'],
  'image/jpeg': ['jpg', 'jpeg', 'jpe', 'jfif'],
  'image/gif': ['gif'],
  'image/webp': ['webp'],
  'image/heic': ['heic'],
  'image/avif': ['avif'],
  'application/pdf': ['pdf'],
  'application/msword': ['doc', 'dot'],
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ['docx', 'dotx'],
  'application/vnd.ms-excel': ['xls', 'xlt'],
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['xlsx', 'xltx'],
  'application/vnd.ms-powerpoint': ['ppt', 'pps', 'pot'],
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': ['pptx', 'ppsx', 'potx'],
  'application/vnd.oasis.opendocument.text': ['odt'],
  'application/vnd.oasis.opendocument.spreadsheet': ['ods'],
  'application/vnd.oasis.opendocument.presentation': ['odp'],
  'application/rtf': ['rtf'],
  // Text that no system runs: notes, logs, tables, settings read by people.
  'text/plain': ['txt', 'text', 'log', 'md', 'markdown', 'csv', 'tsv', 'ini', 'cfg', 'conf', 'asc'],
  'text/csv': ['csv'],
  'text/markdown': ['md', 'markdown'],
  'text/tab-separated-values': ['tsv'],
  'application/zip': ['zip'],
  'application/x-7z-compressed': ['7z'],
  'application/vnd.rar': ['rar'],
  'application/gzip': ['gz', 'tgz'],
  'video/mp4': ['mp4', 'm4v'],
  'video/webm': ['webm'],
  'video/quicktime': ['mov'],
  'audio/mpeg': ['mp3'],
  'audio/mp4': ['m4a'],
  'audio/ogg': ['ogg', 'oga', 'opus'],
  'audio/wav': ['wav'],
};

/*
 * For a type an operator added that EXTENSIONS does not know: the endings that run something, or open
 * in a browser with the rights of a local file, where they are not what the type says.
 */
const RISKY = new Set(
  (
    'exe com scr pif bat cmd msi msp msc cpl dll sys drv ocx jar js jse mjs cjs vbs vbe wsf wsh ws hta ps1 psm1 psd1 ' +
    'reg lnk url scf inf ins isp chm hlp gadget application appref-ms settingcontent-ms library-ms diagcab msix ' +
    'appx appxbundle msixbundle iso img vhd vhdx html htm xhtml shtml mht mhtml svg svgz xml xsl xht sh bash zsh ' +
    'command tool app dmg pkg mpkg deb rpm apk appimage desktop run py pyw pl rb php lua docm dotm xlsm xltm xlam ' +
    'pptm potm ppsm ppam sldm one webloc terminal workflow action'
  ).split(' '),
);

const MAX_NAME_CHARS = 255;

/** The type without parameters, lower case. */
const bare = (type: string) => type.split(';')[0]!.trim().toLowerCase();

/** A name's last extension, lower case; '' when it has none. */
function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** The extension to add for a type EXTENSIONS does not know: its subtype when that is a plain word, else `bin`. */
function fallbackExtension(type: string): string {
  const subtype = type.split('/')[1] ?? '';
  return /^[a-z0-9]{2,5}$/.test(subtype) && !RISKY.has(subtype) ? subtype : 'bin';
}

/**
 * `name` made to agree with `type`: kept when its extension is one of the type's (`Photo.JPG` as
 * `image/jpeg`), else the type's extension is added (`setup.exe` as `image/png` becomes `setup.exe.png`,
 * `scan` as `application/pdf` becomes `scan.pdf`). Added rather than put in place of the last one: nothing
 * the sender typed is lost (`Chapter 3. Intro`, `v1.2`), and whoever receives `setup.exe.png` sees that
 * it was named oddly. For a type it does not know, only a risky ending (RISKY) gets one added.
 * Trailing dots and spaces go first, as Windows drops them when it saves a file (`setup.exe.`).
 */
export function nameForType(name: string, type: string): string {
  const kept = name.replace(/[.\s]+$/, '') || 'file';
  const ext = extensionOf(kept);
  const known = EXTENSIONS[bare(type)];
  let add: string;
  if (known) {
    if (known.includes(ext)) return kept;
    add = known[0]!;
  } else {
    if (!RISKY.has(ext)) return kept;
    add = fallbackExtension(bare(type));
  }
  // Within the stored name's length: the end of the typed name gives way to the extension.
  const chars = [...kept];
  const room = MAX_NAME_CHARS - add.length - 1;
  return `${chars.length > room ? chars.slice(0, room).join('') : kept}.${add}`;
}
