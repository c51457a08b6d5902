import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, get, type Server, type ServerResponse } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import { loadProxyConfig } from '../../proxy/config.ts';
import { startProxy, type Proxy } from '../../proxy/main.ts';
import { loadProxyKey, publicPart } from '../../proxy/proxy-key.ts';
import { operator } from '../../gateway/context.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { addProxy } from '../../gateway/federation/policy.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import {
  BODY_DIGEST_HEADER,
  bodyDigest,
  PROXY_ANSWER_HEADER,
  requestDigest,
  signRequest,
  verifyProxyAnswer,
  type PrivateKeyJwk,
} from '../../protocol/signature.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { answerToFirstPart, halfSentRequest, type HalfSent } from '../helpers/hammer.ts';
import { getFrom, metricsForThisMachineOnly } from '../helpers/metrics-reader.ts';

const DOMAIN = 'slow.campus.test';
/** A second domain at the same node, so that two origins send through the proxy. */
const OTHER = 'other.campus.test';

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
const newKey = (kid: string): PrivateKeyJwk => {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid };
};
/** The node's signing keys, pinned at the gateway as `atrium domains pin` would. */
const nodeKey = newKey('node-1');
const otherKey = newKey('other-1');
/**
 * The proxy's forward timeout here: short, so that the answers below outlast it, but long enough that a
 * test worker busy for a moment (a loaded two-core machine) is not taken for a node gone silent.
 */
const FORWARD_TIMEOUT_MS = 1_500;
/** Requests the proxy forwards at once here: in all, and from one origin. */
const MAX_IN_FLIGHT = 3;
const MAX_IN_FLIGHT_PER_ORIGIN = 2;

/** A proxy of this gateway's, registered there under `name`, with `env` over the settings above. */
async function startRelayProxy(name: string, env: Record<string, string> = {}): Promise<Proxy> {
  const config = loadProxyConfig({
    PROXY_PORT: String(await freePort()),
    PROXY_HOST: '127.0.0.1',
    PROXY_NAME: name,
    GATEWAY_ISSUER: gateway.issuer,
    ATRIUM_DATA_DIR: keys.dataDir,
    LOG_LEVEL: 'silent',
    FORWARD_TIMEOUT_MS: String(FORWARD_TIMEOUT_MS),
    PROXY_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
    PROXY_MAX_IN_FLIGHT_PER_ORIGIN: String(MAX_IN_FLIGHT_PER_ORIGIN),
    ...env,
  });
  const ctx = { ...gateway.context(null), actor: operator('test') };
  await addProxy(ctx, { name, publicJwk: publicPart(loadProxyKey(config)) });
  return startProxy(config);
}

beforeAll(async () => {
  node = createServer((req, res) => answer(res));
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
  gateway = await startTestGateway('proxy-relay');
  keys = await createTestDatabase('proxy-relay-key');
  const ctx = { ...gateway.context(null), actor: operator('test') };
  const { port } = node.address() as AddressInfo;
  for (const [name, { kty, crv, x, kid }] of [
    [DOMAIN, nodeKey],
    [OTHER, otherKey],
  ] as const) {
    // Both at the one node; a URL is one domain's only, and the node answers whatever the path.
    await addDomain(ctx, { name, url: `http://127.0.0.1:${port}${name === OTHER ? '/other' : ''}`, units: [] });
    await ctx.models.Domain.update(
      { pinnedKeys: JSON.stringify([{ kty, crv, x, kid }]), pinnedAt: new Date() },
      { where: { name } },
    );
  }
  proxy = await startRelayProxy('relay-proxy');
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

const HELLO = '/federation/v1/hello';
const MiB = 1024 * 1024;

/**
 * A signing time later than the last one, as a node that signs each request anew has: two hellos signed in
 * the same millisecond would be the same request, which the proxy forwards one at a time.
 */
let lastSigned = 0;
const signingTime = () => (lastSigned = Math.max(Date.now(), lastSigned + 1));

/** The headers of a hello that `key` signs for `origin`, to itself (which the policy always allows). */
const helloHeaders = (key: PrivateKeyJwk, origin: string, now = signingTime()): Record<string, string> => ({
  'content-type': 'application/json',
  ...signRequest(key, { method: 'POST', path: HELLO, origin, destination: origin, body: '{}' }, now),
});

/** `headers` as a node of before atrium-body-digest signs: the same, without that header. */
const oldForm = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name !== BODY_DIGEST_HEADER));

