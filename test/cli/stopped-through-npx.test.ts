import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runAtrium } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const ENG = 'eng.campus.test';
const root = fileURLToPath(new URL('../../', import.meta.url));
// npm itself, then the whole unit, start in a process of their own: seconds on a loaded machine.
const STARTS_WITHIN_MS = 40_000;
const TEST_MS = 70_000;

let issuer: TestGateway;
let nodeDb: TestDatabase;
/** The unit's own process (below npx and its shell), to be killed by its PID should the test fail. */
let unitPid: number | undefined;

beforeAll(async () => {
  issuer = await startTestGateway('cli-npx-stop');
  nodeDb = await createTestDatabase('cli-npx-stop-node');
  expect((await runAtrium(nodeDb, ['migrate', '--node', ENG])).code).toBe(0);
});
afterEach(() => {
  if (unitPid !== undefined && alive(unitPid)) process.kill(unitPid, 'SIGKILL');
  unitPid = undefined;
});
afterAll(async () => {
  await nodeDb?.drop();
  await issuer?.stop();
});

/** Whether the process runs (one that exited but was not yet reaped by whoever adopted it does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const portAnswers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** `npx atrium ARGS` as the README starts it in the background: the PID the shell gets is npx's. */
function npxAtrium(args: string[], env: Record<string, string>) {
  const child: ChildProcessWithoutNullStreams = spawn('npx', ['atrium', ...args], {
    cwd: root,
    env: { ...cliEnv(nodeDb, { LOG_LEVEL: 'info', ...env }), HOME: process.env.HOME ?? root },
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stdin.end();
  // The unit's process holds the same pipes: they end only once it has exited too.
  const ended = new Promise<void>((resolve) => child.stdout.once('end', resolve));
  const logs = () =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { child, ended, output: () => out, logs };
}

describe('a unit started with npx, as the README does', () => {
  it(
    'stops gracefully, closing its port, when the PID its operator holds (npx) gets SIGTERM',
    async () => {
      const port = await freePort();
      const npx = npxAtrium(['node', '--domain', ENG], {
        NODE_PORT: String(port),
        NODE_HOST: '127.0.0.1',
        GATEWAY_ISSUER: issuer.issuer,
      });
      await expect
        .poll(() => npx.logs().find((l) => l.msg === 'domain node listening'), { timeout: STARTS_WITHIN_MS })
        .toBeDefined();
      unitPid = npx.logs().find((l) => l.msg === 'domain node listening')!.pid as number;
      expect(unitPid).not.toBe(npx.child.pid);
      expect(await portAnswers(port)).toBe(true);

      const at = Date.now();
      npx.child.kill('SIGTERM');
      const exited = await Promise.race([npx.ended.then(() => true), pause(15_000).then(() => false)]);
      expect(exited, `the unit still runs after 15 s:\n${npx.output()}`).toBe(true);
      expect(Date.now() - at).toBeLessThan(15_000);
      // Its pipes close as it exits; the kernel may mark the process gone a moment later.
      const pid = unitPid;
      await expect.poll(() => alive(pid), { timeout: 3_000 }).toBe(false);
      expect(await portAnswers(port)).toBe(false);
      const said = npx.logs().map((l) => l.msg);
      expect(said).toContain('shutting down');
      expect(said).toContain('stopped');
      expect(npx.output()).toContain('the npm process that started this one has exited: stopping as on SIGTERM');
    },
    TEST_MS,
  );
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
