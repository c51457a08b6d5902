import type { Sequelize } from 'sequelize';

/** A value a hand-written statement puts in its text. */
export type SqlValue = string | number | Date | null;

const MYSQL_ESCAPES: Record<string, string> = {
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\b': '\\b',
  '\t': '\\t',
  '\x1a': '\\Z',
  '\\': '\\\\',
  "'": "\\'",
  '"': '\\"',
};
const MYSQL_SPECIAL = /[\0\n\r\b\t\x1a\\'"]/g;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * SQL literals for the hot statements of a flush, written straight into the statement text. Sequelize's
 * replacements re-scan the whole statement for placeholders and escape value by value through several
 * layers, which at thousands of values per flush cost more than the database's own work (bench/node).
 * The escaping is the dialect's own (as Sequelize does it): backslash escapes on MariaDB/MySQL, doubled
 * quotes on SQLite; dates are UTC in the format Sequelize stores for each dialect.
 */
export function sqlLiterals(sequelize: Sequelize): (value: SqlValue) => string {
  const timestamp = lastTimestamp();
  if (sequelize.getDialect() === 'sqlite') {
    return (value) => {
      if (value === null) return 'NULL';
      if (typeof value === 'number') return finite(value);
      if (value instanceof Date) return `'${timestamp(value)} +00:00'`;
      return `'${value.replace(/'/g, "''")}'`;
    };
  }
  return (value) => {
    if (value === null) return 'NULL';
    if (typeof value === 'number') return finite(value);
    if (value instanceof Date) return `'${timestamp(value)}'`;
    return `'${value.replace(MYSQL_SPECIAL, (c) => MYSQL_ESCAPES[c]!)}'`;
  };
}

/**
 * utcTimestamp, remembering the last time it wrote: every row of a flush has the same creation time,
 * written once rather than once per row (keyed by the time, not the Date, which may change).
 */
function lastTimestamp(): (date: Date) => string {
  let time = Number.NaN;
  let text = '';
  return (date) => {
    const t = date.getTime();
    if (t !== time) {
      text = utcTimestamp(date);
      time = t;
    }
    return text;
  };
}

function finite(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
  return String(value);
}

/** `YYYY-MM-DD HH:MM:SS.mmm` in UTC (the connections' time zone), keeping the milliseconds. */
function utcTimestamp(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new TypeError('invalid date');
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)}`;
}
