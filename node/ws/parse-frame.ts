import { AppError } from '../../core/errors.ts';
import { fieldErrorsOf, unknownFieldsMessage, unknownFieldsOf } from '../../core/validate.ts';
import { clientFrameSchema, plainSendFrame, PROTOCOL_VERSION, type ClientFrame } from '../../protocol/frames.ts';

const TYPES = new Set<string>(clientFrameSchema.options.map((o) => o.shape.type.value));

export class FrameError extends AppError {
  readonly re: string | undefined;

  constructor(code: string, message: string, re?: string, fields?: Record<string, string>) {
    super(code, 400, message, fields ? { fields } : undefined);
    this.re = re;
  }
}

/** Where a frame's `id` is looked for without parsing it: the SDK and the protocol's examples put it near the start. */
const ID_WITHIN_BYTES = 512;
const ID_FIELD = /"id"\s*:\s*"([^"\\]{1,64})"/;

/**
 * The id of a frame that is refused before it is read (rate limiting), so that the client can match the
 * refusal to its request and retry it; undefined when none is found. Found by a pattern near the start
 * rather than by parsing: this runs for every frame of a flood. (A key "id" inside a string is escaped,
 * \"id\", so the pattern finds only a real key.)
 */
export function frameIdOf(data: Buffer): string | undefined {
  return ID_FIELD.exec(data.toString('utf8', 0, Math.min(data.length, ID_WITHIN_BYTES)))?.[1];
}

/** Turns raw socket data into a valid client frame, or a FrameError with a stable code. */
export function parseFrame(data: Buffer | string, maxBytes: number): ClientFrame {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > maxBytes) throw new FrameError('frame_too_large', `Frames may be at most ${maxBytes} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString());
  } catch {
    throw new FrameError('malformed_json', 'The frame is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new FrameError('invalid_frame', 'A frame is a JSON object');
  const record = raw as Record<string, unknown>;
  const re = typeof record.id === 'string' ? record.id.slice(0, 64) : undefined;
  if (record.v !== PROTOCOL_VERSION)
    throw new FrameError('unsupported_version', `This node speaks protocol version ${PROTOCOL_VERSION}`, re);
  if (typeof record.type !== 'string' || !TYPES.has(record.type))
    throw new FrameError('unknown_type', 'Unknown frame type', re);
  // Most frames are plain sends: checked by hand; anything else, and every refusal, is the schema's.
  const plain = record.type === 'send' ? plainSendFrame(record) : undefined;
  if (plain) return plain;
  const parsed = clientFrameSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = fieldErrorsOf(parsed.error);
    const unknown = unknownFieldsOf(parsed.error);
    if (unknown.length > 0) throw new FrameError('invalid_input', unknownFieldsMessage(unknown), re, fields);
    throw new FrameError('invalid_frame', 'Some fields of the frame are invalid', re, fields);
  }
  return parsed.data;
}
