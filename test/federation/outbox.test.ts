import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { createLogger } from '../../core/logger.ts';
import { migrate } from '../../core/migrator.ts';
import { defineFederationModels, type FederationModels } from '../../node/federation/models.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { createTestDatabase, testDialect, type TestDatabase } from '../helpers/database.ts';
import { createOutbox } from '../../node/federation/outbox.ts';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import type { FederationResponse, Transport } from '../../node/federation/transport.ts';

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

/** An outbox of eng's that sends through `transport` and polls only when kicked. */
const engOutbox = (transport: Pick<Transport, 'post'>, processId: string) =>
  createOutbox({
    sequelize: eng.sequelize,
    models: eng.federationModels,
    transport,
    processId,
    domain: 'eng.campus.test',
    instance: processId,
    logger: eng.logger,
    pollMs: 60_000,
  });
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
    const outbox = engOutbox(transport, 'outbox-test');
    await outbox.start();
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

describe('a transaction', () => {
  it('holds no more event bytes than a receiver takes in a body: large events go in several, all delivered', async () => {
    const sent: number[][] = [];
    const transport: Pick<Transport, 'post'> = {
      async post(_destination, _path, payload) {
        const events = (payload as { events: { n: number }[] }).events;
        // What a node or a proxy does with a body over 8 MiB.
        if (Buffer.byteLength(JSON.stringify(payload)) > 8 * 1024 * 1024)
          return { status: 413, body: { error: { code: 'too_large', message: 'too large' } } } as FederationResponse;
        sent.push(events.map((e) => e.n));
        return { status: 200, body: {} } as FederationResponse;
      },
    };
    const outbox = engOutbox(transport, 'outbox-bytes-test');
    await outbox.start();
    try {
      // 300 events of 40 kB: 12 MB in all, under 500 events.
      const big = (n: number) => ({ type: 'typing', n, padding: 'x'.repeat(40_000) }) as unknown as FederationEvent;
      await outbox.enqueue(
        undefined,
        'big.campus.test',
        Array.from({ length: 300 }, (_, n) => big(n)),
      );
      outbox.kick();
      await expect.poll(() => sent.flat().length, { timeout: 15_000 }).toBe(300);
      expect(sent.length).toBeGreaterThan(2);
      expect(sent.flat()).toEqual(Array.from({ length: 300 }, (_, n) => n));
      await expect.poll(async () => (await outbox.depth()).get('big.campus.test') ?? 0).toBe(0);
    } finally {
      await outbox.stop();
    }
  });
});

describe('outbox leases', () => {
  let db: TestDatabase;
  let sequelize: Sequelize;
  let models: FederationModels;
  const children: ChildProcess[] = [];
  const holderScript = fileURLToPath(new URL('../helpers/outbox-lease-holder.ts', import.meta.url));

  beforeAll(async () => {
    db = await createTestDatabase('outbox-lease');
    sequelize = await openDatabase({ url: db.url, sqliteFile: join(db.dataDir, 'outbox.sqlite') });
    await migrate(sequelize, 'node');
    models = defineFederationModels(sequelize);
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await sequelize?.close();
    await db?.drop();
  });

  /** Another process of the domain, holding the lease towards `destination` until it is killed. */
  async function holder(
    processId: string,
    instance: string,
    heartbeatMs: number,
    destination: string,
  ): Promise<ChildProcess> {
    const child = spawn(process.execPath, [holderScript], {
      env: {
        OUTBOX_DB_URL: db.url ?? '',
        OUTBOX_SQLITE_FILE: join(db.dataDir, 'outbox.sqlite'),
        PROCESS_ID: processId,
        INSTANCE: instance,
        HEARTBEAT_MS: String(heartbeatMs),
      },
      stdio: 'ignore',
    });
    children.push(child);
    await expect
      .poll(async () => (await models.OutboxPeer.findByPk(destination))?.leaseOwner ?? null, { timeout: 20_000 })
      .toBe(processId);
    return child;
  }
  const killed = (child: ChildProcess) =>
    new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill('SIGKILL')));

  function recordingOutbox(processId: string, instance: string, heartbeatMs?: number) {
    const sent: string[] = [];
    const transport: Pick<Transport, 'post'> = {
      async post(destination) {
        sent.push(destination);
        return { status: 200, body: {} };
      },
    };
    const outbox = createOutbox({
      sequelize,
      models,
      transport,
      processId,
      domain: 'eng.campus.test',
      instance,
      heartbeatMs,
      logger: createLogger('outbox-test', 'silent'),
      pollMs: 100,
    });
    return { outbox, sent };
  }

  it('lets a process restarted in place of one that was killed send at once, without waiting out its lease', async () => {
    const destination = 'restart.campus.test';
    await models.OutboxEntry.create({ destination, event: JSON.stringify(event(1)), createdAt: new Date() });
    // The process that ran on this host and port holds the lease (for 30 s more) and is killed mid-outage.
    await killed(await holder('crashed-process', 'host-a:4201', 5_000, destination));

    const { outbox, sent } = recordingOutbox('restarted-process', 'host-a:4201');
    await outbox.start();
    try {
      await expect.poll(() => sent, { timeout: 5_000 }).toEqual([destination]);
    } finally {
      await outbox.stop();
    }
  });

  it('leaves a lease with a live process elsewhere, and takes it over once that process has stopped beating', async () => {
    const destination = 'elsewhere.campus.test';
    await models.OutboxEntry.create({ destination, event: JSON.stringify(event(2)), createdAt: new Date() });
    const busy = await holder('process-on-host-b', 'host-b:4201', 500, destination);

    const { outbox, sent } = recordingOutbox('process-on-host-c', 'host-c:4201', 500);
    await outbox.start();
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      expect(sent).toEqual([]);
      expect((await models.OutboxPeer.findByPk(destination))?.leaseOwner).toBe('process-on-host-b');
      // Host b goes away without a word: after three missed heartbeats (1.5 s here) its lease is free.
      await killed(busy);
      await expect.poll(() => sent, { timeout: 10_000 }).toEqual([destination]);
    } finally {
      await outbox.stop();
    }
  });
});
