import type { Migration } from '../../core/migrator.ts';

// A person's account history on their console page (gateway/accounts/account-history.ts) reads the audit
// entries whose target is their username, newest first: without this index each page read the whole log.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addIndex('audit_events', ['target', 'at'], { name: 'audit_events_target_at' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeIndex('audit_events', 'audit_events_target_at');
};
