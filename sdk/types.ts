/** The wire as the SDK sees it: the types of protocol/ (docs/protocol.md), and the SDK's own error. */
export type {
  Ack,
  Attachment,
  Card,
  CardActionResult,
  Conversation,
  ErrorCode,
  Member,
  MembersPage,
  Message,
  OwnFile,
  OwnFilesPage,
  Presence,
  ReadCounts,
  Receipt,
  ServerFrame,
  Typing,
  Webhook,
} from '../protocol/frames.ts';

/**
 * A refusal by the node (its error `code`: protocol/error-codes.ts), or a failure the SDK itself reports
 * (`disconnected`, `offline`, `timeout`, `closed`, `unexpected_frame`, …).
 */
export class AtriumError extends Error {
  readonly code: string;
  readonly fields: Record<string, string> | undefined;
  /** For `rate_limited` over HTTP: how long the node said to wait before trying again (its Retry-After). */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, fields?: Record<string, string>, retryAfterMs?: number) {
    super(message);
    this.name = 'AtriumError';
    this.code = code;
    this.fields = fields;
    this.retryAfterMs = retryAfterMs;
  }
}
