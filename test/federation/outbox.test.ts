import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { testDialect } from '../helpers/database.ts';
import { createOutbox } from '../../im/federation/outbox.ts';
import type { FederationEvent } from '../../im/federation/events.ts';
import type { FederationResponse, Transport } from '../../im/federation/transport.ts';

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('federation-outbox');
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

const DESTINATION = 'far.campus.test';
const event = (n: number) => ({ type: 'typing', n }) as unknown as FederationEvent;

// SQLite has one writer, so an outbox row cannot commit after a later one there; on MariaDB flushes and
// other writers commit in any order.
describe.skipIf(testDialect === 'sqlite')('the outbox', () => {
  it('never drops an event whose row became visible after a later one was sent', async () => {
    const sent: number[][] = [];
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((r) => (releaseFirst = r));
    const transport: Pick<Transport, 'post'> = {
      async post(_destination, _path, payload) {
        sent.push((payload as { events: { n: number }[] }).events.map((e) => e.n));
        if (sent.length === 1) await firstHeld;
        return { status: 200, body: {} } as FederationResponse;
      },
    };
    const outbox = createOutbox({ sequelize: eng.sequelize, models: eng.federationModels, transport, processId: 'outbox-test', logger: eng.logger, pollMs: 60_000 });
    outbox.start();
    try {
      // A writer takes an id and has not committed yet; a later writer commits first.
      const early = await eng.sequelize.transaction();
      await outbox.enqueue(early, DESTINATION, [event(1)]);
      await outbox.enqueue(undefined, DESTINATION, [event(2)]);
      outbox.kick();
      await expect.poll(() => sent.length).toBe(1);
      expect(sent[0]).toEqual([2]);
      // The early writer commits while that transaction is in flight; then the peer answers.
      await early.commit();
      releaseFirst();
      outbox.kick();
      await expect.poll(() => sent.flat().toSorted()).toEqual([1, 2]);
      await expect.poll(async () => (await outbox.depth()).get(DESTINATION) ?? 0).toBe(0);
    } finally {
      await outbox.stop();
    }
  });
});