/** `headers` with a signature made up in their origin's name by someone without its key: well formed, its key id. */
const madeUp = (headers: Record<string, string>) => ({
  ...headers,
  'atrium-signature': headers['atrium-signature']!.replace(/,sig=.*$/, `,sig=${randomBytes(64).toString('base64url')}`),
});

describe('a request the proxy can refuse by its headers alone', () => {
  it.each([
    ['unsigned', () => ({}), 4 * MiB, 401, 'unsigned'],
    [
      "signed in its origin's name by someone without its key, stating its body's digest",
      () => madeUp(helloHeaders(nodeKey, DOMAIN)),
      4 * MiB,
      401,
      'bad_signature',
    ],
    [
      'stating a body digest other than the one signed',
      () => ({ ...helloHeaders(nodeKey, DOMAIN), [BODY_DIGEST_HEADER]: bodyDigest('{"other":"body"}') }),
      4 * MiB,
      401,
      'bad_signature',
    ],
    [
      'stating its body digest in a form no digest has',
      () => ({ ...helloHeaders(nodeKey, DOMAIN), [BODY_DIGEST_HEADER]: 'not-a-digest' }),
      4 * MiB,
      401,
      'bad_signature',
    ],
    [
      'signed in a form that cannot verify',
      () => ({ ...helloHeaders(nodeKey, DOMAIN), 'atrium-signature': 'kid=node-1,sig=short' }),
      4 * MiB,
      401,
      'bad_signature',
    ],
    [
      'signed too long ago',
      () => helloHeaders(nodeKey, DOMAIN, Date.now() - 5 * 60_000),
      4 * MiB,
      401,
      'stale_request',
    ],
    ['signed with a key nobody pinned', () => helloHeaders(newKey('stranger-1'), DOMAIN), 4 * MiB, 401, 'unknown_key'],
    ['announcing more body than the proxy takes', () => helloHeaders(nodeKey, DOMAIN), 9 * MiB, 413, 'too_large'],
  ])(
    'is answered, %s, before its body has come, and the connection closed',
    async (_, headers, length, status, code) => {
      const early = await answerToFirstPart(`${proxy.url}${HELLO}`, headers(), length);
      expect(early, 'answered while most of the body was still to come').not.toBe('no answer');
      expect(early).toMatchObject({ status, code, connection: 'close', closed: true });
    },
  );
});

