import { Op, type Sequelize } from 'sequelize';

/**
 * The escape character of every LIKE pattern the code builds. Not backslash: MariaDB treats it as the
 * default LIKE escape and as a string-literal escape, SQLite as neither, so one pattern could not mean the
 * same on both. With `!` and an explicit ESCAPE clause, `%` and `_` in a user's text match themselves.
 */
export const LIKE_ESCAPE = '!';

/** The clause a hand-written statement puts after `LIKE :pattern`. */
export const ESCAPE_CLAUSE = `ESCAPE '${LIKE_ESCAPE}'`;

/** `text` with LIKE's wildcards (and the escape character itself) made literal. */
export function escapeLike(text: string): string {
  return text.replace(/[!%_]/g, (c) => `${LIKE_ESCAPE}${c}`);
}

/** A pattern matching `text` literally anywhere. */
export const containsPattern = (text: string) => `%${escapeLike(text)}%`;

/** A pattern matching values that start with `text` literally. */
export const prefixPattern = (text: string) => `${escapeLike(text)}%`;

/**
 * A Sequelize condition `LIKE <pattern> ESCAPE '!'` for a where clause (`{ username: like(sq, p) }`);
 * Sequelize has no option for the ESCAPE clause, so the pattern is quoted by the dialect's own escaping.
 * Build `pattern` with containsPattern/prefixPattern, never from raw input.
 */
export function like(sequelize: Sequelize, pattern: string) {
  return { [Op.like]: sequelize.literal(`${sequelize.escape(pattern)} ${ESCAPE_CLAUSE}`) };
}

/**
 * A Sequelize condition on values that start with `text`, which the column's index serves on both
 * databases: MariaDB reads a prefix LIKE as a range of the index; SQLite's LIKE ignores case, so it
 * cannot use an index of the column as declared and scans the table, and the range is written out.
 */
export function startsWith(sequelize: Sequelize, text: string) {
  if (sequelize.getDialect() !== 'sqlite') return like(sequelize, prefixPattern(text));
  const last = text.length - 1;
  return { [Op.gte]: text, [Op.lt]: text.slice(0, last) + String.fromCharCode(text.charCodeAt(last) + 1) };
}
