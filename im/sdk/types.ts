/** Wire shapes as the SDK sees them (see docs/protocol.md). */
export type Message = {
  id: string;
  conversationId: string;
  seq: number;
  sender: string;
  clientMsgId: string;
  kind: string;
  refId: string | null;
  text?: string;
  mentions?: string[];
  attachments?: { id: string; name: string; contentType: string; size: number }[];
  card?: unknown;
  event?: string;
  createdAt: string;
  editedAt: string | null;
  recalledAt: string | null;
  [key: string]: unknown;
};

export type Member = { address: string; role: string; readSeq: number; deliveredSeq: number };

export type Conversation = {
  id: string;
  kind: 'direct' | 'group';
  homeDomain: string;
  title: string | null;
  lastSeq: number;
  updatedAt: string;
  joinedSeq: number;
  readSeq: number;
  unread: number;
  members: Member[];
};

export type Ack = { messageId: string; conversationId: string; seq: number; at: string; clientMsgId: string; duplicate: boolean };
export type Receipt = { conversationId: string; address: string; readSeq: number; deliveredSeq: number };
export type Presence = { address: string; status: 'online' | 'away' | 'offline'; lastSeen: string | null };
export type Typing = { conversationId: string; address: string };

export type ServerFrame = { v: number; type: string; re?: string; [key: string]: unknown };

export class AtriumError extends Error {
  readonly code: string;
  readonly fields: Record<string, string> | undefined;

  constructor(code: string, message: string, fields?: Record<string, string>) {
    super(message);
    this.name = 'AtriumError';
    this.code = code;
    this.fields = fields;
  }
}
