import type { Sequelize } from 'sequelize';
import { sqlLiterals } from '../../core/sql-literal.ts';
import type { Statement } from './statements.ts';
import { withValues, type Literal } from './statement-text.ts';

/**
 * A request's writes as one anonymous compound statement of MariaDB: each statement with its values
 * written in, the rows it changed kept in a local variable (`c0`, `c1`, …) and answered by the block's
 * last SELECT. No transaction of its own: each statement commits as it would sent alone. Undefined when
 * a value cannot be written into the text, and the writes go one by one.
 */
export function writesInOneBlock(statements: Statement[], literal: Literal): string | undefined {
  const names = statements.map((_, i) => `c${i}`);
  const parts = [`DECLARE ${names.join(', ')} BIGINT DEFAULT 0`];
  for (const [i, { sql, values }] of statements.entries()) {
    const text = withValues(sql, values, literal);
    if (text === undefined) return undefined;
    parts.push(text, `SET ${names[i]} = ROW_COUNT()`);
  }
  parts.push(`SELECT ${names.join(', ')}`);
  return `BEGIN NOT ATOMIC ${parts.join('; ')}; END`;
}

/** Values as MariaDB reads them in a statement's text: dates in UTC, the connections' zone, as bound. */
export function blockLiterals(sequelize: Sequelize): Literal {
  const write = sqlLiterals(sequelize);
  return (value) => {
    if (value === null || value === undefined) return 'NULL';
    if (typeof value === 'number') return Number.isFinite(value) ? write(value) : undefined;
    if (typeof value === 'string') return write(value);
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : write(value);
    return undefined;
  };
}
