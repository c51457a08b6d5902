import { generateKeyPairSync } from 'node:crypto';
import { createServer, request, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestClock, type TestClock } from '../../core/clock.ts';
import { operator } from '../../gateway/context.ts';
import { addProxy } from '../../gateway/federation/policy.ts';
import type { PrivateKeyJwk } from '../../protocol/signature.ts';
import { loadProxyConfig } from '../../proxy/config.ts';
import { startProxy, type Proxy } from '../../proxy/main.ts';
import { publicPart } from '../../proxy/proxy-key.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** The proxy's default PROXY_READY_RECHECK_SECONDS: it asks the gateway at most this often. */
const RECHECK_MS = 10_000;
const REGISTER = '`atrium proxies add NAME --key …` with the key the proxy printed at start';

/** What the gateway's front does with each request: passes it on, or stands for a gateway away, failing or hung. */
type FrontMode = 'pass' | 'down' | 'failing' | 'hung';
type GatewayFront = {
  url: string;
  mode: FrontMode;
  /** How many registry requests reached the front (whatever it did with them). */
  registryRequests(): number;
  close(): Promise<void>;
};

/**
 * A stand-in address for the gateway that passes requests on to it, or, as a test switches it, behaves as
 * a gateway that cannot be reached (the connection closed), that fails itself (503), or that never answers.
 * It counts the registry requests that come, so that a test sees how often the proxy asks.
 */
async function gatewayFront(gateway: TestGateway): Promise<GatewayFront> {
  const target = new URL(gateway.issuer);
  const sockets = new Set<Socket>();
  let registryRequests = 0;
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/federation/v1/registry') registryRequests += 1;
    if (front.mode === 'hung') return void held.push(res);
    if (front.mode === 'down') return void req.socket.destroy();
    if (front.mode === 'failing')
      return void res
        .writeHead(503, { 'content-type': 'application/json' })
        .end('{"error":{"code":"unavailable","message":"The gateway is starting"}}');
    const upstream = request(
      { hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const front: GatewayFront = {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    mode: 'pass',
    registryRequests: () => registryRequests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return front;
}

function newKey(kid: string): PrivateKeyJwk {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid };
}

let gateway: TestGateway;
let front: GatewayFront;
const running: Proxy[] = [];
const ops = () => ({ ...gateway.context(null), actor: operator('test') });
const register = (name: string, key: PrivateKeyJwk) => addProxy(ops(), { name, publicJwk: publicPart(key) });

beforeAll(async () => {
  gateway = await startTestGateway('proxy-readiness');
});
afterEach(async () => {
  for (const proxy of running.splice(0)) await proxy.close();
  await front.close();
});
afterAll(async () => {
  await gateway?.stop();
});

/** A proxy named `name` with `key`, asking the gateway through a new front, on a clock the test moves. */
async function proxyNamed(name: string, key: PrivateKeyJwk): Promise<{ proxy: Proxy; clock: TestClock }> {
  front = await gatewayFront(gateway);
  const clock = createTestClock();
  const config = loadProxyConfig({
    PROXY_PORT: '0',
    PROXY_HOST: '127.0.0.1',
    PROXY_NAME: name,
    PROXY_PRIVATE_KEY: JSON.stringify(key),
    GATEWAY_ISSUER: front.url,
    LOG_LEVEL: 'silent',
  });
  const proxy = await startProxy(config, { clock });
  running.push(proxy);
  return { proxy, clock };
}

/** What the proxy's /readyz answers, and how long it took. */
async function readiness(proxy: Proxy): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const started = Date.now();
  const answer = await fetch(`${proxy.url}/readyz`);
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown>, ms: Date.now() - started };
}
const notReady = (reason: string) => ({ status: 'not_ready', checks: { registry: false }, reason });

