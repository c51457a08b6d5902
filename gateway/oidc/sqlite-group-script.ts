import type { Statement } from './statements.ts';
import { withValues, type Literal } from './statement-text.ts';

/** The connection's own table (temp: never synced, seen by no other) of each statement's rows changed. */
const CHANGES = 'temp.oidc_group_changes';

/** What the group's script left in CHANGES, in the order of its statements. */
export const CHANGES_READ = `SELECT n FROM ${CHANGES} ORDER BY k`;

/**
 * A group commit's writes as one SQLite script, for one `exec` on the writes' connection: BEGIN, then every
 * request's statements in the order given, each followed by a row of CHANGES with the rows it changed.
 * It leaves the transaction open: its caller reads CHANGES_READ and then commits. Undefined when a value
 * cannot be written into the text (`literal`), and such a group goes statement by statement.
 */
export function groupScript(lists: Statement[][], literal: Literal): string | undefined {
  const parts = [
    'BEGIN IMMEDIATE',
    `CREATE TEMP TABLE IF NOT EXISTS ${CHANGES.slice('temp.'.length)} (k INTEGER PRIMARY KEY, n INTEGER NOT NULL)`,
    `DELETE FROM ${CHANGES}`,
  ];
  let k = 0;
  for (const statements of lists) {
    for (const { sql, values } of statements) {
      const text = withValues(sql, values, literal);
      if (text === undefined) return undefined;
      parts.push(text, `INSERT INTO ${CHANGES} VALUES (${k++}, changes())`);
    }
  }
  return `${parts.join(';\n')};`;
}

/** A value as Sequelize stores it in SQLite: dates as UTC text, which compares in time order. */
export function stored(value: unknown): unknown {
  if (!(value instanceof Date)) return value;
  return `${value.toISOString().replace('T', ' ').replace('Z', '')} +00:00`;
}
