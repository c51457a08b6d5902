import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { hammer, summary, unanswered, until, type Answer, type Hammer, type Probe } from '../helpers/hammer.ts';
import { runAtrium, startAtrium, type LongRunning } from '../helpers/cli.ts';

const ENG = 'eng.campus.test';
const DISCOVERY = '/.well-known/openid-configuration';
// A process of its own imports the whole unit first: on a loaded 2-core machine that alone can take seconds.
const STARTS_WITHIN_MS = 40_000;
const TEST_MS = 60_000;
// The demo migrates and seeds three databases and starts five units before its banner.
const DEMO_STARTS_WITHIN_MS = 90_000;
const DEMO_TEST_MS = 150_000;

/** The gateway the node process signs people in with (in this process); the CLI gateway has a database of its own. */
let issuer: TestGateway;
let gatewayDb: TestDatabase;
let nodeDb: TestDatabase;
let child: LongRunning | undefined;
let load: Hammer | undefined;
let loads: Hammer[] = [];

beforeAll(async () => {
  issuer = await startTestGateway('cli-lifecycle');
  gatewayDb = await createTestDatabase('cli-lifecycle-gw');
  nodeDb = await createTestDatabase('cli-lifecycle-node');
  expect((await runAtrium(gatewayDb, ['migrate'])).code).toBe(0);
  expect((await runAtrium(nodeDb, ['migrate', '--node', ENG])).code).toBe(0);
});
afterEach(async () => {
  await load?.stop();
  for (const other of loads.splice(0)) await other.stop();
  await child?.stop('SIGKILL');
  [load, child] = [undefined, undefined];
});
afterAll(async () => {
  await nodeDb?.drop();
  await gatewayDb?.drop();
  await issuer?.stop();
});

const isStatus = (a: Answer, probe: string, status: number) =>
  a.kind === 'status' && a.probe === probe && a.status === status;

/** Sends SIGTERM and resolves with the exit code and how long the process took to exit. */
async function terminate(process: LongRunning): Promise<{ code: number | null; ms: number }> {
  const at = Date.now();
  const code = await process.stop('SIGTERM');
  return { code, ms: Date.now() - at };
}

async function expectAllAnswered(answers: Answer[], statuses: Record<string, number[]>) {
  expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
  for (const a of answers) if (a.kind === 'status') expect(statuses[a.probe], a.probe).toContain(a.status);
}

