import type { MessageRecord } from '../models.ts';

/**
 * A `messages` row as a raw query returns it (snake_case columns; dates as Date objects from MariaDB
 * and as text from SQLite), as the record the node passes around: reading thousands of rows without
 * building a Sequelize instance for each (a sync's pages, a flush's rows read back).
 */
export function messageRecordOf(r: Record<string, unknown>): MessageRecord {
  return {
    conversationId: String(r.conversation_id),
    seq: Number(r.seq),
    id: String(r.id),
    sender: String(r.sender),
    clientMsgId: String(r.client_msg_id),
    kind: String(r.kind),
    body: String(r.body),
    refId: (r.ref_id as string | null) ?? null,
    createdAt: new Date(r.created_at as string),
    editedAt: r.edited_at ? new Date(r.edited_at as string) : null,
    recalledAt: r.recalled_at ? new Date(r.recalled_at as string) : null,
  };
}
