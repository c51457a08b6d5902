import { describe, expect, it } from 'vitest';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import { reported, withhold } from '../../node/federation/withhold.ts';

const conversationId = '0190f3c2-0000-7000-8000-000000000001';
const entry = (
  kind: string,
  body: string,
  extra: Partial<Extract<FederationEvent, { type: 'entry' }>> = {},
): FederationEvent => ({
  type: 'entry',
  conversationId,
  message: {
    id: '0190f3c2-0000-7000-8000-0000000000aa',
    seq: 7,
    sender: 'alice@eng.campus.test',
    clientMsgId: 'client-0001',
    kind,
    body,
    refId: null,
    createdAt: '2026-12-04T10:00:00.000Z',
    editedAt: null,
    recalledAt: null,
  },
  ...extra,
});

describe('what waits for a domain whose policy refuses this one', () => {
  it('is, for a message, a placeholder of the same id and seq with neither its content nor its author', () => {
    const kept = withhold(entry('text', JSON.stringify({ text: 'the exam answers' })), 'eng.campus.test');
    expect(kept).toEqual({
      type: 'entry',
      conversationId,
      message: {
        id: '0190f3c2-0000-7000-8000-0000000000aa',
        seq: 7,
        sender: 'system@eng.campus.test',
        clientMsgId: 'withheld-0190f3c2-0000-7000-8000-0000000000aa',
        kind: 'withheld',
        body: '{}',
        refId: null,
        createdAt: '2026-12-04T10:00:00.000Z',
        editedAt: null,
        recalledAt: null,
      },
    });
    expect(JSON.stringify(kept)).not.toContain('alice');
  });

  it('drops the new text an edit carries for its target', () => {
    const edit = entry('edit', JSON.stringify({ text: 'new text' }), {
      target: {
        id: '0190f3c2-0000-7000-8000-0000000000bb',
        body: '{"text":"new text"}',
        editedAt: '2026-12-04T10:01:00.000Z',
        recalledAt: null,
      },
    });
    expect(JSON.stringify(withhold(edit, 'eng.campus.test'))).not.toContain('new text');
  });

  it('keeps a recall as it is, so the recalled message does not stay readable there', () => {
    const recall = entry('recall', '{}', {
      target: {
        id: '0190f3c2-0000-7000-8000-0000000000bb',
        body: '{}',
        editedAt: null,
        recalledAt: '2026-12-04T10:01:00.000Z',
      },
    });
    expect(withhold(recall, 'eng.campus.test')).toEqual(recall);
  });

  it('keeps a conversation snapshot, drops a receipt, and leaves a placeholder as it is', () => {
    const snapshot: FederationEvent = {
      type: 'conversation',
      conversation: { id: conversationId, kind: 'direct', homeDomain: 'eng.campus.test', title: null, members: [] },
    };
    expect(withhold(snapshot, 'eng.campus.test')).toEqual(snapshot);
    expect(
      withhold(
        { type: 'receipt', conversationId, address: 'alice@eng.campus.test', readSeq: 3, deliveredSeq: 3 },
        'eng.campus.test',
      ),
    ).toBeNull();
    const placeholder = withhold(entry('text', '{"text":"x"}'), 'eng.campus.test')!;
    expect(withhold(placeholder, 'eng.campus.test')).toEqual(placeholder);
  });

  it("tells the authors of people's entries, not of membership changes or of earlier failure notices", () => {
    expect(
      ['text', 'card', 'edit', 'card.update', 'system', 'delivery.failed', 'recall', 'withheld'].filter((kind) =>
        reported(entry(kind, '{}')),
      ),
    ).toEqual(['text', 'card', 'edit', 'card.update']);
  });
});
