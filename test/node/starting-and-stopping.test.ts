import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { startNode, type DomainNode } from '../../node/main.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  halfSentRequest,
  hammer,
  summary,
  unanswered,
  until,
  type Answer,
  type Hammer,
  type Probe,
} from '../helpers/hammer.ts';

const PROBES: Probe[] = [{ path: '/readyz' }, { path: '/api/v1/conversations' }, { upgrade: '/ws' }];

let gateway: TestGateway;
let db: TestDatabase | undefined;
let node: DomainNode | undefined;
let load: Hammer | undefined;

beforeAll(async () => {
  gateway = await startTestGateway('im-lifecycle');
});
afterEach(async () => {
  await load?.stop();
  await node?.close().catch(() => undefined);
  await db?.drop();
  [load, node, db] = [undefined, undefined, undefined];
});
afterAll(async () => gateway?.stop());

/** A migrated database of its own, so that the start under test is the node's own start. */
async function nodeConfig(port: number) {
  db = await createTestDatabase('im-lifecycle');
  const config = loadNodeConfig({
    NODE_DOMAIN: 'eng.campus.test',
    NODE_PORT: String(port),
    NODE_HOST: '127.0.0.1',
    GATEWAY_ISSUER: gateway.issuer,
    ATRIUM_DATA_DIR: db.dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    LOG_LEVEL: 'silent',
  });
  const sequelize = await openDatabase(config.database);
  await migrate(sequelize, 'node');
  await sequelize.close();
  return config;
}

const isStatus = (a: Answer, probe: string, status: number) =>
  a.kind === 'status' && a.probe === probe && a.status === status;

describe('a domain node starting and stopping under traffic', () => {
  it('answers every request and upgrade that arrives while it starts, with 503 and Retry-After until it serves', async () => {
    const port = await freePort();
    const config = await nodeConfig(port);
    load = hammer(port, PROBES, { workers: 4 });
    await until(load, (a) => a.kind === 'refused');
    node = await startNode(config);
    await until(load, (a) => isStatus(a, 'GET /readyz', 200));
    await until(load, (a) => a.kind === 'upgraded');
    const answers = await load.stop();

    expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
    expect(answers.filter((a) => a.kind === 'closed')).toEqual([]);
    for (const a of answers) {
      if (a.kind !== 'status') continue;
      expect(a.probe === 'GET /api/v1/conversations' ? [401, 503] : [200, 503], a.probe).toContain(a.status);
      if (a.status !== 503) continue;
      expect(a.retryAfter).toBe('1');
      if (a.probe === 'GET /readyz') expect(JSON.parse(a.body)).toEqual({ status: 'starting' });
    }
  });

  it('answers every request that arrives while it stops, closes its chat sockets with 1001 server_shutdown and finishes the request it was reading', async () => {
    const port = await freePort();
    node = await startNode(await nodeConfig(port));
    load = hammer(port, PROBES, { workers: 4, keepOpen: true });
    await until(load, (a) => a.kind === 'upgraded');
    await until(load, (a) => isStatus(a, 'GET /api/v1/conversations', 401));

    const reading = await halfSentRequest(
      node.server,
      port,
      '/hooks/0123456789abcdef/not-a-secret',
      JSON.stringify({ text: 'hello, anyone?' }),
    );
    const closing = node.close();
    reading.finish();
    expect(await reading.answer).toEqual({ status: 404, connection: 'close' });
    await closing;
    node = undefined;
    await until(load, (a) => a.kind === 'refused');
    const answers = await load.stop();

    expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
    for (const a of answers) {
      if (a.kind === 'upgraded') expect(await a.close).toEqual({ code: 1001, reason: 'server_shutdown' });
      if (a.kind === 'status')
        expect(a.probe === 'GET /api/v1/conversations' ? [401, 503] : [200, 503], a.probe).toContain(a.status);
    }
  });
});
