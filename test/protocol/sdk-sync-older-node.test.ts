import { describe, expect, it } from 'vitest';
import { AtriumClient, type Message } from '../../sdk/client.ts';
import { conversationView, DAVE, ME, NOW, textEntry } from '../helpers/sdk-entries.ts';

const CONVERSATION = conversationView({
  lastSeq: 3,
  unread: 3,
  members: [
    { address: ME, role: 'member', readSeq: 0, deliveredSeq: 0 },
    { address: DAVE, role: 'member', readSeq: 3, deliveredSeq: 3 },
  ],
});
const entry = (seq: number) => textEntry(seq);

/**
 * A node from before `gaps`: it refuses the field as any node refuses a field it does not know, and
 * gives a device without a cursor the last entries and one with a cursor the next two, with `more`. It records the sync frames it was sent.
 */
class OlderNode {
  static last: OlderNode | undefined;
  readyState = 1;
  syncs: Record<string, unknown>[] = [];
  lastSeq = 3;
  onopen: (() => void) | undefined;
  onmessage: ((event: { data: string }) => void) | undefined;
  onclose: ((event: { code: number; reason: string }) => void) | undefined;
  onerror: (() => void) | undefined;

  constructor() {
    OlderNode.last = this;
    setTimeout(() => this.onopen?.(), 0);
  }

  send(data: string) {
    const frame = JSON.parse(data) as { id: string; type: string; cursors?: Record<string, number>; gaps?: boolean };
    const reply = (body: Record<string, unknown>) =>
      setTimeout(() => this.onmessage?.({ data: JSON.stringify({ v: 1, re: frame.id, ...body }) }), 0);
    if (frame.type === 'auth')
      return reply({ type: 'ready', address: ME, expiresAt: NOW, serverTime: NOW, maxFrameBytes: 65536 });
    if (frame.type !== 'sync') return undefined;
    this.syncs.push(frame);
    if ('gaps' in frame)
      return reply({
        type: 'error',
        code: 'invalid_input',
        message: 'Unknown field: gaps',
        fields: { gaps: 'unknown' },
      });
    const held = frame.cursors?.c1;
    // No cursor: the last entries (all of them here); a cursor: the next two after it.
    const seqs =
      held === undefined
        ? Array.from({ length: this.lastSeq }, (_, i) => i + 1)
        : [held + 1, held + 2].filter((s) => s <= this.lastSeq);
    return reply({
      type: 'sync.result',
      conversations: [{ ...CONVERSATION, lastSeq: this.lastSeq }],
      messages: seqs.map(entry),
      more: (seqs.at(-1) ?? held ?? 0) < this.lastSeq ? ['c1'] : [],
      cursor: NOW,
    });
  }

  close() {
    this.readyState = 3;
    this.onclose?.({ code: 1000, reason: '' });
  }
}

describe('the SDK against a node that does not know gaps', () => {
  it('syncs without them, paging forward as that node expects, and does not ask again', async () => {
    const client = new AtriumClient({
      url: 'ws://older.test/ws',
      token: () => 'token',
      WebSocket: OlderNode as unknown as typeof WebSocket,
    });
    const arrived: Message[] = [];
    client.on('message', (m) => arrived.push(m));
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const told = client.once('conversation', () => true, 5_000);
    await client.connect();
    await told;
    const node = OlderNode.last!;
    expect(arrived.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(node.syncs.map((s) => 'gaps' in s)).toEqual([true, false]);
    expect(client.cursors.get('c1')).toBe(3);
    expect(errors).toEqual([]);

    // Four more while away: that node sends them two a sync, and the SDK follows its `more`.
    node.lastSeq = 7;
    await client.sync();
    expect(arrived.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(node.syncs.map((s) => 'gaps' in s)).toEqual([true, false, false, false]);
    expect(client.cursors.get('c1')).toBe(7);
    client.close();
  });
});

describe('the page size of an SDK client', () => {
  it('is refused when no history page could hold it', () => {
    for (const pageSize of [0, 201, 2.5])
      expect(() => new AtriumClient({ url: 'ws://node.test/ws', token: () => 't', pageSize })).toThrow(
        /pageSize must be a whole number from 1 to 200/,
      );
  });
});
