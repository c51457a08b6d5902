import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { bodyFits, MAX_BODY_BYTES } from '../../protocol/client-frames.ts';
import { federationEventSchema, submitSchema } from '../../protocol/federation-events.ts';

const text = (body: string) => JSON.stringify({ text: body });

describe("a message's stored body", () => {
  it('fits by its bytes of UTF-8, not its characters', () => {
    expect(bodyFits('a'.repeat(MAX_BODY_BYTES))).toBe(true);
    expect(bodyFits('a'.repeat(MAX_BODY_BYTES + 1))).toBe(false);
    // Three bytes a character: 21,845 fit, 21,846 do not.
    expect(bodyFits('中'.repeat(21_845))).toBe(true);
    expect(bodyFits('中'.repeat(21_846))).toBe(false);
    // Four bytes a character written as two UTF-16 units.
    expect(bodyFits('😀'.repeat(16_383))).toBe(true);
    expect(bodyFits('😀'.repeat(16_384))).toBe(false);
  });

  it('is refused from another domain when it is more than any node stores: an entry, an edit target, a submit', () => {
    const entry = (body: string) => ({
      type: 'entry',
      conversationId: randomUUID(),
      message: {
        id: randomUUID(),
        seq: 1,
        sender: 'alice@eng.campus.test',
        clientMsgId: 'stored-body-01',
        kind: 'text',
        body,
        refId: null,
        createdAt: new Date().toISOString(),
        editedAt: null,
        recalledAt: null,
      },
    });
    expect(federationEventSchema.safeParse(entry(text('中'.repeat(20_000)))).success).toBe(true);
    expect(federationEventSchema.safeParse(entry(text('中'.repeat(22_000)))).success).toBe(false);
    const edited = (body: string) => ({
      ...entry(text('short')),
      target: { id: randomUUID(), body, editedAt: new Date().toISOString(), recalledAt: null },
    });
    expect(federationEventSchema.safeParse(edited(text('中'.repeat(20_000)))).success).toBe(true);
    expect(federationEventSchema.safeParse(edited(text('中'.repeat(22_000)))).success).toBe(false);
    const submit = (body: string) => ({
      conversationId: randomUUID(),
      sender: 'alice@eng.campus.test',
      clientMsgId: 'stored-body-02',
      kind: 'text',
      body,
    });
    expect(submitSchema.safeParse(submit(text('中'.repeat(20_000)))).success).toBe(true);
    expect(submitSchema.safeParse(submit(text('中'.repeat(22_000)))).success).toBe(false);
  });
});
