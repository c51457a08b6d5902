/**
 * Distinguished names as the directory writes them (RFC 4514): RDNs separated by unescaped commas, values
 * with `\,` or `\2C` escapes. Only read here, to compare DNs and to find the OUs above an entry; a DN
 * sent to the directory always comes from the directory itself or from the administrator's settings.
 */
export type Rdn = { type: string; value: string };

export function parseDn(dn: string): Rdn[] {
  const rdns: Rdn[] = [];
  let current = '';
  let escaped = false;
  const parts: string[] = [];
  for (const ch of dn) {
    if (escaped) {
      current += `\\${ch}`;
      escaped = false;
    } else if (ch === '\\') escaped = true;
    else if (ch === ',') {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  for (const part of parts) {
    const eq = unescapedIndex(part, '=');
    if (eq < 0) continue;
    // A multi-valued RDN (a+b) keeps its first type; the OU path only ever needs `ou` RDNs.
    rdns.push({ type: part.slice(0, eq).trim().toLowerCase(), value: unescapeValue(part.slice(eq + 1).trim()) });
  }
  return rdns;
}

function unescapedIndex(text: string, wanted: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === wanted) return i;
  }
  return -1;
}

function unescapeValue(value: string): string {
  const bytes: number[] = [];
  const out: string[] = [];
  const flush = () => {
    if (bytes.length > 0) out.push(Buffer.from(bytes).toString('utf8'));
    bytes.length = 0;
  };
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
      continue;
    }
    flush();
    if (ch === '\\' && i + 1 < value.length) out.push(value[++i]!);
    else if (ch !== '"') out.push(ch);
  }
  flush();
  return out.join('');
}

/** One spelling per DN, for comparing: types and values lower-cased (names are case-insensitive in LDAP), spaces trimmed. */
export function normalizeDn(dn: string): string {
  return parseDn(dn)
    .map((r) => `${r.type}=${r.value.toLowerCase()}`)
    .join(',');
}

/** The OUs between `base` and the entry, top first: uid=a,ou=Circ,ou=Library,<base> → [Library, Circ]. */
export function ousBelow(entryDn: string, baseDn: string): string[] {
  const entry = parseDn(entryDn);
  const base = parseDn(baseDn);
  const middle = entry.slice(1, Math.max(1, entry.length - base.length));
  return middle
    .filter((r) => r.type === 'ou')
    .map((r) => r.value)
    .reverse();
}

/** A DN the way a form may take it: at least one type=value pair, no control characters. */
export function looksLikeDn(dn: string): boolean {
  return (
    !/[\u0000-\u001f]/.test(dn) &&
    parseDn(dn).length > 0 &&
    parseDn(dn).every((r) => /^[a-z][a-z0-9-]*$|^[0-9.]+$/.test(r.type) && r.value !== '')
  );
}
