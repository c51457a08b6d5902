import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createTransport } from '../../node/federation/transport.ts';
import type { Registry, RegistryClient } from '../../protocol/registry-client.ts';
import type { PrivateKeyJwk } from '../../protocol/signature.ts';
import { campusPeople, freePort, startCampus, type Campus } from '../helpers/federation.ts';

type Log = { level: number; msg: string; error?: string; err?: unknown };

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
const engLogs: Log[] = [];

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void engLogs.push(JSON.parse(line)) });
  campus = await startCampus('fed-diagnosis', { loggers: { eng: logger } });
  as = campusPeople(campus);
});
afterAll(async () => {
  as?.close();
  await campus?.stop();
});

/** alice's conversation with bob of arts (homed at eng), opened while everything is up. */
async function aliceWithBob() {
  const alice = await as('alice', 'eng');
  const { conversationId } = await alice.send({ to: 'bob@arts.campus.test', text: 'hello bob' });
  return { alice, conversationId };
}

/** What eng's outbox last said about a failed delivery to arts, once it has said something. */
async function lastRetry(since: number): Promise<string> {
  const retry = () => engLogs.slice(since).findLast((l) => l.msg === 'federation delivery failed; will retry')?.error;
  await expect.poll(retry, { timeout: 15_000 }).toBeDefined();
  return retry()!;
}

describe('why a delivery to another college fails, as the operator reads it', () => {
  it('blames a stopped federation proxy, not the other college, and names the cause', async () => {
    const { alice, conversationId } = await aliceWithBob();
    await campus.stopProxy();
    try {
      const since = engLogs.length;
      await alice.send({ conversationId, text: 'while the proxy is down' });
      const error = await lastRetry(since);
      expect(error).toContain(`The federation proxy ${campus.proxy.url} cannot be reached (`);
      // The cause: refused, or, on a connection kept from before it stopped, reset or closed.
      expect(error).toMatch(/cannot be reached \(fetch failed: \S[^)]*\) on the way to arts\.campus\.test$/);
      expect(error).not.toContain('arts.campus.test cannot be reached');
    } finally {
      await campus.restartProxy();
    }
  });

  it('names the cause when a college itself cannot be reached', async () => {
    const port = await freePort();
    const registry: Registry = {
      version: '1',
      domains: [{ name: 'arts.campus.test', url: `http://127.0.0.1:${port}`, keys: [] }],
      policy: [],
      proxies: [],
    };
    const client: RegistryClient = {
      get: async () => registry,
      refreshSoon: async () => registry,
      fresh: async () => registry,
      cached: () => registry,
    };
    const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
    const key: PrivateKeyJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: 'k-eng' };
    const transport = createTransport({
      origin: 'eng.campus.test',
      proxyUrl: undefined,
      registry: client,
      signingKey: async () => key,
      logger: createLogger('diagnosis', 'silent'),
    });
    await expect(transport.post('arts.campus.test', '/federation/v1/hello', {})).rejects.toThrow(
      /^arts\.campus\.test cannot be reached now \(fetch failed: connect ECONNREFUSED/,
    );
  });

  // Last: every clock of the campus but the senders' signing ones stays moved on.
  it('says a request refused as stale is a clock apart, in one line without a stack', async () => {
    const { alice, conversationId } = await aliceWithBob();
    const since = engLogs.length;
    campus.advanceClocks(120_000);
    await alice.send({ conversationId, text: 'with the clocks apart' });
    const said = `The federation proxy ${campus.proxy.url} refused our request to arts.campus.test as stale: its clock or ours is more than 60 s off (check NTP on both)`;
    expect(await lastRetry(since)).toContain(said);
    const line = engLogs.slice(since).find((l) => l.msg === said);
    expect(line).toMatchObject({ level: 40 });
    expect(line?.err).toBeUndefined();
  });
});
