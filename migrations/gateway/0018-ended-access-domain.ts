import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Access ended on one domain only: an administrator moved a person off the units a domain serves, so that
// domain's node ends their sockets and refuses the access tokens it issued them until then, while their
// other domains and their gateway session go on (gateway/accounts/chat-moves.ts). Null, as every row
// before, ends access on every domain. Only that domain's node is told of such a row, pushed or fetched.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('ended_access', 'domain', { type: DataTypes.STRING(253), allowNull: true });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE ended_access DROP COLUMN domain');
};