describe('units run by the CLI, started and stopped under traffic', () => {
  it(
    'atrium gateway answers every request from the moment its port opens, and on SIGTERM answers what it read and exits',
    async () => {
      const port = await freePort();
      load = hammer(port, [{ path: DISCOVERY }, { path: '/readyz' }]);
      await until(load, (a) => a.kind === 'refused');
      child = startAtrium(gatewayDb, ['gateway'], { GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1' });
      await until(load, (a) => isStatus(a, 'GET /readyz', 200), STARTS_WITHIN_MS);

      const stopped = await terminate(child);
      expect(stopped.code, child.output()).toBe(0);
      expect(stopped.ms).toBeLessThan(15_000);
      await until(load, (a) => a.kind === 'refused');
      await expectAllAnswered(await load.stop(), { [`GET ${DISCOVERY}`]: [200, 503], 'GET /readyz': [200, 503] });
    },
    TEST_MS,
  );

  it(
    'atrium gateway stopped by SIGTERM while it starts still answers every request and exits cleanly',
    async () => {
      const port = await freePort();
      load = hammer(port, [{ path: '/readyz' }]);
      await until(load, (a) => a.kind === 'refused');
      child = startAtrium(gatewayDb, ['gateway'], { GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1' });
      await until(load, (a) => a.kind === 'status', STARTS_WITHIN_MS);

      const stopped = await terminate(child);
      expect(stopped.code, child.output()).toBe(0);
      expect(stopped.ms).toBeLessThan(20_000);
      await expectAllAnswered(await load.stop(), { 'GET /readyz': [200, 503] });
    },
    TEST_MS,
  );

  it(
    'atrium node answers every request and upgrade from the moment its port opens, and on SIGTERM closes its chat sockets with 1001 and exits',
    async () => {
      const port = await freePort();
      const probes: Probe[] = [{ path: '/readyz' }, { path: '/api/v1/conversations' }, { upgrade: '/ws' }];
      load = hammer(port, probes, { workers: 4, keepOpen: true });
      await until(load, (a) => a.kind === 'refused');
      child = startAtrium(nodeDb, ['node', '--domain', ENG], {
        NODE_PORT: String(port),
        NODE_HOST: '127.0.0.1',
        GATEWAY_ISSUER: issuer.issuer,
      });
      await until(load, (a) => isStatus(a, 'GET /readyz', 200), STARTS_WITHIN_MS);
      await until(load, (a) => a.kind === 'upgraded');

      const stopped = await terminate(child);
      expect(stopped.code, child.output()).toBe(0);
      expect(stopped.ms).toBeLessThan(15_000);
      await until(load, (a) => a.kind === 'refused');
      const answers = await load.stop();
      await expectAllAnswered(answers, {
        'GET /readyz': [200, 503],
        'GET /api/v1/conversations': [401, 503],
        'upgrade /ws': [503],
      });
      for (const a of answers)
        if (a.kind === 'upgraded') expect(await a.close).toEqual({ code: 1001, reason: 'server_shutdown' });
    },
    TEST_MS,
  );

  it(
    'atrium demo answers every request on each of its ports from the moment each opens, and on SIGTERM stops every unit and exits',
    async () => {
      const demoDb = await createTestDatabase('cli-lifecycle-demo');
      try {
        const ports = {
          gateway: await freePort(),
          proxy: await freePort(),
          eng: await freePort(),
          arts: await freePort(),
          leave: await freePort(),
        };
        const statuses: Record<string, number[]> = {
          'GET /readyz': [200, 503],
          'GET /healthz': [200],
          'upgrade /ws': [503],
          'GET /no-such-page': [404],
        };
        loads = [
          hammer(ports.gateway, [{ path: '/readyz' }], { workers: 1 }),
          hammer(ports.proxy, [{ path: '/healthz' }], { workers: 1 }),
          hammer(ports.eng, [{ path: '/readyz' }, { upgrade: '/ws' }], { workers: 2, keepOpen: true }),
          hammer(ports.arts, [{ path: '/readyz' }], { workers: 1 }),
          hammer(ports.leave, [{ path: '/no-such-page' }], { workers: 1 }),
        ];
        child = startAtrium(demoDb, ['demo'], {
          GATEWAY_PORT: String(ports.gateway),
          GATEWAY_HOST: '127.0.0.1',
          DEMO_PROXY_PORT: String(ports.proxy),
          DEMO_ENG_PORT: String(ports.eng),
          DEMO_ARTS_PORT: String(ports.arts),
          DEMO_LEAVE_PORT: String(ports.leave),
        });
        await child.printed('Press Ctrl+C to stop.', DEMO_STARTS_WITHIN_MS);
        for (const each of loads) await until(each, (a) => a.kind === 'status' && a.status !== 503);
        await until(loads[2]!, (a) => a.kind === 'upgraded');

        const stopped = await terminate(child);
        expect(stopped.code, child.output()).toBe(0);
        expect(stopped.ms).toBeLessThan(20_000);
        for (const each of loads) await until(each, (a) => a.kind === 'refused');
        const answers = (await Promise.all(loads.splice(0).map((each) => each.stop()))).flat();
        await expectAllAnswered(answers, statuses);
        for (const a of answers)
          if (a.kind === 'upgraded') expect(await a.close).toEqual({ code: 1001, reason: 'server_shutdown' });
      } finally {
        await child?.stop('SIGKILL');
        await demoDb.drop();
      }
    },
    DEMO_TEST_MS,
  );
});
