import { describe, expect, it } from 'vitest';
import { FrameError, parseFrame } from '../../node/ws/parse-frame.ts';
import { clientFrameSchema } from '../../protocol/frames.ts';

const MAX = 1_000_000;
const CONVERSATION = '0190a4c2-7b1e-7c3d-8e4f-a1b2c3d4e5f6';

const send = (fields: Record<string, unknown> = {}) => ({
  v: 1,
  id: 'f1',
  type: 'send',
  clientMsgId: 'msg-00000001',
  conversationId: CONVERSATION,
  text: 'hello',
  ...fields,
});

const parse = (frame: unknown) => parseFrame(Buffer.from(JSON.stringify(frame)), MAX);

function refusal(frame: unknown): { code: string; message: string; re: string | undefined; fields: unknown } {
  try {
    parse(frame);
  } catch (error) {
    expect(error).toBeInstanceOf(FrameError);
    const e = error as FrameError;
    return { code: e.code, message: e.message, re: e.re, fields: e.details?.fields };
  }
  throw new Error('the frame was accepted');
}

describe('a send frame read at the edge', () => {
  it('is accepted with the same fields the schema gives, in the common shape and every other', () => {
    const frames = [
      send(),
      send({ text: undefined }),
      send({ text: '' }),
      send({ text: 'x'.repeat(100_000) }),
      send({ text: '😀'.repeat(50_000) }),
      send({ conversationId: CONVERSATION.toUpperCase() }),
      send({ id: 'i'.repeat(64), clientMsgId: 'A_-9'.repeat(16) }),
      send({ to: ' Bob@Eng.Campus.Test ' }),
      send({ mentions: ['bob@eng.campus.test'] }),
    ];
    for (const frame of frames)
      expect(parse(frame)).toEqual(clientFrameSchema.parse(JSON.parse(JSON.stringify(frame))));
    // The schema's own work is kept where the common shape ends: an address is trimmed and lower-cased.
    expect(parse(send({ to: ' Bob@Eng.Campus.Test ' }))).toMatchObject({ to: 'bob@eng.campus.test' });
  });

  it('is refused with the field at fault named, whichever field it is', () => {
    const fieldAtFault: [Record<string, unknown>, string][] = [
      [{ clientMsgId: 'short' }, 'clientMsgId'],
      [{ clientMsgId: 'has space 123' }, 'clientMsgId'],
      [{ clientMsgId: 'x'.repeat(65) }, 'clientMsgId'],
      [{ clientMsgId: 12345678 }, 'clientMsgId'],
      [{ clientMsgId: undefined }, 'clientMsgId'],
      [{ conversationId: 'not-a-uuid' }, 'conversationId'],
      [{ conversationId: '0190a4c2-7b1e-0c3d-8e4f-a1b2c3d4e5f6' }, 'conversationId'],
      [{ conversationId: 42 }, 'conversationId'],
      [{ text: 7 }, 'text'],
      [{ text: null }, 'text'],
      [{ text: 'x'.repeat(100_001) }, 'text'],
      [{ id: 'i'.repeat(65) }, 'id'],
      [{ id: '' }, 'id'],
    ];
    for (const [fields, field] of fieldAtFault) {
      const refused = refusal(send(fields));
      expect(refused, JSON.stringify(fields).slice(0, 80)).toMatchObject({
        code: 'invalid_frame',
        message: 'Some fields of the frame are invalid',
      });
      expect(Object.keys(refused.fields as object)).toEqual([field]);
    }
    expect(refusal(send({ clientMsgId: 'short' }))).toEqual({
      code: 'invalid_frame',
      message: 'Some fields of the frame are invalid',
      re: 'f1',
      fields: { clientMsgId: '8-64 letters, digits, - or _' },
    });
    expect(refusal(send({ conversationId: 'nope' })).fields).toEqual({ conversationId: 'a conversation id' });
  });

  it('is refused by name when it has a field a send does not know', () => {
    expect(refusal(send({ conversationID: CONVERSATION }))).toEqual({
      code: 'invalid_input',
      message: 'Unknown field: conversationID',
      re: 'f1',
      fields: { conversationID: 'unknown field' },
    });
    const proto = JSON.stringify(send()).replace('{', '{"__proto__":{"text":"x"},');
    expect(() => parseFrame(Buffer.from(proto), MAX)).toThrow(FrameError);
  });

  it('is refused for its version or type before its fields are read', () => {
    expect(refusal(send({ v: 2 }))).toMatchObject({ code: 'unsupported_version', re: 'f1' });
    expect(refusal(send({ type: 'sned' }))).toMatchObject({ code: 'unknown_type', re: 'f1' });
    expect(refusal(send({ id: 5 }))).toMatchObject({
      code: 'invalid_frame',
      re: undefined,
      fields: { id: expect.any(String) },
    });
  });
});
