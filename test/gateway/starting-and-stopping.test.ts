import { afterEach, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { createUnitServer } from '../../core/unit-server.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { halfSentRequest, hammer, summary, unanswered, until, type Answer, type Hammer } from '../helpers/hammer.ts';

const DISCOVERY = '/.well-known/openid-configuration';
let db: TestDatabase | undefined;
let gateway: Gateway | undefined;
let load: Hammer | undefined;

afterEach(async () => {
  await load?.stop();
  await gateway?.close().catch(() => undefined);
  await db?.drop();
  [load, gateway, db] = [undefined, undefined, undefined];
});

/** A migrated database of its own, so that the start under test is the gateway's own start. */
async function gatewayConfig(port: number) {
  db = await createTestDatabase('gw-lifecycle');
  const config = loadGatewayConfig({
    GATEWAY_PORT: String(port),
    GATEWAY_HOST: '127.0.0.1',
    ATRIUM_DATA_DIR: db.dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    LOG_LEVEL: 'silent',
  });
  const sequelize = await openDatabase(config.database);
  await migrate(sequelize, 'gateway');
  await sequelize.close();
  return config;
}

const isStatus = (a: Answer, probe: string, status: number) =>
  a.kind === 'status' && a.probe === probe && a.status === status;

describe('a gateway starting and stopping under traffic', () => {
  it('answers every request that arrives while it starts, with 503 and Retry-After until it serves', async () => {
    const port = await freePort();
    const config = await gatewayConfig(port);
    load = hammer(port, [{ path: DISCOVERY }, { path: '/readyz' }]);
    await until(load, (a) => a.kind === 'refused');
    gateway = await startGateway(config);
    await until(load, (a) => isStatus(a, 'GET /readyz', 200));
    await until(load, (a) => isStatus(a, `GET ${DISCOVERY}`, 200));
    const answers = await load.stop();

    expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
    // The port was either closed or answered; no connection was dropped without a status.
    expect(answers.filter((a) => a.kind === 'closed')).toEqual([]);
    for (const a of answers) {
      if (a.kind !== 'status') continue;
      expect([200, 503], a.probe).toContain(a.status);
      if (a.status !== 503) continue;
      expect(a.retryAfter).toBe('1');
      expect(JSON.parse(a.body)).toEqual(
        a.probe === 'GET /readyz'
          ? { status: 'starting' }
          : { error: { code: 'unavailable', message: 'The server is starting; retry in a moment' } },
      );
    }
  });

  it('answers every request that arrives while it stops, finishing the one it was reading and closing its connection', async () => {
    const port = await freePort();
    gateway = await startGateway(await gatewayConfig(port));
    load = hammer(port, [{ path: DISCOVERY }, { path: '/readyz' }]);
    await until(load, (a) => isStatus(a, `GET ${DISCOVERY}`, 200));

    const reading = await halfSentRequest(
      gateway.server,
      port,
      '/token',
      'grant_type=client_credentials&client_id=nobody',
      'application/x-www-form-urlencoded',
    );
    const closing = gateway.close();
    reading.finish();
    expect(await reading.answer).toEqual({ status: 401, connection: 'close' });
    await closing;
    gateway = undefined;
    await until(load, (a) => a.kind === 'refused');
    const answers = await load.stop();
    expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
    for (const a of answers) if (a.kind === 'status') expect([200, 503], a.probe).toContain(a.status);
  });
});

describe('the HTTP server of a unit', () => {
  it('says "starting" on /readyz, answers every other request 503 and refuses upgrades until the unit is wired', async () => {
    const unit = createUnitServer({ upgrades: true });
    const port = await unit.listen({ port: 0, host: '127.0.0.1' });
    try {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect([ready.status, ready.headers.get('retry-after'), await ready.json()]).toEqual([
        503,
        '1',
        { status: 'starting' },
      ]);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const other = await fetch(`http://127.0.0.1:${port}/anything`, { method: 'POST', body: '{}' });
      expect([other.status, other.headers.get('connection')]).toEqual([503, 'close']);
      const early = hammer(port, [{ upgrade: '/ws' }], { workers: 1 });
      await until(early, (a) => a.kind === 'status');
      const [upgrade] = (await early.stop()).filter((a) => a.kind === 'status');
      expect(upgrade).toMatchObject({ status: 503, retryAfter: '1' });

      unit.serve((_req, res) => res.end('served'));
      expect(await (await fetch(`http://127.0.0.1:${port}/anything`)).text()).toBe('served');
    } finally {
      await unit.close(1_000);
    }
  });
});
