import type { Sequelize } from 'sequelize';
import { sqlLiterals } from '../../core/sql-literal.ts';

/** A value written as a literal of the database's SQL; undefined when it cannot be. */
export type Literal = (value: unknown) => string | undefined;

/**
 * `sql` with each `?` outside quotes replaced by its value written as `literal` writes it, for a script
 * or block sent as text in one call; undefined when a value cannot be written, or when the values and
 * the placeholders do not match one to one.
 */
export function withValues(sql: string, values: unknown[], literal: Literal): string | undefined {
  let text = '';
  let quote: string | undefined;
  let next = 0;
  for (const char of sql) {
    if (quote === undefined && char === '?') {
      const value = next < values.length ? literal(values[next++]) : undefined;
      if (value === undefined) return undefined;
      text += value;
      continue;
    }
    if (char === quote) quote = undefined;
    else if (quote === undefined && (char === "'" || char === '"' || char === '`')) quote = char;
    text += char;
  }
  return next === values.length ? text : undefined;
}

/**
 * Values as the database reads them in a statement's text, written as core/sql-literal.ts writes them
 * (dates in UTC, as the connections bind them). MariaDB's writes use it (mariadb-statements.ts); SQLite's
 * go to their thread with the values bound.
 */
export function textLiterals(sequelize: Sequelize): Literal {
  const write = sqlLiterals(sequelize);
  return (value) => {
    if (value === null || value === undefined) return 'NULL';
    if (typeof value === 'number') return Number.isFinite(value) ? write(value) : undefined;
    if (typeof value === 'string') return write(value);
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : write(value);
    return undefined;
  };
}
