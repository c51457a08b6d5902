/**
 * Fills a migrated node database with the benchmark's conversations and messages as fast as the database
 * takes them: multi-row inserts of 2,000 rows, a transaction each, with the index rows written alongside
 * by the node's own code (insertIndexEntries) from the node's own tokenizer. On MariaDB the FULLTEXT
 * index is dropped for the load and built once at the end (a sorted build, many times faster than growing
 * it row by row), with the settings migration 0070 gives it.
 */
import { randomUUID } from 'node:crypto';
import { QueryTypes, type Sequelize } from 'sequelize';
import { sqlLiterals } from '../../core/sql-literal.ts';
import { uuidv7 } from '../../core/uuid7.ts';
import { insertIndexEntries, type IndexEntry } from '../../node/messages/search-index.ts';
import { documentTokens } from '../../node/messages/search-tokens.ts';
import type { Corpus } from './corpus.ts';

export const ME = 'me@search.bench.test';
const OTHERS_PER_CONVERSATION = 9;
const CHUNK = 2000;
/** Messages are half a second apart, the newest a minute ago. */
const SPACING_MS = 500;

export type Shape = { messages: number; conversations: number };
export type Loaded = { conversationIds: string[]; seconds: number; indexSeconds: number; lastSeq: number };

const other = (c: number, k: number) => `p${c}x${k}@search.bench.test`;

export async function loadCorpus(
  sequelize: Sequelize,
  shape: Shape,
  text: Corpus,
  progress: (done: number) => void,
): Promise<Loaded> {
  const started = performance.now();
  const sqlite = sequelize.getDialect() === 'sqlite';
  const literal = sqlLiterals(sequelize);
  const base = Date.now() - 60_000 - shape.messages * SPACING_MS;
  const conversationIds = Array.from({ length: shape.conversations }, () => randomUUID());
  const lastSeq = Math.ceil(shape.messages / shape.conversations);
  await insertConversations(sequelize, conversationIds, lastSeq, new Date(base));
  if (!sqlite) await sequelize.query('ALTER TABLE message_search DROP INDEX message_search_tokens');
  for (let from = 0; from < shape.messages; from += CHUNK) {
    const rows: string[] = [];
    const entries: IndexEntry[] = [];
    for (let i = from; i < Math.min(from + CHUNK, shape.messages); i++) {
      const c = i % shape.conversations;
      const at = base + i * SPACING_MS;
      const id = uuidv7(at);
      const sender = i % 4 === 0 ? ME : other(c, i % OTHERS_PER_CONVERSATION);
      const body = text.text(i);
      rows.push(
        `(${[conversationIds[c]!, Math.floor(i / shape.conversations) + 1, id, sender, `b${i}`, 'text', JSON.stringify({ text: body }), null, new Date(at), null, null].map(literal).join(', ')})`,
      );
      entries.push({
        id,
        conversationId: conversationIds[c]!,
        seq: Math.floor(i / shape.conversations) + 1,
        createdAt: new Date(at),
        tokens: documentTokens(body),
      });
    }
    await sequelize.transaction(async (tx) => {
      await sequelize.query(
        `INSERT INTO messages (conversation_id, seq, id, sender, client_msg_id, kind, body, ref_id, created_at, edited_at, recalled_at) VALUES ${rows.join(', ')}`,
        { type: QueryTypes.INSERT, transaction: tx },
      );
      await insertIndexEntries(sequelize, tx, entries, literal);
    });
    progress(Math.min(from + CHUNK, shape.messages));
  }
  const indexStarted = performance.now();
  if (!sqlite) {
    await sequelize.transaction(async (tx) => {
      await sequelize.query('SET SESSION innodb_ft_enable_stopword = 0', { transaction: tx });
      await sequelize.query('ALTER TABLE message_search ADD FULLTEXT KEY message_search_tokens (tokens)', {
        transaction: tx,
      });
      await sequelize.query('SET SESSION innodb_ft_enable_stopword = 1', { transaction: tx });
    });
  }
  const done = performance.now();
  return {
    conversationIds,
    seconds: (done - started) / 1000,
    indexSeconds: (done - indexStarted) / 1000,
    lastSeq,
  };
}

/** The conversations (groups) and their members: the searcher in every one, nine others each. */
async function insertConversations(sequelize: Sequelize, ids: string[], lastSeq: number, at: Date) {
  const literal = sqlLiterals(sequelize);
  const conversations = ids.map(
    (id, c) =>
      `(${[id, 'group', 'search.bench.test', `Group ${c}`, null, lastSeq, ME, at, at].map(literal).join(', ')})`,
  );
  await sequelize.query(
    `INSERT INTO conversations (id, kind, home_domain, title, direct_key, last_seq, created_by, created_at, updated_at) VALUES ${conversations.join(', ')}`,
  );
  const members = ids.flatMap((id, c) =>
    [ME, ...Array.from({ length: OTHERS_PER_CONVERSATION }, (_, k) => other(c, k))].map(
      (address) =>
        `(${[id, address, address === ME ? 'admin' : 'member', 'active', 0, 0, 0, at, at].map(literal).join(', ')})`,
    ),
  );
  await sequelize.query(
    `INSERT INTO members (conversation_id, address, role, state, joined_seq, read_seq, delivered_seq, created_at, updated_at) VALUES ${members.join(', ')}`,
  );
}
