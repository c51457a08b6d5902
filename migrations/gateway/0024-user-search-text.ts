import { QueryTypes, type Sequelize } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';
import { SEARCH_TEXT_MAX, searchTextOf } from '../../core/search-text.ts';

// A person's username, name and email as a search finds them (core/search-text.ts): case folded in every
// script and without accents, so that a search finds the same people on SQLite, whose LIKE ignores the
// case of ASCII letters only, and on MariaDB, whose collation decided by itself. The column compares as
// written (utf8mb4_bin), so its collation adds nothing to what the folding made. The model's hooks keep it
// from now on; the people already there get theirs here, a few hundred to a transaction.
export const up: Migration = async ({ context: { sequelize } }) => {
  const column =
    sequelize.getDialect() === 'sqlite'
      ? `VARCHAR(${SEARCH_TEXT_MAX})`
      : `VARCHAR(${SEARCH_TEXT_MAX}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`;
  await sequelize.query(`ALTER TABLE users ADD COLUMN search_text ${column} NULL`);
  await fillSearchText(sequelize);
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE users DROP COLUMN search_text');
};

const BATCH = 500;

type Person = { id: string; username: string; display_name: string; email: string };

async function fillSearchText(sequelize: Sequelize): Promise<void> {
  for (let after = ''; ; ) {
    const people = await sequelize.query<Person>(
      'SELECT id, username, display_name, email FROM users WHERE id > ? ORDER BY id LIMIT ?',
      { replacements: [after, BATCH], type: QueryTypes.SELECT },
    );
    if (people.length === 0) return;
    await sequelize.transaction(async (transaction) => {
      for (const p of people)
        await sequelize.query('UPDATE users SET search_text = ? WHERE id = ?', {
          replacements: [searchTextOf([p.username, p.display_name, p.email]), p.id],
          transaction,
        });
    });
    after = people.at(-1)!.id;
  }
}