describe('the proxy forwarding as many requests as it takes at once', () => {
  const held: HalfSent[] = [];
  /** A hello from `origin` whose body is half sent: the proxy counts it in flight until the rest comes. */
  const hold = (key: PrivateKeyJwk, origin: string) => holdSigned(helloHeaders(key, origin));
  const holdSigned = async (headers: Record<string, string>) => {
    const port = Number(new URL(proxy.url).port);
    held.push(await halfSentRequest(proxy.server, port, HELLO, '{}', 'application/json', headers));
  };
  const hello = async (key: PrivateKeyJwk, origin: string) => {
    const response = await fetch(`${proxy.url}${HELLO}`, {
      method: 'POST',
      headers: helloHeaders(key, origin),
      body: '{}',
    });
    const body = (await response.json()) as { error?: { code: string } };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), code: body.error?.code };
  };
  const TURNED_AWAY = { status: 503, retryAfter: '1', code: 'overloaded' };
  /** How many requests the proxy's /metrics says it holds in flight now. */
  const inFlightNow = async () => {
    const { text } = await getFrom(`${proxy.url}/metrics`);
    return Number(/^atrium_proxy_requests_in_flight(?:\{[^}]*\})? (\d+)$/m.exec(text)?.[1]);
  };
  /** How many requests the proxy's /metrics says `cap` turned away. */
  const turnedAway = async (cap: string) => {
    const { text } = await getFrom(`${proxy.url}/metrics`);
    const line = new RegExp(`^atrium_proxy_turned_away_total\\{[^}]*cap="${cap}"[^}]*\\} (\\d+)$`, 'm');
    return Number(line.exec(text)?.[1] ?? 0);
  };
  beforeAll(() => {
    answer = (res) => res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
  });
  afterEach(async () => {
    for (const request of held.splice(0)) {
      request.finish();
      await request.answer;
    }
  });

  it("turns away one more of an origin's, with 503 and Retry-After, forwards other origins', and its retry", async () => {
    for (let i = 0; i < MAX_IN_FLIGHT_PER_ORIGIN; i++) await hold(nodeKey, DOMAIN);
    await expect.poll(() => hello(nodeKey, DOMAIN), { timeout: 2_000 }).toEqual(TURNED_AWAY);
    expect((await hello(otherKey, OTHER)).status).toBe(202);

    const first = held.shift()!;
    first.finish();
    expect(await first.answer).toMatchObject({ status: 202 });
    expect((await hello(nodeKey, DOMAIN)).status, 'the retry, once one of its requests is done').toBe(202);
    expect(await turnedAway('origin')).toBeGreaterThan(0);
  });

  it('turns away at once a request with the signature of one it is forwarding, which still goes through', async () => {
    // One signed hello seen on its way, sent again while the first's body is still coming.
    const headers = helloHeaders(nodeKey, DOMAIN);
    const port = Number(new URL(proxy.url).port);
    const first = await halfSentRequest(proxy.server, port, HELLO, '{}', 'application/json', headers);
    const again = await answerToFirstPart(`${proxy.url}${HELLO}`, headers, 2, { first: Buffer.from('{') });
    expect(again, 'answered before its body had come').not.toBe('no answer');
    expect(again).toMatchObject({ status: 503, code: 'overloaded', connection: 'close', closed: true });
    expect(await turnedAway('signature')).toBeGreaterThan(0);

    first.finish();
    expect(await first.answer).toMatchObject({ status: 202 });
    // Its place is free once it has ended (the node itself then refuses a request it takes once twice).
    const after = await fetch(`${proxy.url}${HELLO}`, { method: 'POST', headers, body: '{}' });
    expect(after.status).toBe(202);
  });

  it("forwards an origin's own requests while made-up ones in its name, unverified, hang with their bodies unsent", async () => {
    // Made up without atrium-body-digest, as a node of before it signs: only their bodies could show them
    // made up, so they take places, but only unverified ones, as many as the origin may have and as many
    // as the proxy gives unverified requests in all.
    for (let i = 0; i < MAX_IN_FLIGHT_PER_ORIGIN; i++) await holdSigned(madeUp(oldForm(helloHeaders(nodeKey, DOMAIN))));
    await expect.poll(inFlightNow, { timeout: 2_000 }).toBe(MAX_IN_FLIGHT_PER_ORIGIN);
    const ownPasses = { status: 202, retryAfter: null, code: undefined };
    expect(await hello(nodeKey, DOMAIN), 'the origin itself, in the places made-up requests cannot take').toEqual(
      ownPasses,
    );
    // Made up and stating their body's digest: refused at once, holding nothing, however many.
    const stated = await Promise.all(
      Array.from({ length: 8 }, () =>
        answerToFirstPart(`${proxy.url}${HELLO}`, madeUp(helloHeaders(nodeKey, DOMAIN)), 2, {
          first: Buffer.from('{'),
        }),
      ),
    );
    for (const early of stated) expect(early).toMatchObject({ status: 401, code: 'bad_signature', closed: true });
    expect(await hello(nodeKey, DOMAIN)).toEqual(ownPasses);
    expect((await hello(otherKey, OTHER)).status).toBe(202);
    const another = madeUp(oldForm(helloHeaders(otherKey, OTHER)));
    const early = await answerToFirstPart(`${proxy.url}${HELLO}`, another, 2, { first: Buffer.from('{') });
    expect(early, "unverified, in another origin's name, once they hold their share").toMatchObject({
      status: 503,
      code: 'overloaded',
      closed: true,
    });
    expect(await turnedAway('unverified')).toBeGreaterThan(0);
    expect(await inFlightNow()).toBe(MAX_IN_FLIGHT_PER_ORIGIN);
  });

  it('turns away every origin once it holds as many as it takes in all', async () => {
    await hold(nodeKey, DOMAIN);
    await hold(nodeKey, DOMAIN);
    await hold(otherKey, OTHER);
    // OTHER has one request in flight of the two it may have, but the proxy is full.
    await expect.poll(() => hello(otherKey, OTHER), { timeout: 2_000 }).toEqual(TURNED_AWAY);
    expect(await turnedAway('total')).toBeGreaterThan(0);
  });
});

