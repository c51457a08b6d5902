import type { Migration } from '../../core/migrator.ts';

// "Read by k of N" counts a group's active members by read position (node/receipts/read-counts.ts): a
// range of this index, holding every column the count reads, instead of every row of a 10,000-member
// group. `address` is here for SQLite, whose other indexes do not carry the primary key; InnoDB's do.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addIndex('members', ['conversation_id', 'state', 'read_seq', 'address'], {
    name: 'members_read_positions',
  });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeIndex('members', 'members_read_positions');
};
