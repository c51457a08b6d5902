import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Op } from 'sequelize';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { Ack } from '../../sdk/client.ts';

/** The node's burst of messages a person may send at once, and an outbox four times that. */
const BURST = 20;
const OUTBOX = 4 * BURST;
const noteId = (i: number) => `offline-note-${String(i).padStart(4, '0')}`;

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('im-outbox');
  // The node's own frame limits (50 a second, bursts of 50, 20 strikes) and message rate (a person's 20 a
  // second), but bursts of BURST messages instead of 100: a refused outbox then waits 1 s for the whole
  // burst to come back, not 5 s, and OUTBOX still needs several rounds, each waited out by the SDK.
  eng = await startTestNode(gateway, 'eng.campus.test', { MESSAGE_BURST: String(BURST) });
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('an outbox filled while offline', () => {
  it('goes out on reconnect at the pace the node takes it: four bursts of messages, each acknowledged once and stored once, the socket kept', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const conversation = await alice.openDirect('dave@eng.campus.test');
    alice.close();

    const typed = Array.from({ length: OUTBOX }, (_, i) =>
      alice.send({ conversationId: conversation.id, text: `offline note ${i}`, clientMsgId: noteId(i) }),
    );
    const acked: Ack[] = [];
    for (const p of typed) void p.then((ack) => acked.push(ack));
    expect(alice.unsent).toBe(OUTBOX);

    const states: string[] = [];
    const ended: unknown[] = [];
    alice.on('state', (s) => states.push(s));
    alice.on('ended', (e) => ended.push(e));
    const reconnected = Date.now();
    await alice.connect();
    const acks = await Promise.all(typed);
    // At the node's pace: past the first burst, each of the others waited for the whole burst to come back.
    expect(Date.now() - reconnected).toBeGreaterThanOrEqual((OUTBOX / BURST - 1) * 1000 - 50);

    expect(alice.unsent).toBe(0);
    expect(acked).toHaveLength(OUTBOX);
    expect(new Set(acks.map((a) => a.messageId)).size).toBe(OUTBOX);
    expect(acks.map((a) => a.clientMsgId)).toEqual(Array.from({ length: OUTBOX }, (_, i) => noteId(i)));
    // One socket throughout: it was never closed for sending too fast, so nothing went twice.
    expect(states).toEqual(['connecting', 'online']);
    expect(ended).toEqual([]);
    expect(acks.every((a) => !a.duplicate)).toBe(true);
    const stored = await eng.models.Message.findAll({
      where: { conversationId: conversation.id, clientMsgId: { [Op.like]: 'offline-note-%' } },
    });
    expect(stored).toHaveLength(OUTBOX);
    expect(new Set(stored.map((m) => m.clientMsgId)).size).toBe(OUTBOX);
    // The conversation's sequence has no gaps: one entry a message.
    expect(stored.map((m) => m.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: OUTBOX }, (_, i) => i + 1));
    alice.close();
  });
});
