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
  card?: Card;
  event?: string;
  /** The app's name on a bot's messages, the webhook's name on a webhook's. */
  senderName?: string;
  senderKind?: 'bot' | 'webhook';
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

/** An interactive card (docs/protocol.md, "Cards"); all text is plain and must be escaped when shown. */
export type Card = {
  title: string;
  text?: string;
  fields?: { label: string; value: string }[];
  actions?: { id: string; label: string; style?: 'primary' | 'danger' | 'default' }[];
};

export type CardActionResult = { messageId: string; actionId: string; updated: boolean; toast?: string; seq?: number };

export type Webhook = { id: string; conversationId: string; name: string; sender: string; createdBy: string; createdAt: string; revokedAt: string | null };

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
