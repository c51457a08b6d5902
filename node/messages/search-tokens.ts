/**
 * The search index's tokens: n-grams computed here, in the node, so that MariaDB's FULLTEXT and SQLite's
 * FTS5 index the same words and a substring query maps to tokens the same way on both.
 *
 * Text is lowercased, then cut into runs: a *word* is a run of letters, digits and marks of a spaced
 * script; a *CJK run* is a run of Han, Hiragana or Katakana, scripts written without spaces. Every run
 * stores its "heads": the piece starting at each position, 4 characters long in a word (2 in a CJK run)
 * or shorter where the run ends. For "report": repo, epor, port, ort, rt; for 東京都: 東京, 京都, 都.
 *
 * A query is a substring of the text, so each of its runs is a substring of a run of the text, and:
 * - a query run at least a head long has its own heads (4-grams, bigrams) among the text run's heads;
 * - a shorter one is the start of the head at the same place: a prefix term (`rt*`), or an exact term
 *   when the query goes on after it, since the text run must end there too.
 * The tokens only narrow the candidates; the message's own text decides (search-messages.ts), so a
 * search finds exactly what a scan would.
 *
 * Where two runs meet, a *junction* token holds the last character of the one, the signs between (up to
 * three) and the first character of the next: a query's own junctions narrow a query of several words.
 *
 * Every character is written in [a-z0-9]: the letters a–y and digits as themselves, `z` as `zz`, any
 * other character as `z` and its code point in four base-36 digits. Each character's code is a prefix of
 * no other's, so a prefix of a piece is a prefix of its token; and no word parser splits a token. A token
 * starts with `q` (word), `y` (CJK run) or `j` (junction): none of MariaDB's default stopwords starts so,
 * and every token is at least 3 long (innodb_ft_min_token_size).
 */

const WORD_GRAM = 4;
const CJK_GRAM = 2;
/** Enough terms to narrow well; more would only make the index do more work. */
const MAX_TERMS = 12;

const LETTER = /[\p{L}\p{N}\p{M}]/u;
const CJK = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]/u;

type Kind = 'word' | 'cjk' | 'none';

function kindOf(char: string): Kind {
  const code = char.charCodeAt(0);
  if (code < 0x80) return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) ? 'word' : 'none';
  if (!LETTER.test(char)) return 'none';
  return CJK.test(char) ? 'cjk' : 'word';
}

/**
 * A run of the text: its characters as tokens write them (encodeChar), and where it lies in the text.
 * `plain`: each is written as itself (a–y, digits), so a piece of the run is a piece of the text, taken
 * whole (the common case, English words) rather than built a character at a time: the indexer tokenizes
 * every message on the node's main thread, and its pieces were about 12% of what a busy node allocated
 * (bench:node heap profile). `endsBefore`: something follows the run within the text. `after`: the
 * signs between the run before and this one, when there is a run before within the text.
 */
type Run = {
  kind: 'word' | 'cjk';
  codes: string[];
  start: number;
  plain: boolean;
  endsBefore: boolean;
  after?: string[];
};

function runsOf(lower: string): Run[] {
  const runs: Run[] = [];
  let current: Run | undefined;
  let signs: string[] | undefined;
  let at = 0;
  for (const char of lower) {
    const start = at;
    at += char.length;
    const kind = kindOf(char);
    if (current && current.kind === kind) {
      const code = encodeChar(char);
      current.codes.push(code);
      current.plain &&= code.length === 1;
      continue;
    }
    if (current) {
      current.endsBefore = true;
      signs = [];
    }
    if (kind === 'none') {
      current = undefined;
      signs?.push(encodeChar(char));
      continue;
    }
    const code = encodeChar(char);
    current = {
      kind,
      codes: [code],
      start,
      plain: code.length === 1,
      endsBefore: false,
      ...(signs ? { after: signs } : {}),
    };
    runs.push(current);
  }
  return runs;
}

/** Letters a–y and digits as themselves; `z` as `zz`; any other character as `z` and 4 base-36 digits. */
function encodeChar(char: string): string {
  const code = char.codePointAt(0)!;
  if ((code >= 0x61 && code < 0x7a) || (code >= 0x30 && code <= 0x39)) return char;
  if (char === 'z') return 'zz';
  return `z${code.toString(36).padStart(4, '0')}`;
}

/** The token of the piece of a run (found in `text`) from character `p`, `n` long or up to the run's end. */
function gram(run: Run, text: string, p: number, n: number): string {
  const prefix = run.kind === 'word' ? 'q' : 'y';
  const end = Math.min(p + n, run.codes.length);
  if (run.plain) return prefix + text.slice(run.start + p, run.start + end);
  let out = prefix;
  for (let i = p; i < end; i++) out += run.codes[i];
  return out;
}