describe('a body the proxy takes in', () => {
  /** A second proxy here, which waits this long for a body (PROXY_BODY_TIMEOUT_SECONDS): short, to be outlasted. */
  const BODY_TIMEOUT_MS = 1_000;
  let impatient: Proxy;
  beforeAll(async () => {
    answer = (res) => res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    impatient = await startRelayProxy('impatient-proxy', {
      PROXY_BODY_TIMEOUT_SECONDS: String(BODY_TIMEOUT_MS / 1000),
    });
  });
  afterAll(() => impatient?.close());

  it('is answered 413 too_large, not a reset, once one announced by no length (chunked) grows past the limit; then closed', async () => {
    const seen = await chunkedOverSocket(proxy.url, HELLO, helloHeaders(nodeKey, DOMAIN), 8 * MiB + 256 * 1024);
    expect(seen.received, `what the sender read before the connection ended (${seen.ended})`).toMatch(
      /^HTTP\/1\.1 413 [^\r]*\r\n/,
    );
    expect(seen.received).toMatch(/^connection: close\r$/im);
    expect(seen.received).toContain('"code":"too_large"');
    expect(seen.ended, 'the proxy closed the connection').not.toBe('still open');
  });

  it("that trickles is cut off with 408 after PROXY_BODY_TIMEOUT_SECONDS, closed, and its origin's place freed", async () => {
    const body = '{}'.padEnd(64 * 1024 + 1_000, ' ');
    const headers = () => ({
      'content-type': 'application/json',
      ...signRequest(
        nodeKey,
        { method: 'POST', path: HELLO, origin: DOMAIN, destination: DOMAIN, body },
        signingTime(),
      ),
    });
    // As many as one origin may have in flight, correctly signed: only their slowness is wrong. A byte comes
    // every 100 ms, so it is the whole body's time that counts, not a pause between bytes.
    const trickled = Array.from({ length: MAX_IN_FLIGHT_PER_ORIGIN }, () =>
      answerToFirstPart(`${impatient.url}${HELLO}`, headers(), Buffer.byteLength(body), {
        first: Buffer.from(body.slice(0, 64 * 1024)),
        trickleMs: 100,
        timeoutMs: 5 * BODY_TIMEOUT_MS,
      }),
    );
    const hello = () =>
      fetch(`${impatient.url}${HELLO}`, { method: 'POST', headers: helloHeaders(nodeKey, DOMAIN), body: '{}' });
    await expect.poll(async () => (await hello()).status, { timeout: BODY_TIMEOUT_MS / 2 }).toBe(503);
    for (const early of await Promise.all(trickled)) {
      expect(early, 'cut off well before the 300 s of Node itself').not.toBe('no answer');
      expect(early).toMatchObject({ status: 408, code: 'invalid_body', connection: 'close', closed: true });
      expect(early !== 'no answer' && early.afterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
    }
    expect((await hello()).status, "the origin's places are free again").toBe(202);
  });
});

describe('a request that states its body digest (atrium-body-digest)', () => {
  let asked = 0;
  /** The body digest header of each request the node was asked. */
  const stated: (string | undefined)[] = [];
  beforeAll(() => {
    answer = (res) => {
      asked += 1;
      stated.push(res.req.headers[BODY_DIGEST_HEADER] as string | undefined);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    };
  });

  it('is refused 400 body_digest_mismatch, and not forwarded, when its body is not that one', async () => {
    const before = asked;
    // Signed by the origin over '{}', its digest stated; another body sent.
    const sent = await fetch(`${proxy.url}${HELLO}`, {
      method: 'POST',
      headers: helloHeaders(nodeKey, DOMAIN),
      body: '{"other":"body"}',
    });
    const body = (await sent.json()) as { error: { code: string; message: string } };
    expect([sent.status, body.error.code]).toEqual([400, 'body_digest_mismatch']);
    expect(body.error.message).toMatch(/atrium-body-digest.*nothing was forwarded/);
    expect(asked, 'nothing reached the node').toBe(before);

    const right = await fetch(`${proxy.url}${HELLO}`, {
      method: 'POST',
      headers: helloHeaders(nodeKey, DOMAIN),
      body: '{}',
    });
    expect(right.status).toBe(202);
    expect(asked).toBe(before + 1);
  });

  it('is forwarded with it, and one from a node of before it (none stated) is still verified by its body', async () => {
    const withIt = await fetch(`${proxy.url}${HELLO}`, {
      method: 'POST',
      headers: helloHeaders(nodeKey, DOMAIN),
      body: '{}',
    });
    expect(withIt.status).toBe(202);
    expect(stated.at(-1), 'passed on, for a partner proxy on the way').toBe(bodyDigest('{}'));
    const before = asked;
    const old = await fetch(`${proxy.url}${HELLO}`, {
      method: 'POST',
      headers: oldForm(helloHeaders(nodeKey, DOMAIN)),
      body: '{}',
    });
    expect(old.status, 'a node of before atrium-body-digest').toBe(202);
    const forged = await fetch(`${proxy.url}${HELLO}`, {
      method: 'POST',
      headers: madeUp(oldForm(helloHeaders(nodeKey, DOMAIN))),
      body: '{}',
    });
    expect([forged.status, ((await forged.json()) as { error: { code: string } }).error.code]).toEqual([
      401,
      'bad_signature',
    ]);
    expect(asked, 'the old-form request went through, the made-up one did not').toBe(before + 1);
    expect(stated.at(-1)).toBeUndefined();
  });
});

describe('the proxy refusing a pair the policy keeps apart', () => {
  it('signs its refusal with its registered key, over the request it refuses, its status and body', async () => {
    const body = '{}';
    const request = { method: 'POST', path: HELLO, origin: DOMAIN, destination: OTHER, body };
    const headers = signRequest(nodeKey, request);
    const refused = await fetch(`${proxy.url}${HELLO}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    const text = await refused.text();
    expect([refused.status, JSON.parse(text).error.code]).toEqual([403, 'policy_denied']);
    expect(refused.headers.get(PROXY_ANSWER_HEADER)).toMatch(/^proxy=relay-proxy,kid=/);
    const answer = {
      status: refused.status,
      headers: refused.headers,
      request: requestDigest({ ...request, timestamp: headers['atrium-timestamp']! }),
      body: Buffer.from(text),
    };
    const keysOf = (name: string) => (name === 'relay-proxy' ? [proxy.publicKey] : undefined);
    expect(verifyProxyAnswer(answer, keysOf)).toMatchObject({ proxy: 'relay-proxy' });
  });
});

describe("the proxy's /metrics", () => {
  it('answers this machine only where the operator set no token, and health anyone', async () => {
    expect(await metricsForThisMachineOnly(proxy.url)).toContain('process_resident_memory_bytes');
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

/**
 * Sends a POST's headers and then `bytes` of a chunked body (never its last chunk) over a bare socket, as
 * fast as the proxy takes them; resolves with everything the proxy sent back and how the connection ended:
 * what a sender sees, a reset included ('closed', an error code, or 'still open' after 5 s).
 */
function chunkedOverSocket(
  base: string,
  path: string,
  headers: Record<string, string>,
  bytes: number,
): Promise<{ received: string; ended: string }> {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
  const ended = new Promise<string>((resolve) => {
    let error = 'closed';
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => resolve(error));
    setTimeout(() => resolve('still open'), 5_000);
  });
  const head = Object.entries({ ...headers, host: `${hostname}:${port}`, 'transfer-encoding': 'chunked' })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
  const chunk = Buffer.alloc(64 * 1024, ' ');
  const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  const write = async () => {
    for (let sent = 0; sent < bytes && !socket.destroyed; sent += chunk.length)
      if (!socket.write(framed))
        await new Promise((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
  };
  return write().then(async () => {
    const how = await ended;
    socket.destroy();
    return { received, ended: how };
  });
}
