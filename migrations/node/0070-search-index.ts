import { DataTypes, QueryTypes, type Sequelize } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Message search by an index instead of a scan (node/messages/search-index.ts): the node's own tokens
// (n-grams, node/messages/search-tokens.ts) in a FULLTEXT column on MariaDB and an FTS5 table on SQLite,
// and the queue through which flushes hand new text to the indexer. Messages already stored are indexed
// here, in batches, with the copy of the tokenizer below: a migration must keep doing what it did when it
// was written, whatever the live tokenizer becomes (a changed tokenizer comes with a migration that
// indexes again).

export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.createTable('message_search_queue', {
    seq: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    message_id: { type: DataTypes.STRING(36), allowNull: false },
  });
  if (sequelize.getDialect() === 'sqlite') {
    await sequelize.query(
      `CREATE TABLE message_search (
         doc INTEGER PRIMARY KEY,
         message_id VARCHAR(36) NOT NULL UNIQUE,
         conversation_id VARCHAR(36) NOT NULL,
         seq BIGINT NOT NULL,
         created_at DATETIME NOT NULL
       )`,
    );
    // Contentless: the tokens are kept only in the index; rows can still be deleted by their number.
    await sequelize.query(
      "CREATE VIRTUAL TABLE message_search_fts USING fts5(tokens, content='', contentless_delete=1, tokenize='ascii')",
    );
  } else {
    // Tokens never are stopwords (see the tokenizer), and the index ignores stopwords besides: the setting
    // in force when a FULLTEXT index is created is the one it keeps.
    await sequelize.transaction(async (tx) => {
      await sequelize.query('SET SESSION innodb_ft_enable_stopword = 0', { transaction: tx });
      await sequelize.query(
        `CREATE TABLE message_search (
           message_id VARCHAR(36) NOT NULL PRIMARY KEY,
           conversation_id VARCHAR(36) NOT NULL,
           seq BIGINT NOT NULL,
           created_at DATETIME(3) NOT NULL,
           tokens MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
           FULLTEXT KEY message_search_tokens (tokens)
         ) ENGINE=InnoDB`,
        { transaction: tx },
      );
      await sequelize.query('SET SESSION innodb_ft_enable_stopword = 1', { transaction: tx });
    });
  }
  await indexStoredMessages(sequelize);
};

export const down: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  if (sequelize.getDialect() === 'sqlite') await sequelize.query('DROP TABLE message_search_fts');
  await qi.dropTable('message_search');
  await qi.dropTable('message_search_queue');
};

const BATCH = 2000;

/** Every visible text message, in key order, a batch per transaction. */
async function indexStoredMessages(sequelize: Sequelize) {
  const sqlite = sequelize.getDialect() === 'sqlite';
  const q = (value: string) => sequelize.escape(value);
  let after: { conversationId: string; seq: number } | undefined;
  for (;;) {
    const where = after
      ? `AND (conversation_id > ${q(after.conversationId)} OR (conversation_id = ${q(after.conversationId)} AND seq > ${Number(after.seq)}))`
      : '';
    const rows = await sequelize.query<{
      conversation_id: string;
      seq: number;
      id: string;
      body: string;
      created_at: Date | string;
    }>(
      `SELECT conversation_id, seq, id, body, created_at FROM messages
        WHERE kind = 'text' AND recalled_at IS NULL ${where}
        ORDER BY conversation_id, seq LIMIT ${BATCH}`,
      { type: QueryTypes.SELECT },
    );
    if (rows.length === 0) return;
    const last = rows[rows.length - 1]!;
    after = { conversationId: last.conversation_id, seq: Number(last.seq) };
    const entries = rows.flatMap((row) => {
      const text = textOf(row.body);
      if (text === undefined) return [];
      const about = [q(row.id), q(row.conversation_id), Number(row.seq), q(timeOf(row.created_at, sqlite))].join(', ');
      return [{ id: row.id, about, tokens: tokensOf(text) }];
    });
    if (entries.length === 0) continue;
    await sequelize.transaction(async (tx) => {
      if (!sqlite) {
        await sequelize.query(
          `INSERT INTO message_search (message_id, conversation_id, seq, created_at, tokens) VALUES ${entries.map((e) => `(${e.about}, ${q(e.tokens)})`).join(', ')}`,
          { transaction: tx },
        );
        return;
      }
      const [top] = await sequelize.query<{ doc: number | null }>('SELECT MAX(doc) AS doc FROM message_search', {
        type: QueryTypes.SELECT,
        transaction: tx,
      });
      const first = Number(top?.doc ?? 0) + 1;
      await sequelize.query(
        `INSERT INTO message_search (doc, message_id, conversation_id, seq, created_at) VALUES ${entries.map((e, i) => `(${first + i}, ${e.about})`).join(', ')}`,
        { transaction: tx },
      );
      await sequelize.query(
        `INSERT INTO message_search_fts (rowid, tokens) VALUES ${entries.map((e, i) => `(${first + i}, ${q(e.tokens)})`).join(', ')}`,
        { transaction: tx },
      );
    });
  }
}

