import type { Migration } from '../../core/migrator.ts';

// What one person's unshared uploads take up is summed at every upload (node/attachments/upload-quota.ts).
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addIndex('attachments', ['owner', 'conversation_id'], { name: 'attachments_owner' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeIndex('attachments', 'attachments_owner');
};