/** Signs between two runs longer than this give no junction (a junction spells them out). */
const MAX_JUNCTION_SIGNS = 3;

/**
 * Where two runs meet: the last character of one, the signs between, the first of the next ("b r" in
 * "lab report"). A query of several words has their junctions, which the words' n-grams alone do not
 * say: two common words are in many messages, one after the other in far fewer.
 */
function junction(before: Run, run: Run): string | undefined {
  if (!run.after || run.after.length > MAX_JUNCTION_SIGNS) return undefined;
  return `j${before.codes[before.codes.length - 1]!}${run.after.join('')}${run.codes[0]!}`;
}

/** The run's heads: the piece at each position, a gram long or up to the run's end (words: at least 2). */
function heads(run: Run, text: string): string[] {
  const n = run.kind === 'word' ? WORD_GRAM : CJK_GRAM;
  const shortest = run.kind === 'word' ? 2 : 1;
  const out: string[] = [];
  for (let p = 0; p + shortest <= run.codes.length; p++) out.push(gram(run, text, p, n));
  return out;
}

/** The tokens of a message's text, space-separated, each once: what the index stores for it. */
export function documentTokens(text: string): string {
  const seen = new Set<string>();
  const lower = text.toLowerCase();
  const runs = runsOf(lower);
  runs.forEach((run, i) => {
    for (const t of heads(run, lower)) seen.add(t);
    const joined = i > 0 ? junction(runs[i - 1]!, run) : undefined;
    if (joined) seen.add(joined);
  });
  return [...seen].join(' ');
}

/** What a query asks of the index: tokens a match must have, and prefixes one of its tokens must start with. */
export type QueryTerms = { exact: string[]; prefix: string[] };

/** One term of a query: a token a match must have (or, `prefix`, start one of its tokens with). */
export type QueryTerm = { token: string; prefix: boolean; junction: boolean };

/**
 * Every term that every text containing `needle` (already lowercased) satisfies: each n-gram of each
 * run, the start of a run shorter than that, and each junction; none when the needle gives none (only
 * single letters between signs, say). Any of them narrows; which are worth asking for is search-terms.ts's
 * choice.
 */
export function allQueryTerms(needle: string): QueryTerm[] {
  const out: QueryTerm[] = [];
  const seen = new Set<string>();
  const add = (token: string, prefix: boolean, junction: boolean) => {
    const key = `${prefix ? '*' : ''}${token}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ token, prefix, junction });
  };
  // Half of a surrogate pair would be a sign here but half a letter in the text: runs would not line up.
  if (!needle.isWellFormed()) return [];
  const runs = runsOf(needle);
  runs.forEach((run, i) => {
    const n = run.kind === 'word' ? WORD_GRAM : CJK_GRAM;
    const length = run.codes.length;
    const joined = i > 0 ? junction(runs[i - 1]!, run) : undefined;
    if (joined) add(joined, false, true);
    if (length >= n) {
      for (let p = 0; p + n <= length; p++) add(gram(run, needle, p, n), false, false);
    } else if (run.kind === 'cjk' || length >= 2) {
      add(gram(run, needle, 0, length), !run.endsBefore, false);
    }
  });
  return out;
}

/**
 * The terms to ask for when nothing says which are rare: up to MAX_TERMS, the junctions first (where
 * common words meet is rarer than the words), then n-grams spread over the query, then a few prefixes.
 */
export function queryTerms(needle: string): QueryTerms {
  const all = allQueryTerms(needle);
  const tokens = (pick: (t: QueryTerm) => boolean) => all.filter(pick).map((t) => t.token);
  const junctions = tokens((t) => t.junction);
  const exact = tokens((t) => !t.prefix && !t.junction);
  const kept = junctions.slice(0, MAX_TERMS / 2);
  const prefixes = tokens((t) => t.prefix).slice(0, MAX_TERMS / 4);
  return { exact: [...kept, ...spread(exact, MAX_TERMS - kept.length - prefixes.length)], prefix: prefixes };
}

/** At most `count` of the terms, spread over the query rather than its start. */
function spread(terms: string[], count: number): string[] {
  if (terms.length <= count) return terms;
  const step = terms.length / count;
  return Array.from({ length: count }, (_, i) => terms[Math.floor(i * step)]!);
}

/** Whether the query gives the index anything to narrow by. */
export const hasTerms = (terms: QueryTerms) => terms.exact.length + terms.prefix.length > 0;