describe("a federation proxy's /readyz", () => {
  it('asks the gateway about an unregistered proxy at most once per recheck interval, and is ready within it once registered', async () => {
    const key = newKey('p-new');
    const { proxy, clock } = await proxyNamed('new-proxy', key);
    const unknown = notReady(
      `The gateway (${front.url}) has no proxy "new-proxy" registered (HTTP 401 unknown_origin): register it once: ${REGISTER.replace('NAME', 'new-proxy')}`,
    );
    for (let probe = 0; probe < 5; probe += 1) {
      expect(await readiness(proxy)).toMatchObject({ status: 503, body: unknown });
      clock.advance(1_000);
    }
    expect(front.registryRequests()).toBe(1);

    await register('new-proxy', key);
    clock.advance(RECHECK_MS);
    expect(await readiness(proxy)).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(front.registryRequests()).toBe(2);
  });

  it('answers within about a second while the gateway does not answer, saying it is still asking', async () => {
    const { proxy } = await proxyNamed('slow-proxy', newKey('p-slow'));
    front.mode = 'hung';
    const answer = await readiness(proxy);
    expect(answer).toMatchObject({
      status: 503,
      body: notReady(
        `The gateway (${front.url}) has not answered within 1 s whether it has proxy "slow-proxy" registered; asking on`,
      ),
    });
    // The gateway's request itself gives up after 5 s; the probe does not wait for that.
    expect(answer.ms).toBeLessThan(4_000);
  });

  it('keeps a registered proxy ready through a gateway that fails, is away, or hangs, asking it at most once per recheck interval', async () => {
    const key = newKey('p-steady');
    await register('steady-proxy', key);
    const { proxy, clock } = await proxyNamed('steady-proxy', key);
    expect(await readiness(proxy)).toMatchObject({ status: 200 });

    // Past the registry's REGISTRY_TTL_SECONDS (30 s), with a gateway that fails itself, probed every 2 s.
    front.mode = 'failing';
    clock.advance(31_000);
    const asked = front.registryRequests();
    for (let probe = 0; probe < 4; probe += 1) {
      expect(await readiness(proxy)).toMatchObject({ status: 200, body: { status: 'ready' } });
      clock.advance(2_000);
    }
    expect(front.registryRequests() - asked).toBe(1);

    front.mode = 'down';
    clock.advance(RECHECK_MS);
    expect(await readiness(proxy)).toMatchObject({ status: 200, body: { status: 'ready' } });

    front.mode = 'hung';
    clock.advance(RECHECK_MS);
    const hung = await readiness(proxy);
    expect(hung).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(hung.ms).toBeLessThan(4_000);
  });

  it('is not ready within the recheck interval once the proxy is removed at the gateway, says so through an outage, and is ready once it is registered again', async () => {
    const key = newKey('p-gone');
    await register('gone-proxy', key);
    const { proxy, clock } = await proxyNamed('gone-proxy', key);
    expect(await readiness(proxy)).toMatchObject({ status: 200 });

    await gateway.models.FederationProxy.destroy({ where: { name: 'gone-proxy' } });
    clock.advance(RECHECK_MS);
    const removed = notReady(
      `The gateway (${front.url}) has no proxy "gone-proxy" registered any more (HTTP 401 unknown_origin): it was removed there, so the registry this proxy forwards by is no longer renewed; to serve again, register it: ${REGISTER.replace('NAME', 'gone-proxy')}`,
    );
    expect(await readiness(proxy)).toMatchObject({ status: 503, body: removed });

    // A gateway that cannot be asked says nothing new: the proxy stays out of service.
    front.mode = 'down';
    clock.advance(RECHECK_MS);
    expect(await readiness(proxy)).toMatchObject({ status: 503, body: removed });

    front.mode = 'pass';
    await register('gone-proxy', key);
    clock.advance(RECHECK_MS);
    expect(await readiness(proxy)).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  it('is not ready once another key is registered for its name, and names its own key', async () => {
    const key = newKey('p-mine');
    await register('keyed-proxy', key);
    const { proxy, clock } = await proxyNamed('keyed-proxy', key);
    expect(await readiness(proxy)).toMatchObject({ status: 200 });

    await register('keyed-proxy', newKey('p-theirs'));
    clock.advance(RECHECK_MS);
    expect(await readiness(proxy)).toMatchObject({
      status: 503,
      body: notReady(
        `The gateway (${front.url}) has proxy "keyed-proxy" registered with another key than this one, p-mine (HTTP 401 unknown_key): run every copy of the proxy with the registered key (ATRIUM_DATA_DIR or PROXY_PRIVATE_KEY), or register this one: ${REGISTER.replace('NAME', 'keyed-proxy')}`,
      ),
    });
  });
});
