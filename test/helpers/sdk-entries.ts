import type { Conversation, Message } from '../../sdk/client.ts';

/** The person the SDK tests sign in as, and the one who writes to them. */
export const ME = 'alice@eng.campus.test';
export const DAVE = 'dave@eng.campus.test';
export const NOW = new Date().toISOString();

/** A text entry of conversation c1 as a node sends it, written by Dave unless `fields` says otherwise. */
export function textEntry(seq: number, fields: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    conversationId: 'c1',
    seq,
    sender: DAVE,
    clientMsgId: `k${seq}`,
    kind: 'text',
    refId: null,
    text: `line ${seq}`,
    createdAt: NOW,
    editedAt: null,
    recalledAt: null,
    ...fields,
  };
}

/** Conversation c1 of the person and Dave as a node shows it, nothing of it read: `fields` changes it. */
export function conversationView(fields: Partial<Conversation> = {}): Conversation {
  return {
    id: 'c1',
    kind: 'direct',
    homeDomain: 'eng.campus.test',
    title: null,
    lastSeq: 0,
    updatedAt: NOW,
    joinedSeq: 0,
    readSeq: 0,
    unread: 0,
    members: [
      { address: ME, role: 'member', readSeq: 0, deliveredSeq: 0 },
      { address: DAVE, role: 'member', readSeq: 0, deliveredSeq: 0 },
    ],
    ...fields,
  };
}
