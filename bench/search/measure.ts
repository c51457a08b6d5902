/**
 * What bench:search measures on a loaded database: a member's searches through the index, the scan on a
 * subset of the same queries (and whether both find the same rows), and keeping the index in step: new
 * messages written through the flush's own insertRows (which queues them), then the indexer's work.
 */
import { performance } from 'node:perf_hooks';
import { Transaction, type Sequelize } from 'sequelize';
import { uuidv7 } from '../../core/uuid7.ts';
import type { NodeContext } from '../../node/context.ts';
import { insertRows } from '../../node/messages/group-commit.ts';
import { indexQueued } from '../../node/messages/search-index.ts';
import { scanMessages, searchMessages } from '../../node/messages/search-messages.ts';
import { defineNodeModels, type MessageRecord } from '../../node/models.ts';
import { percentiles, type Percentiles } from '../shared/percentiles.ts';
import { Histogram } from '../shared/histogram.ts';
import type { Corpus, Query } from './corpus.ts';
import { ME } from './load.ts';

export type KindFigures = { kind: string; queries: number; p50: number; max: number; meanHits: number };
export type SearchFigures = {
  all: Percentiles;
  byKind: KindFigures[];
  rounds: number;
  /** How long the benchmark's main thread was held at a time while it searched (its event loop's delay, ms). */
  held: { p99: number; max: number };
};
export type ScanFigures = { all: Percentiles; queries: string[]; same: boolean; differing: string[] };
export type UpkeepFigures = { messages: number; writeSeconds: number; indexSeconds: number };

/**
 * The searcher: a member of every conversation (search-messages.ts uses the database, its long reads, the
 * models and the actor).
 */
export function searcher(sequelize: Sequelize, longReads: Sequelize): NodeContext {
  const actor = { kind: 'user', address: ME, sub: 'me', username: 'me', name: 'Me', sid: null, clientId: 'bench' };
  return { sequelize, longReads, models: defineNodeModels(sequelize), actor } as unknown as NodeContext;
}

const timed = async <T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> => {
  const t0 = performance.now();
  const value = await run();
  return { ms: performance.now() - t0, value };
};

/** Every query `rounds` times (20 results, as the client asks); latency per search. */
export async function measureSearches(ctx: NodeContext, list: Query[], rounds: number): Promise<SearchFigures> {
  const all = new Histogram();
  const byKind = new Map<string, { ms: number[]; hits: number[] }>();
  // What a node's other requests would wait for while it searches: how long the main thread went at a
  // time without running a timer that asks every millisecond. (An event-loop delay histogram records
  // nothing while the loop never turns, as when every statement answers as a microtask.)
  const held = new Histogram();
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    held.record(now - last);
    last = now;
  };
  const ticker = setInterval(tick, 1);
  for (let round = 0; round < rounds; round++) {
    for (const { kind, query } of list) {
      // Searches come one at a time, with turns of the event loop between them, as a node's requests do.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const { ms, value } = await timed(() => searchMessages(ctx, { query, limit: 20 }));
      all.record(ms);
      const k = byKind.get(kind) ?? { ms: [], hits: [] };
      k.ms.push(ms);
      k.hits.push(value.messages.length);
      byKind.set(kind, k);
    }
  }
  clearInterval(ticker);
  tick();
  return {
    all: percentiles(all),
    rounds,
    held: { p99: held.percentile(0.99), max: held.max },
    byKind: [...byKind].map(([kind, k]) => ({
      kind,
      queries: k.ms.length / rounds,
      p50: [...k.ms].sort((a, b) => a - b)[Math.floor(k.ms.length / 2)]!,
      max: Math.max(...k.ms),
      meanHits: k.hits.reduce((a, b) => a + b, 0) / k.hits.length,
    })),
  };
}

/** The scan on the first query of each kind (up to `count`), and whether the index found the same rows. */
export async function measureScan(ctx: NodeContext, list: Query[], count: number): Promise<ScanFigures> {
  const firsts = [...new Map(list.map((q) => [q.kind, q])).values()].slice(0, count);
  const h = new Histogram();
  const differing: string[] = [];
  for (const { query } of firsts) {
    const { ms, value } = await timed(() => scanMessages(ctx, { query, limit: 20 }));
    h.record(ms);
    const indexed = await searchMessages(ctx, { query, limit: 20 });
    const ids = (r: { messages: { id: string }[] }) => r.messages.map((m) => m.id).join(',');
    if (ids(indexed) !== ids(value)) differing.push(query);
  }
  return { all: percentiles(h), queries: firsts.map((q) => q.query), same: differing.length === 0, differing };
}

/**
 * `count` new messages written as a flush writes them (insertRows, 500 a transaction: rows plus one queue
 * insert), then the indexer moving the queue into the index, each timed.
 */
export async function measureUpkeep(
  sequelize: Sequelize,
  conversationIds: string[],
  lastSeq: number,
  text: Corpus,
  count: number,
): Promise<UpkeepFigures> {
  const per = 500;
  const write = await timed(async () => {
    for (let from = 0; from < count; from += per) {
      const now = new Date();
      const rows: MessageRecord[] = [];
      for (let i = from; i < Math.min(from + per, count); i++) {
        const c = i % conversationIds.length;
        rows.push({
          conversationId: conversationIds[c]!,
          seq: lastSeq + Math.floor(i / conversationIds.length) + 1,
          id: uuidv7(now.getTime()),
          sender: ME,
          clientMsgId: `upkeep${i}`,
          kind: 'text',
          body: JSON.stringify({ text: text.text(10_000_000 + i) }),
          refId: null,
          createdAt: now,
          editedAt: null,
          recalledAt: null,
        });
      }
      await sequelize.transaction({ type: Transaction.TYPES.IMMEDIATE }, (tx) => insertRows(sequelize, tx, rows));
    }
  });
  const index = await timed(async () => {
    while ((await indexQueued(sequelize, 1000)) > 0);
  });
  return { messages: count, writeSeconds: write.ms / 1000, indexSeconds: index.ms / 1000 };
}
