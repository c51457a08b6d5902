import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Op } from 'sequelize';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { Ack } from '../../sdk/client.ts';

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('im-outbox');
  // The node's own limits (50 frames a second, bursts of 50, 20 strikes; a person's 20 messages a second,
  // bursts of 100, which the SDK waits out when refused).
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('an outbox filled while offline', () => {
  it('goes out on reconnect at the pace the node takes it: 500 messages, each acknowledged once and stored once, the socket kept', {
    timeout: 60_000,
  }, async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const conversation = await alice.openDirect('dave@eng.campus.test');
    alice.close();

    const typed = Array.from({ length: 500 }, (_, i) =>
      alice.send({
        conversationId: conversation.id,
        text: `offline note ${i}`,
        clientMsgId: `offline-note-${String(i).padStart(4, '0')}`,
      }),
    );
    const acked: Ack[] = [];
    for (const p of typed) void p.then((ack) => acked.push(ack));
    expect(alice.unsent).toBe(500);

    const states: string[] = [];
    const ended: unknown[] = [];
    alice.on('state', (s) => states.push(s));
    alice.on('ended', (e) => ended.push(e));
    await alice.connect();
    const acks = await Promise.all(typed);

    expect(alice.unsent).toBe(0);
    expect(acked).toHaveLength(500);
    expect(new Set(acks.map((a) => a.messageId)).size).toBe(500);
    expect(acks.map((a) => a.clientMsgId)).toEqual(
      Array.from({ length: 500 }, (_, i) => `offline-note-${String(i).padStart(4, '0')}`),
    );
    // One socket throughout: it was never closed for sending too fast, so nothing went twice.
    expect(states).toEqual(['connecting', 'online']);
    expect(ended).toEqual([]);
    expect(acks.every((a) => !a.duplicate)).toBe(true);
    const stored = await eng.models.Message.findAll({
      where: { conversationId: conversation.id, clientMsgId: { [Op.like]: 'offline-note-%' } },
    });
    expect(stored).toHaveLength(500);
    expect(new Set(stored.map((m) => m.clientMsgId)).size).toBe(500);
    // The conversation's sequence has no gaps: one entry a message.
    expect(stored.map((m) => m.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    alice.close();
  });
});
