import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { REPEAT_WARNING_MS } from '../../core/lasting-warnings.ts';
import { createDomainStanding } from '../../node/auth/domain-standing.ts';
import type { EndedAccess } from '../../node/auth/ended-access.ts';
import { createEndedAccessPoller } from '../../node/auth/ended-access-poller.ts';
import { createRegistryClient, REGISTRY_RETRY_MS } from '../../protocol/registry-client.ts';
import { signedGatewayRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';
import { unusedUrls } from '../helpers/ports.ts';

let elsewhere: Server;
let gateway: Server;
// A gateway that answers a node's signed requests as told: refusing them as the real one refuses a node
// whose keys it has not pinned, or answering them.
let refusing: Server;
let refusingUrl: string;
let pinned = false;
const reached: string[] = [];
const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

beforeAll(async () => {
  elsewhere = createServer((req, res) => {
    reached.push(`${req.method} ${req.url} ${req.headers['atrium-signature'] ?? ''}`);
    res.end('{}');
  });
  const target = await listen(elsewhere);
  gateway = createServer((_req, res) => {
    res.writeHead(307, { location: `${target}/internal` });
    res.end();
  });
  refusing = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (!pinned) {
      res.writeHead(401);
      return void res.end('{"error":{"code":"unknown_key","message":"No pinned key k1 for eng.campus.test"}}');
    }
    const registry = { version: '1', domains: [], policy: [], proxies: [] };
    res.end(
      JSON.stringify(
        req.url?.startsWith('/federation/v1/registry') ? registry : { entries: [], cursor: 0, more: false },
      ),
    );
  });
  refusingUrl = await listen(refusing);
});
afterAll(() => {
  elsewhere?.close();
  gateway?.close();
  refusing?.close();
});
afterEach(() => vi.useRealTimers());

function newKey(): PrivateKeyJwk {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: 'k1' };
}

describe("a node's signed request to its gateway", () => {
  it('follows no redirect: the signed request goes to no other address', async () => {
    const key = newKey();
    const asker = { gatewayIssuer: await listen(gateway), origin: 'eng.campus.test', signingKey: async () => key };
    await expect(fetch(await signedGatewayRequest(asker, 'GET', '/federation/v1/ended-access'))).rejects.toThrow();
    await expect(fetch(await signedGatewayRequest(asker, 'POST', '/federation/v1/repin'))).rejects.toThrow();
    expect(reached).toEqual([]);
  });
});

describe('a node whose keys the gateway has not pinned', () => {
  it('is told once what to do, without a stack, and not again at every try', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const logs: { level: number; msg: string; err?: unknown; code?: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const key = newKey();
    const asker = { gatewayIssuer: refusingUrl, origin: 'eng.campus.test', signingKey: async () => key };
    const registry = createRegistryClient({ ...asker, ttlMs: 30_000, logger });
    const poller = createEndedAccessPoller({
      ...asker,
      ended: { record: async () => undefined } as unknown as EndedAccess,
      standing: createDomainStanding({ domain: 'eng.campus.test', logger }),
      intervalMs: 15_000,
      logger,
    });
    const told =
      "This node's keys are not pinned at the gateway: run `atrium domains pin eng.campus.test` (the gateway answers HTTP 401 unknown_key)";
    const warnings = () => logs.filter((l) => l.level === 40);

    pinned = false;
    // The registry's refusal says the same to whoever asked for it.
    await expect(registry.get()).rejects.toMatchObject({
      code: 'registry_unavailable',
      message:
        "The gateway refused the registry request (HTTP 401 unknown_key): this node's keys are not pinned at the gateway: run `atrium domains pin eng.campus.test`",
    });
    for (let i = 0; i < 3; i += 1) {
      await poller.poll();
      vi.setSystemTime(Date.now() + 15_000);
      await registry.get().catch(() => undefined);
    }
    expect(warnings().map((l) => [l.msg, l.code, l.err])).toEqual([[told, 'unknown_key', undefined]]);

    // Said again while it lasts, every few minutes.
    vi.setSystemTime(Date.now() + REPEAT_WARNING_MS);
    await poller.poll();
    expect(warnings().map((l) => l.msg)).toEqual([told, told]);

    // Pinned: said once that it is over.
    pinned = true;
    vi.setSystemTime(Date.now() + REGISTRY_RETRY_MS);
    await poller.poll();
    await registry.get();
    expect(logs.filter((l) => l.level === 30).map((l) => l.msg)).toEqual([
      "The gateway takes this unit's requests again",
    ]);
    expect(warnings()).toHaveLength(2);
  });
});

describe('a node whose gateway is away', () => {
  it('says so once, without a stack', async () => {
    const logs: { level: number; msg: string; err?: unknown }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const key = newKey();
    const [away] = await unusedUrls(1, '127.0.0.1');
    const poller = createEndedAccessPoller({
      gatewayIssuer: away!,
      origin: 'eng.campus.test',
      signingKey: async () => key,
      ended: { record: async () => undefined } as unknown as EndedAccess,
      standing: createDomainStanding({ domain: 'eng.campus.test', logger }),
      intervalMs: 15_000,
      logger,
    });
    for (let i = 0; i < 3; i += 1) await poller.poll();
    expect(logs.filter((l) => l.level === 40).map((l) => [l.msg, l.err])).toEqual([
      [expect.stringMatching(/^The gateway cannot be reached \(fetch failed: connect ECONNREFUSED /), undefined],
    ]);
  });
});

describe('a proxy whose key the gateway does not know', () => {
  it('is told to register it', async () => {
    pinned = false;
    const key = newKey();
    const registry = createRegistryClient({
      gatewayIssuer: refusingUrl,
      origin: 'campus-proxy',
      signingKey: async () => key,
      ttlMs: 30_000,
      logger: pino({ level: 'silent' }),
      unit: 'proxy',
    });
    await expect(registry.get()).rejects.toMatchObject({
      message:
        "The gateway refused the registry request (HTTP 401 unknown_key): this proxy's key is not registered at the gateway: run `atrium proxies add campus-proxy --key …` with the key the proxy printed at start",
    });
  });
});
