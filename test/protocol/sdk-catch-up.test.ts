import { describe, expect, it } from 'vitest';
import { AtriumClient, type Message } from '../../sdk/client.ts';
import { conversationView, DAVE, ME, NOW, textEntry } from '../helpers/sdk-entries.ts';

const view = (lastSeq: number) =>
  conversationView({
    kind: 'group',
    title: 'Busy',
    lastSeq,
    members: [
      { address: ME, role: 'member', readSeq: 0, deliveredSeq: 0 },
      { address: DAVE, role: 'owner', readSeq: 0, deliveredSeq: 0 },
    ],
  });
const entry = (seq: number) => textEntry(seq);

/**
 * A node whose pushes the test makes, holes included. A sync gets the entries after the device's cursor
 * up to the conversation's last entry as it was when the sync came in, and waits for `hold` if set;
 * `listed: false` leaves the conversation out of the answer (as a bot's that it may not read now).
 */
class PushingNode {
  static last: PushingNode | undefined;
  readyState = 1;
  syncs: Record<string, number>[] = [];
  lastSeq = 3;
  listed = true;
  hold: Promise<void> | undefined;
  onopen: (() => void) | undefined;
  onmessage: ((event: { data: string }) => void) | undefined;
  onclose: ((event: { code: number; reason: string }) => void) | undefined;
  onerror: (() => void) | undefined;

  constructor() {
    PushingNode.last = this;
    setTimeout(() => this.onopen?.(), 0);
  }

  #frame(body: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify({ v: 1, ...body }) });
  }

  async send(data: string) {
    const frame = JSON.parse(data) as { id: string; type: string; cursors?: Record<string, number> };
    if (frame.type === 'auth')
      return this.#frame({ type: 'ready', re: frame.id, address: ME, expiresAt: NOW, serverTime: NOW });
    if (frame.type !== 'sync') return undefined;
    this.syncs.push(frame.cursors ?? {});
    const [lastSeq, listed] = [this.lastSeq, this.listed];
    await this.hold;
    const from = frame.cursors?.c1 ?? 0;
    const seqs = listed ? Array.from({ length: lastSeq - from }, (_, i) => from + i + 1) : [];
    return this.#frame({
      type: 'sync.result',
      re: frame.id,
      conversations: listed ? [view(lastSeq)] : [],
      messages: seqs.map(entry),
      more: [],
      gaps: [],
      removed: [],
      cursor: NOW,
    });
  }

  push(...seqs: number[]) {
    for (const seq of seqs) this.#frame({ type: 'message', message: entry(seq) });
  }

  close() {
    this.readyState = 3;
    this.onclose?.({ code: 1000, reason: '' });
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('an SDK client pushed an entry past one it never got', () => {
  it('keeps its cursor below the hole and catches up with one sync at a time, never one a push', async () => {
    const client = new AtriumClient({
      url: 'ws://pushing.test/ws',
      token: () => 'token',
      WebSocket: PushingNode as unknown as typeof WebSocket,
    });
    const arrived: number[] = [];
    client.on('message', (m: Message) => arrived.push(m.seq));
    await client.connect();
    await expect.poll(() => client.cursors.get('c1')).toBe(3);
    const node = PushingNode.last!;

    // Three holes at once: one sync, from the cursor below the first.
    let release = () => {};
    node.hold = new Promise((resolve) => (release = resolve));
    node.lastSeq = 9;
    node.push(5, 7, 9);
    expect(client.cursors.get('c1')).toBe(3);
    await expect.poll(() => node.syncs).toEqual([{}, { c1: 3 }]);
    // Another hole while that sync runs: no second sync meanwhile, one after it.
    node.lastSeq = 11;
    node.push(11);
    await pause(300);
    expect(node.syncs.length).toBe(2);
    release();
    node.hold = undefined;
    await expect.poll(() => node.syncs).toEqual([{}, { c1: 3 }, { c1: 9 }]);
    await expect.poll(() => client.cursors.get('c1')).toBe(11);
    expect(arrived.sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));

    // A busy conversation without holes costs no sync at all.
    node.push(...Array.from({ length: 30 }, (_, i) => 12 + i));
    node.lastSeq = 41;
    await pause(300);
    expect([node.syncs.length, client.cursors.get('c1')]).toEqual([3, 41]);
    // Left out of the answer (the person may not read it now): the hole settles after one sync.
    node.listed = false;
    node.lastSeq = 43;
    node.push(43);
    await expect.poll(() => node.syncs.length).toBe(4);
    await expect.poll(() => client.cursors.get('c1')).toBe(43);
    node.push(44);
    await pause(400);
    expect([node.syncs.length, client.cursors.get('c1')]).toEqual([4, 44]);
    client.close();
  });
});