/** A stored time as read, written back as the node writes it: UTC with milliseconds (SQLite: and its zone). */
function timeOf(value: Date | string, sqlite: boolean): string {
  if (!(value instanceof Date)) return value;
  return `${value.toISOString().replace('T', ' ').replace('Z', '')}${sqlite ? ' +00:00' : ''}`;
}

function textOf(body: string): string | undefined {
  try {
    const text = (JSON.parse(body) as { text?: unknown }).text;
    return typeof text === 'string' ? text : undefined;
  } catch {
    return undefined;
  }
}

// The tokenizer as of this migration (node/messages/search-tokens.ts explains it): runs of letters of
// spaced scripts give 4-character heads (at least 2), runs of Han/Hiragana/Katakana 2-character heads,
// and where two runs meet with at most 3 signs between, a junction token.

const LETTER = /[\p{L}\p{N}\p{M}]/u;
const CJK = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]/u;

type Kind = 'word' | 'cjk' | 'none';

function kindOf(char: string): Kind {
  const code = char.charCodeAt(0);
  if (code < 0x80) return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) ? 'word' : 'none';
  if (!LETTER.test(char)) return 'none';
  return CJK.test(char) ? 'cjk' : 'word';
}

function encodeChar(char: string): string {
  const code = char.codePointAt(0)!;
  if ((code >= 0x61 && code < 0x7a) || (code >= 0x30 && code <= 0x39)) return char;
  if (char === 'z') return 'zz';
  return `z${code.toString(36).padStart(4, '0')}`;
}

export function tokensOf(text: string): string {
  const seen = new Set<string>();
  let kind: Kind = 'none';
  let chars: string[] = [];
  let last: string | undefined;
  let signs: string[] = [];
  const flush = () => {
    if (kind === 'none') return;
    const n = kind === 'word' ? 4 : 2;
    const shortest = kind === 'word' ? 2 : 1;
    for (let p = 0; p + shortest <= chars.length; p++) {
      seen.add(
        (kind === 'word' ? 'q' : 'y') +
          chars
            .slice(p, p + n)
            .map(encodeChar)
            .join(''),
      );
    }
    if (last !== undefined && signs.length <= 3) seen.add(`j${[last, ...signs, chars[0]!].map(encodeChar).join('')}`);
    last = chars[chars.length - 1];
    signs = [];
  };
  for (const char of text.toLowerCase()) {
    const next = kindOf(char);
    if (next === kind) {
      if (kind === 'none') signs.push(char);
      else chars.push(char);
      continue;
    }
    flush();
    kind = next;
    chars = [char];
    if (next === 'none') signs = [char];
  }
  flush();
  return [...seen].join(' ');
}
