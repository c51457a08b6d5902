import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { testDialect } from '../helpers/database.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';

// A node on MariaDB keeps a flush open in each of its lanes at its busiest; its other work (the search
// indexer, receipts, the outbox, sync and search requests) must still find connections meanwhile.

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('connections');
  eng = await startTestNode(gateway, 'eng.campus.test', { FLUSH_LANES: '8', FLUSH_CONCURRENCY: '2' });
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

it.skipIf(testDialect === 'sqlite')(
  'opens a transaction for every flush its lanes may hold at once, and five more beside them (MariaDB)',
  async () => {
    const wanted = 8 * 2 + 5;
    let inside = 0;
    let everyoneIn!: () => void;
    const allIn = new Promise<void>((r) => (everyoneIn = r));
    const transactions = Array.from({ length: wanted }, () =>
      eng.sequelize.transaction(async (tx) => {
        await eng.sequelize.query('SELECT 1', { transaction: tx });
        if (++inside === wanted) everyoneIn();
        await allIn;
      }),
    );
    const outcome = await Promise.race([
      allIn.then(() => 'all open at once'),
      new Promise((r) => setTimeout(r, 5_000)).then(() => `${inside} of ${wanted} open`),
    ]);
    everyoneIn();
    await Promise.all(transactions);
    expect(outcome).toBe('all open at once');
  },
);
