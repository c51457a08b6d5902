import { QueryTypes, type Sequelize } from 'sequelize';
import { searchableText } from './search-index.ts';
import { documentTokens, queryTerms, type QueryTerm, type QueryTerms } from './search-tokens.ts';

/*
 * Which of a query's terms the index is asked for. Every term costs the index a read of its whole list
 * of messages (InnoDB FULLTEXT and FTS5 alike: a term in a quarter of all messages costs as much as the
 * rest of the search), and every candidate the index hands back costs a read of its index row, about
 * ten times as much per message on MariaDB (measured at 1,000,000 messages). So the rarest terms narrow
 * best for the least work, and a common term is worth adding only when it leaves out many candidates.
 * Any subset of the terms finds every match (search-tokens.ts): the choice changes the work, never the
 * rows found.
 *
 * How common a token is comes from a sample: the tokens of the node's newest text messages, read by each
 * process and again every few minutes. Until a process has one, the terms are chosen by their shape
 * (search-tokens.ts, queryTerms).
 */

const SAMPLE_MESSAGES = 2000;
const SAMPLE_MAX_AGE_MS = 5 * 60_000;
/**
 * A candidate costs about this many term-list entries: its index row read and ordered (on MariaDB about
 * 4.5 µs against 0.45 µs an entry, for the sort alone), joined and checked. Chosen by measuring: 20, 40,
 * 80 and 160 at 1,000,000 messages on MariaDB gave a p95 of about 100, 99, 90 and 94 ms.
 */
const CANDIDATE_COST = 80;

export type Sample = {
  at: number;
  messages: number;
  /** The tokens sorted, to count those with a prefix. */
  sorted: string[];
  /** The sampled texts, lowercased. */
  texts: string[];
  /** Per token, which sampled messages (their places in `texts`) have it. */
  postings: Map<string, number[]>;
};

const samples = new WeakMap<Sequelize, { sample?: Sample; reading?: Promise<void> }>();

/** Texts tokenized at a time while a sample is read in the background (a few milliseconds of the thread). */
const SLICE = 200;

/** A sample of these texts (the newest messages'). */
export function sampleOf(texts: string[]): Sample {
  const postings = new Map<string, number[]>();
  addPostings(postings, texts, 0, texts.length);
  return sampleFrom(texts, postings);
}

/**
 * The same sample, built a slice of texts at a time with a turn of the event loop between slices:
 * tokenizing 2,000 texts takes the thread tens of milliseconds, which every socket of the node would
 * otherwise wait for.
 */
export async function sampleInSlices(texts: string[]): Promise<Sample> {
  const postings = new Map<string, number[]>();
  for (let at = 0; at < texts.length; at += SLICE) {
    if (at > 0) await new Promise((resolve) => setImmediate(resolve));
    addPostings(postings, texts, at, Math.min(texts.length, at + SLICE));
  }
  return sampleFrom(texts, postings);
}

function addPostings(postings: Map<string, number[]>, texts: string[], from: number, to: number): void {
  for (let i = from; i < to; i++) {
    for (const token of documentTokens(texts[i]!).split(' ')) {
      const list = postings.get(token);
      if (list) list.push(i);
      else postings.set(token, [i]);
    }
  }
}

function sampleFrom(texts: string[], postings: Map<string, number[]>): Sample {
  return {
    at: Date.now(),
    messages: texts.length,
    postings,
    sorted: [...postings.keys()].sort(),
    texts: texts.map((t) => t.toLowerCase()),
  };
}

/** Reads this database's sample now, for the searches after. */
export async function readSample(sequelize: Sequelize): Promise<void> {
  const rows = await sequelize.query<{ kind: string; body: string; recalled_at: unknown }>(
    `SELECT kind, body, recalled_at FROM messages WHERE kind = 'text' ORDER BY id DESC LIMIT ${SAMPLE_MESSAGES}`,
    { type: QueryTypes.SELECT },
  );
  const sample = await sampleInSlices(rows.flatMap((row) => searchableText(row) || []));
  let entry = samples.get(sequelize);
  if (!entry) samples.set(sequelize, (entry = {}));
  entry.sample = sample;
}

/**
 * The sample of this database, if one was read; an aged or missing one is read again in the background
 * (tokenizing it takes tens of milliseconds, which no search waits for, and in slices, which no other
 * request waits for either). A failed read only leaves the searches without a sample until the next try.
 */
function currentSample(sequelize: Sequelize): Sample | undefined {
  let entry = samples.get(sequelize);
  if (!entry) samples.set(sequelize, (entry = {}));
  const stale = !entry.sample || Date.now() - entry.sample.at > SAMPLE_MAX_AGE_MS;
  if (stale && !entry.reading) {
    const own = entry;
    own.reading = readSample(sequelize)
      .catch(() => undefined)
      .finally(() => {
        own.reading = undefined;
      });
  }
  return entry.sample;
}

/** The sampled tokens a term stands for: itself, or every token it starts. */
function tokensOf(sample: Sample, term: QueryTerm): string[] {
  if (!term.prefix) return sample.postings.has(term.token) ? [term.token] : [];
  let lo = 0;
  let hi = sample.sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sample.sorted[mid]! < term.token) lo = mid + 1;
    else hi = mid;
  }
  const out: string[] = [];
  for (let i = lo; i < sample.sorted.length && sample.sorted[i]!.startsWith(term.token); i++)
    out.push(sample.sorted[i]!);
  return out;
}

/** The terms, and how many of the sampled newest messages contain the query itself (no sample: unknown). */
export type Choice = { terms: QueryTerms; sampled?: { matches: number; messages: number } };

/**
 * The terms to ask the index for, one at a time: the one that leaves out the most candidates for what
 * its list costs, as long as what it leaves out (among the sampled messages that have every term chosen
 * so far) is worth more than its list.
 */
export function chooseTerms(sequelize: Sequelize, needle: string, all: QueryTerm[]): Choice {
  return chooseFrom(currentSample(sequelize), needle, all);
}

/** chooseTerms with this sample (none: by the terms' shape). */
export function chooseFrom(sample: Sample | undefined, needle: string, all: QueryTerm[]): Choice {
  if (!sample || sample.messages === 0) return { terms: queryTerms(needle) };
  const share = (count: number) => (count + 0.5) / (sample.messages + 1);
  const options = all.map((term) => {
    const lists = tokensOf(sample, term).map((t) => sample.postings.get(t)!);
    const docs = new Set(lists.flat());
    return { term, cost: share(lists.reduce((sum, list) => sum + list.length, 0)), has: (i: number) => docs.has(i) };
  });
  const chosen: QueryTerm[] = [];
  let candidates = sample.texts.map((_, i) => i);
  for (;;) {
    let best: { option: (typeof options)[number]; left: number[]; gain: number } | undefined;
    for (const option of options) {
      if (chosen.includes(option.term)) continue;
      const left = candidates.filter(option.has);
      const gain = CANDIDATE_COST * (share(candidates.length) - share(left.length)) - option.cost;
      if (!best || gain > best.gain) best = { option, left, gain };
    }
    if (!best || (chosen.length > 0 && best.gain <= 0)) break;
    chosen.push(best.option.term);
    candidates = best.left;
  }
  const pick = (prefix: boolean) => chosen.filter((t) => t.prefix === prefix).map((t) => t.token);
  return {
    terms: { exact: pick(false), prefix: pick(true) },
    sampled: { matches: sample.texts.filter((text) => text.includes(needle)).length, messages: sample.messages },
  };
}
