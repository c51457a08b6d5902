import type { Card } from '../../protocol/frames.ts';
import { nameForType } from '../attachments/file-extensions.ts';
import type { MessageRecord } from '../models.ts';

export type MessageBody = {
  text?: string;
  mentions?: string[];
  /** `removed`: its sender deleted it (attachments/mark-file-removed.ts). */
  attachments?: { id: string; name: string; contentType: string; size: number; removed?: boolean }[];
  card?: Card;
  event?: string;
  /** Set on messages of a bot (its app's name) or a webhook (its name); people's names come from the directory. */
  senderName?: string;
  senderKind?: 'bot' | 'webhook';
  [key: string]: unknown;
};

/**
 * A stored body's fields, or undefined when it is not a JSON object: a string, an array or a number
 * (which a home might relay, or an older node stored as relayed) would spread into index keys.
 */
export function bodyObject(body: string): MessageBody | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as MessageBody) : undefined;
}

/** A message's body fields; none when its body is not a JSON object. */
export function parseBody(message: Pick<MessageRecord, 'body'>): MessageBody {
  return bodyObject(message.body) ?? {};
}

/**
 * A message's files, each named to agree with its type (file-extensions.ts): a file stored before names
 * were, or described by another domain's node that does not, is not saved as `setup.exe` either. What
 * is not such a list is left as stored.
 */
function filesNamedForTypes(files: MessageBody['attachments']): MessageBody['attachments'] {
  // A body relayed by another domain's home is stored as it came: its types are not to be trusted.
  if (!Array.isArray(files)) return files;
  return files.map((file) =>
    typeof file?.name === 'string' && typeof file.contentType === 'string'
      ? { ...file, name: nameForType(file.name, file.contentType) }
      : file,
  );
}

/**
 * The one shape of a message on the wire. A recalled message keeps its place but loses its content.
 * The entry's own columns are spread after its body, so that no body speaks for them: one relayed by
 * another domain's home (stored as it came) may carry a `sender`, `seq` or `kind` of its own, which
 * would make a text seem another person's, or take another entry's place.
 */
export function presentMessage(message: MessageRecord) {
  const body = message.recalledAt ? {} : parseBody(message);
  return {
    ...body,
    ...(body.attachments === undefined ? {} : { attachments: filesNamedForTypes(body.attachments) }),
    id: message.id,
    conversationId: message.conversationId,
    seq: message.seq,
    sender: message.sender,
    clientMsgId: message.clientMsgId,
    kind: message.kind,
    refId: message.refId,
    createdAt: message.createdAt.toISOString(),
    editedAt: message.editedAt?.toISOString() ?? null,
    recalledAt: message.recalledAt?.toISOString() ?? null,
  };
}

export type PresentedMessage = ReturnType<typeof presentMessage>;

/** What a sender is told of an entry it added (send, recall, edit; over a socket or the bot API). */
export function presentAck({ message, duplicate }: { message: MessageRecord; duplicate: boolean }) {
  return {
    messageId: message.id,
    conversationId: message.conversationId,
    seq: message.seq,
    at: message.createdAt.toISOString(),
    clientMsgId: message.clientMsgId,
    duplicate,
  };
}
