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

/** The gateway the node process signs people in with (in this process); the CLI gateway has a database of its own. */
let issuer: TestGateway;
let gatewayDb: TestDatabase;
let nodeDb: TestDatabase;
let child: LongRunning | undefined;
let load: Hammer | undefined;

beforeAll(async () => {
  issuer = await startTestGateway('cli-lifecycle');
  gatewayDb = await createTestDatabase('cli-lifecycle-gw');
  nodeDb = await createTestDatabase('cli-lifecycle-node');
  expect((await runAtrium(gatewayDb, ['migrate'])).code).toBe(0);
  expect((await runAtrium(nodeDb, ['migrate', '--node', ENG])).code).toBe(0);
});
afterEach(async () => {
  await load?.stop();
  await child?.stop('SIGKILL');
  [load, child] = [undefined, undefined];
});
afterAll(async () => {
  await nodeDb?.drop();
  await gatewayDb?.drop();
  await issuer?.stop();
});

const isStatus = (a: Answer, probe: string, status: number) => a.kind === 'status' && a.probe === probe && a.status === status;

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
  it('atrium gateway answers every request from the moment its port opens, and on SIGTERM answers what it read and exits', async () => {
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
  }, TEST_MS);

  it('atrium gateway stopped by SIGTERM while it starts still answers every request and exits cleanly', async () => {
    const port = await freePort();
    load = hammer(port, [{ path: '/readyz' }]);
    await until(load, (a) => a.kind === 'refused');
    child = startAtrium(gatewayDb, ['gateway'], { GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1' });
    await until(load, (a) => a.kind === 'status', STARTS_WITHIN_MS);

    const stopped = await terminate(child);
    expect(stopped.code, child.output()).toBe(0);
    expect(stopped.ms).toBeLessThan(20_000);
    await expectAllAnswered(await load.stop(), { 'GET /readyz': [200, 503] });
  }, TEST_MS);

  it('atrium node answers every request and upgrade from the moment its port opens, and on SIGTERM closes its chat sockets with 1001 and exits', async () => {
    const port = await freePort();
    const probes: Probe[] = [{ path: '/readyz' }, { path: '/api/v1/conversations' }, { upgrade: '/ws' }];
    load = hammer(port, probes, { workers: 4, keepOpen: true });
    await until(load, (a) => a.kind === 'refused');
    child = startAtrium(nodeDb, ['node', '--domain', ENG], { NODE_PORT: String(port), NODE_HOST: '127.0.0.1', GATEWAY_ISSUER: issuer.issuer });
    await until(load, (a) => isStatus(a, 'GET /readyz', 200), STARTS_WITHIN_MS);
    await until(load, (a) => a.kind === 'upgraded');

    const stopped = await terminate(child);
    expect(stopped.code, child.output()).toBe(0);
    expect(stopped.ms).toBeLessThan(15_000);
    await until(load, (a) => a.kind === 'refused');
    const answers = await load.stop();
    await expectAllAnswered(answers, { 'GET /readyz': [200, 503], 'GET /api/v1/conversations': [401, 503], 'upgrade /ws': [503] });
    for (const a of answers) if (a.kind === 'upgraded') expect(await a.close).toEqual({ code: 1001, reason: 'server_shutdown' });
  }, TEST_MS);
});
