/**
 * Distinguished names as the directory writes them (RFC 4514): RDNs separated by unescaped commas, the
 * attribute-value pairs of a multi-valued RDN by unescaped `+`, values with `\,` or `\2C` escapes. Only
 * read here, to compare DNs and to find the OUs above an entry; a DN sent to the directory always comes
 * from the directory itself or from the administrator's settings.
 */

/**
 * `ber`: the value was written in the `#hex` form (BER bytes). Kept as written, it never equals a text
 * value that begins with `#`, which RFC 4514 escapes (`\#`).
 */
export type Ava = { type: string; value: string; ber?: true };
/** One RDN's attribute-value pairs: one for most (ou=Library), several for a multi-valued one (cn=Ana+uid=ana). */
export type Rdn = Ava[];

/**
 * The DN's RDNs, leaf first. Separators count only outside escapes and quotes, so a value holding an
 * escaped `,` or `+` stays one value. A part without `=` becomes a pair with an empty type, which no
 * well-formed DN has, rather than being dropped.
 */
export function parseDn(dn: string): Rdn[] {
  const rdns: Rdn[] = [];
  let rdn: Rdn = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i <= dn.length; i++) {
    const ch = dn[i];
    if (ch === '\\' && i + 1 < dn.length) {
      i++;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (i < dn.length && (quoted || (ch !== ',' && ch !== ';' && ch !== '+'))) continue;
    rdn.push(parseAva(dn.slice(start, i)));
    start = i + 1;
    if (ch !== '+') {
      rdns.push(rdn);
      rdn = [];
    }
  }
  return dn.trim() === '' ? [] : rdns;
}

function parseAva(text: string): Ava {
  const eq = unescapedIndex(text, '=');
  const type = eq < 0 ? '' : text.slice(0, eq).trim().toLowerCase();
  const raw = text.slice(eq + 1).replace(/^ +/, '');
  if (raw.startsWith('#')) return { type, value: raw.trim().toLowerCase(), ber: true };
  return { type, value: decodeValue(raw) };
}

function unescapedIndex(text: string, wanted: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === wanted) return i;
  }
  return -1;
}

/**
 * A value's text: `\XX` pairs are UTF-8 bytes, `\c` is c, quotes (RFC 2253's "…" form) are dropped, and
 * spaces after it are trimmed unless escaped (those before it are already).
 */
function decodeValue(text: string): string {
  const bytes: number[] = [];
  let out = '';
  // How much of `out` the trailing-space trim keeps: up to the last character that is not a bare space.
  let kept = 0;
  const flush = () => {
    if (bytes.length === 0) return;
    out += Buffer.from(bytes).toString('utf8');
    kept = out.length;
    bytes.length = 0;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
      continue;
    }
    flush();
    if (ch === '\\' && i + 1 < text.length) {
      out += text[++i];
      kept = out.length;
    } else if (ch !== '"') {
      out += ch;
      if (ch !== ' ') kept = out.length;
    }
  }
  flush();
  return out.slice(0, kept);
}

/** A value written back the RFC 4514 way, so that the characters that separate or quote stay escaped. */
function escapeValue({ value, ber }: Ava): string {
  if (ber) return value;
  return value
    .toLowerCase()
    .replace(/[\\",+;<>=]/g, (c) => `\\${c}`)
    .replace(/\u0000/g, '\\00')
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}

/**
 * One spelling per DN, for comparing: types and values lower-cased (names are case-insensitive in LDAP),
 * spaces around separators dropped, every value re-escaped (RFC 4514) and the pairs of a multi-valued
 * RDN sorted. Two DNs get the same spelling only when they name the same entry: `cn=Boss\,ou=Staff,…`
 * (one RDN whose value holds a comma) never reads as `cn=Boss,ou=Staff,…`.
 */
export function normalizeDn(dn: string): string {
  return parseDn(dn)
    .map((rdn) =>
      rdn
        .map((a) => `${a.type}=${escapeValue(a)}`)
        .sort()
        .join('+'),
    )
    .join(',');
}

/** The OUs between `base` and the entry, top first: uid=a,ou=Circ,ou=Library,<base> → [Library, Circ]. */
export function ousBelow(entryDn: string, baseDn: string): string[] {
  const entry = parseDn(entryDn);
  const base = parseDn(baseDn);
  const middle = entry.slice(1, Math.max(1, entry.length - base.length));
  return middle
    .map((rdn) => rdn.find((a) => a.type === 'ou')?.value)
    .filter((ou): ou is string => ou !== undefined)
    .reverse();
}

/** A DN the way a form may take it: at least one type=value pair, no control characters. */
export function looksLikeDn(dn: string): boolean {
  const rdns = parseDn(dn);
  return (
    !/[\u0000-\u001f]/.test(dn) &&
    rdns.length > 0 &&
    rdns.flat().every((a) => /^[a-z][a-z0-9-]*$|^[0-9.]+$/.test(a.type) && a.value !== '')
  );
}
