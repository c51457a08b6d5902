import type { Sequelize } from 'sequelize';
import type { Append } from '../../node/messages/group-commit.ts';

/** A text message for the group committer, its text its client id. */
export function textEntry(conversationId: string, clientMsgId: string, sender = 'alice@eng.campus.test'): Append {
  return { conversationId, sender, clientMsgId, kind: 'text', body: JSON.stringify({ text: clientMsgId }) };
}

/**
 * Another process's transaction holding a conversation's row (`SELECT … FOR UPDATE`, as a flush of its
 * own there would) until released.
 */
export async function holdConversationRow(sequelize: Sequelize, id: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let holding!: () => void;
  const held = new Promise<void>((r) => (holding = r));
  const transaction = sequelize.transaction(async (tx) => {
    await sequelize.query('SELECT id FROM conversations WHERE id = ? FOR UPDATE', {
      replacements: [id],
      transaction: tx,
    });
    holding();
    await gate;
  });
  await Promise.race([held, transaction]);
  return {
    async release() {
      release();
      await transaction;
    },
  };
}
