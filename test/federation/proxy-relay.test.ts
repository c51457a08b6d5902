import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, get, type Server, type ServerResponse } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { loadProxyConfig } from '../../proxy/config.ts';
import { startProxy, type Proxy } from '../../proxy/main.ts';
import { loadProxyKey, publicPart } from '../../proxy/proxy-key.ts';
import { operator } from '../../gateway/context.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { addProxy } from '../../gateway/federation/policy.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { signRequest } from '../../protocol/signature.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { getFrom, OUTSIDE_ADDRESS } from '../helpers/metrics-reader.ts';

const DOMAIN = 'slow.campus.test';

let gateway: TestGateway;
let keys: TestDatabase;
let proxy: Proxy;
// A domain node that answers its keys document in two parts, the second when the test says.
let node: Server;
let holding: ServerResponse | undefined;
let answer: (res: ServerResponse) => void = (res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"first":"part"');
  holding = res;
};
/** The node's signing key, pinned at the gateway as `atrium domains pin` would. */
const nodeKey = (() => {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP' as const, crv: 'Ed25519' as const, x: jwk.x, d: jwk.d, kid: 'node-1' };
})();
/** The proxy's forward timeout here: short, so that the answers below outlast it. */
const FORWARD_TIMEOUT_MS = 600;

beforeAll(async () => {
  node = createServer((req, res) => answer(res));
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
  gateway = await startTestGateway('proxy-relay');
  keys = await createTestDatabase('proxy-relay-key');
  const config = loadProxyConfig({
    PROXY_PORT: String(await freePort()),
    PROXY_HOST: '127.0.0.1',
    PROXY_NAME: 'relay-proxy',
    GATEWAY_ISSUER: gateway.issuer,
    ATRIUM_DATA_DIR: keys.dataDir,
    LOG_LEVEL: 'silent',
    FORWARD_TIMEOUT_MS: String(FORWARD_TIMEOUT_MS),
  });
  const ctx = { ...gateway.context(null), actor: operator('test') };
  await addProxy(ctx, { name: 'relay-proxy', publicJwk: publicPart(loadProxyKey(config)) });
  const { port } = node.address() as AddressInfo;
  await addDomain(ctx, { name: DOMAIN, url: `http://127.0.0.1:${port}`, units: [] });
  const { kty, crv, x, kid } = nodeKey;
  await ctx.models.Domain.update(
    { pinnedKeys: JSON.stringify([{ kty, crv, x, kid }]), pinnedAt: new Date() },
    { where: { name: DOMAIN } },
  );
  proxy = await startProxy(config);
});
afterAll(async () => {
  holding?.end();
  await proxy?.close();
  node?.close();
  await keys?.drop();
  await gateway?.stop();
});

describe("the federation proxy relaying a node's answer", () => {
  it('passes it on as it arrives rather than holding all of it first', async () => {
    const chunks: string[] = [];
    let first!: () => void;
    const firstArrived = new Promise<void>((resolve) => (first = resolve));
    const ended = new Promise<number>((resolve, reject) => {
      get(`${proxy.url}/.well-known/atrium/keys?domain=${DOMAIN}`, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          chunks.push(chunk);
          first();
        });
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
    // The node has sent only the first part: a proxy that reads whole answers passes nothing on yet.
    const seen = await Promise.race([
      firstArrived.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000)),
    ]);
    expect(seen, 'the first part reached the client while the node still sent').toBe(true);
    expect(chunks.join('')).toBe('{"first":"part"');
    holding!.end(',"second":"part"}');
    expect(await ended).toBe(200);
    expect(JSON.parse(chunks.join(''))).toEqual({ first: 'part', second: 'part' });
  });

  it('passes on a long answer whose parts keep coming, however long it takes in all', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let part = 0;
      // A part every 200 ms for about three forward timeouts: never silent for as long as one.
      const next = () => {
        if (part === 9) return void res.end(`"p${part}"]`);
        res.write(part === 0 ? '["p0",' : `"p${part}",`);
        part += 1;
        setTimeout(next, FORWARD_TIMEOUT_MS / 3);
      };
      next();
    };
    const { status, text } = await read(`${proxy.url}/.well-known/atrium/keys?domain=${DOMAIN}`);
    expect(status).toBe(200);
    expect(JSON.parse(text)).toHaveLength(10);
  });

  it('cuts off an answer that stops coming for as long as the forward timeout', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"then":"nothing more"');
      holding = res;
    };
    const { complete } = await read(`${proxy.url}/.well-known/atrium/keys?domain=${DOMAIN}`);
    expect(complete).toBe(false);
    holding?.destroy();
  });
});

describe('a registered node that answers with a redirect', () => {
  // Something only the campus network reaches (an internal admin API, a cloud's metadata service).
  let internal: Server;
  const asked: string[] = [];
  beforeAll(async () => {
    internal = createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      res.end('internal secret');
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    const { port } = internal.address() as AddressInfo;
    answer = (res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${port}/admin/credentials` });
      res.end();
    };
  });
  afterAll(() => internal?.close());

  it('is not followed: the proxy, and the gateway pinning its keys, answer that it did not answer', async () => {
    const keysRelay = await read(`${proxy.url}/.well-known/atrium/keys?domain=${DOMAIN}`);
    expect(keysRelay.status).toBe(502);
    expect(JSON.parse(keysRelay.text).error.message).toMatch(/did not answer/);

    // A request the node's operator signs to their own node, which the policy always lets through.
    const path = '/federation/v1/hello';
    const body = '{}';
    const signed = signRequest(nodeKey, { method: 'POST', path, origin: DOMAIN, destination: DOMAIN, body });
    const forwarded = await fetch(`${proxy.url}${path}`, {
      method: 'POST',
      headers: { ...signed, 'content-type': 'application/json' },
      body,
    });
    expect(forwarded.status).toBe(502);
    expect(await forwarded.text()).not.toContain('internal secret');

    await expect(pinDomainKeys({ ...gateway.context(null), actor: operator('test') }, DOMAIN)).rejects.toMatchObject({
      code: 'node_unreachable',
      message: expect.stringMatching(/redirect \(HTTP 307\), which is not followed/),
    });
    expect(asked).toEqual([]);
  });
});

describe("the proxy's /metrics", () => {
  it('answers this machine only where the operator set no token, and health anyone', async () => {
    const url = `${proxy.url}/metrics`;
    const refused = { status: 401, code: 'unauthenticated' };
    expect(await getFrom(url, { headers: { 'x-forwarded-for': '203.0.113.9' } })).toMatchObject(refused);
    if (OUTSIDE_ADDRESS) {
      expect(await getFrom(url, { from: OUTSIDE_ADDRESS })).toMatchObject(refused);
      expect((await getFrom(`${proxy.url}/healthz`, { from: OUTSIDE_ADDRESS })).status).toBe(200);
    }
    expect((await getFrom(url)).text).toContain('process_resident_memory_bytes');
  });
});

/** A GET through the proxy, read to its end or until the proxy cuts it off. */
function read(url: string): Promise<{ status: number; text: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, complete: res.complete }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text, complete: false }));
    }).on('error', reject);
  });
}
