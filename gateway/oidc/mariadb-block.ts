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
