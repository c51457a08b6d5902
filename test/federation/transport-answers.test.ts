import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../core/logger.ts';
import { ANSWER_MAX_BYTES, createTransport, type Transport } from '../../node/federation/transport.ts';
import {
  bodyDigest,
  HEADERS,
  PROXY_ANSWER_HEADER,
  requestDigest,
  signAnswer,
  signProxyAnswer,
  type PrivateKeyJwk,
  type PublicKeyJwk,
} from '../../protocol/signature.ts';
import type { Registry, RegistryClient } from '../../protocol/registry-client.ts';

const DESTINATION = 'arts.campus.test';

/** Signs an answer as the destination would, to the request that arrived, unless told otherwise. */
type Sign = (
  status: number,
  body: string | Buffer,
  as?: { key?: PrivateKeyJwk; destination?: string; request?: string; now?: number },
) => Record<string, string>;

function newKey(kid: string): PrivateKeyJwk {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid };
}
const publicOf = ({ kty, crv, x, kid }: PrivateKeyJwk): PublicKeyJwk => ({ kty, crv, x, kid });

// Another domain's node (reached as the proxy would be) that answers as each test tells it, signing with
// its pinned key when the test signs; `request` is the digest of the request it answers.
let peer: Server;
const peerKey = newKey('k-arts');
/** The key of the proxy the registry lists, which signs its own refusals. */
const proxyKey = newKey('p-campus');
let answer: (res: ServerResponse, sign: Sign, request: string) => void = (res) => res.end('{}');
let transport: Transport;
let registry: Registry;

beforeAll(async () => {
  peer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const header = (name: string) => String(req.headers[name] ?? '');
      const request = requestDigest({
        method: req.method ?? '',
        path: req.url ?? '',
        origin: header(HEADERS.origin),
        destination: header(HEADERS.destination),
        timestamp: header(HEADERS.timestamp),
        body: Buffer.concat(chunks),
      });
      answer(
        res,
        (status, body, as = {}) =>
          signAnswer(
            as.key ?? peerKey,
            {
              request: as.request ?? request,
              destination: as.destination ?? DESTINATION,
              status,
              digest: bodyDigest(body),
            },
            as.now,
          ),
        request,
      );
    });
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  registry = {
    version: '1',
    domains: [
      { name: DESTINATION, url, keys: [publicOf(peerKey)] },
      { name: 'law.campus.test', url, keys: [publicOf(newKey('k-law'))] },
    ],
    policy: [],
    proxies: [{ name: 'campus-proxy', keys: [publicOf(proxyKey)] }],
  };
  const registryClient: RegistryClient = {
    get: async () => registry,
    refreshSoon: async () => registry,
    fresh: async () => registry,
    cached: () => registry,
  };
  transport = createTransport({
    origin: 'eng.campus.test',
    proxyUrl: url,
    registry: registryClient,
    signingKey: async () => newKey('k-eng'),
    logger: createLogger('transport-answers', 'silent'),
  });
});
afterAll(() => {
  peer?.closeAllConnections();
  peer?.close();
});

/** A JSON answer, signed by the destination unless `signed` is false. */
const json =
  (status: number, body: string, signed = true) =>
  (res: ServerResponse, sign: Sign) =>
    res.writeHead(status, { 'content-type': 'application/json', ...(signed ? sign(status, body) : {}) }).end(body);

describe("another domain's answers", () => {
  it('are read no further than the most a node takes: a longer one is refused as an unavailable domain', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"padding":"');
      const chunk = 'x'.repeat(1024 * 1024);
      let sent = 0;
      // Writes until the reader stops reading (at most a little past the limit, then the socket closes).
      const more = () => {
        while (sent <= ANSWER_MAX_BYTES + 2 * chunk.length) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end('"}');
      };
      more();
    };
    await expect(transport.post('arts.campus.test', '/federation/v1/hello', {})).rejects.toMatchObject({
      code: 'federation_unavailable',
    });
    answer = json(200, '{"within":"limits"}');
    expect(await transport.post('arts.campus.test', '/federation/v1/hello', {})).toEqual({
      status: 200,
      body: { within: 'limits' },
    });
  });

  it('pass a file on as it arrives rather than holding all of it first', async () => {
    let finish!: () => void;
    answer = (res, sign) => {
      res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': '10', ...sign(200, 'first-rest') });
      res.write('first');
      finish = () => res.end('-rest');
    };
    const served = await Promise.race([
      transport.postForFile('arts.campus.test', '/federation/v1/attachments/x', {}),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3_000)),
    ]);
    expect(served, 'the file was handed on while the other node still sent it').toBeDefined();
    const file = served!.file!;
    expect([file.contentType, file.length]).toEqual(['application/pdf', 10]);
    const chunks: string[] = [];
    for await (const chunk of file.content) {
      chunks.push(String(chunk));
      if (chunks.length === 1) finish();
    }
    expect(chunks.join('')).toBe('first-rest');
  });

  it('pass a file on however long it takes in all, while its parts keep coming', async () => {
    answer = (res, sign) => {
      res.writeHead(200, { 'content-type': 'text/plain', ...sign(200, '0123456789') });
      let part = 0;
      // A part every 100 ms for about three timeouts (300 ms below): never silent for as long as one.
      const next = () => {
        if (part === 9) return void res.end('9');
        res.write(String(part++));
        setTimeout(next, 100);
      };
      next();
    };
    const served = await transport.postForFile('arts.campus.test', '/federation/v1/attachments/x', {}, 300);
    let text = '';
    for await (const chunk of served.file!.content) text += String(chunk);
    expect(text).toBe('0123456789');
  });

  it('that break off are an unavailable domain, not an internal error', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"half":');
      setTimeout(() => res.socket?.destroy(), 50);
    };
    await expect(transport.post('arts.campus.test', '/federation/v1/hello', {})).rejects.toMatchObject({
      code: 'federation_unavailable',
    });
  });
});

describe("another domain's answers, taken only as its own", () => {
  const post = () => transport.post(DESTINATION, '/federation/v1/transactions/t-signed-answers', { events: [] });

  it('are taken when the destination signed them, refusals as much as acks', async () => {
    answer = json(200, '{"applied":1}');
    expect(await post()).toEqual({ status: 200, body: { applied: 1 } });
    answer = json(409, '{"error":{"code":"not_home","message":"elsewhere"}}');
    expect(await post()).toEqual({ status: 409, body: { error: { code: 'not_home', message: 'elsewhere' } } });
  });

  it('are not received when nobody signed them: a made-up ack is no ack', async () => {
    answer = json(200, '{"applied":1}', false);
    await expect(post()).rejects.toMatchObject({ code: 'peer_answer_unsigned' });
  });

  it('are not received when their body, status or signature was changed on the way', async () => {
    answer = (res, sign) =>
      res.writeHead(200, { 'content-type': 'application/json', ...sign(200, '{"applied":0}') }).end('{"applied":1}');
    await expect(post(), 'another body').rejects.toMatchObject({ code: 'peer_answer_forged' });
    answer = (res, sign) =>
      res.writeHead(200, { 'content-type': 'application/json', ...sign(500, '{"applied":1}') }).end('{"applied":1}');
    await expect(post(), 'another status').rejects.toMatchObject({ code: 'peer_answer_forged' });
    answer = (res, sign) => {
      const headers = sign(200, '{"applied":1}');
      // One character of the signature changed (to another: one in 64 signatures begins with "A").
      headers['atrium-answer-signature'] = headers['atrium-answer-signature']!.replace(
        /sig=(.)/,
        (_all, first: string) => `sig=${first === 'A' ? 'B' : 'A'}`,
      );
      res.writeHead(200, { 'content-type': 'application/json', ...headers }).end('{"applied":1}');
    };
    await expect(post(), 'another signature').rejects.toMatchObject({ code: 'peer_answer_forged' });
  });

  it('are not received when they answer another request, come from another domain or key, or are stale', async () => {
    const body = '{"applied":1}';
    const signedAs = (as: Parameters<Sign>[2]) => (res: ServerResponse, sign: Sign) =>
      res.writeHead(200, { 'content-type': 'application/json', ...sign(200, body, as) }).end(body);
    const cases: [string, Parameters<Sign>[2]][] = [
      ['an answer kept from another request', { request: bodyDigest('another request') }],
      ["another domain's answer, signed with its own pinned key", { destination: 'law.campus.test' }],
      ['a key the destination does not have pinned', { key: newKey('k-unpinned') }],
      ['another key under the pinned key id', { key: newKey('k-arts') }],
      ['a timestamp past the allowed skew', { now: Date.now() - 120_000 }],
    ];
    for (const [what, as] of cases) {
      answer = signedAs(as);
      await expect(post(), what).rejects.toMatchObject({ code: 'peer_answer_forged' });
    }
  });

  const REFUSAL = '{"error":{"code":"policy_denied","message":"the pair is apart"}}';
  /** A policy refusal signed as a proxy would sign its own, by `key` as `proxy`, unless told otherwise. */
  const proxyRefusal =
    (as: { key?: PrivateKeyJwk; proxy?: string; request?: string; body?: string } = {}) =>
    (res: ServerResponse, _sign: Sign, request: string) => {
      const signed = { proxy: as.proxy ?? 'campus-proxy', request: as.request ?? request, status: 403 };
      const header = signProxyAnswer(as.key ?? proxyKey, { ...signed, body: as.body ?? REFUSAL });
      res.writeHead(403, { 'content-type': 'application/json', [PROXY_ANSWER_HEADER]: header }).end(REFUSAL);
    };

  it('take a policy refusal on the way only when a proxy the registry lists signed it, over this request', async () => {
    answer = json(403, REFUSAL, false);
    await expect(post(), 'unsigned, as anyone on the way could answer').rejects.toMatchObject({
      code: 'peer_answer_unsigned',
    });
    answer = proxyRefusal();
    expect(await post()).toMatchObject({ status: 403, body: { error: { code: 'policy_denied' } } });
    const forged: [string, Parameters<typeof proxyRefusal>[0]][] = [
      ["another key under the proxy's key id", { key: newKey('p-campus') }],
      ['a proxy the registry does not list', { key: newKey('p-other'), proxy: 'other-proxy' }],
      ['a refusal kept from another request', { request: bodyDigest('another request') }],
      ['another body than the one signed', { body: '{"error":{"code":"policy_denied","message":"other"}}' }],
    ];
    for (const [what, as] of forged) {
      answer = proxyRefusal(as);
      await expect(post(), what).rejects.toMatchObject({ code: 'peer_answer_forged' });
    }
  });

  it("take no other answer of a proxy's, signed or not, as received", async () => {
    // What came back is told (for the log and the outbox's last error), and taken for nothing else.
    for (const [status, code, told] of [
      [502, 'destination_unreachable', `${DESTINATION} unreachable (proxy: 502 destination_unreachable)`],
      [503, 'not a code\n', `${DESTINATION} unreachable (proxy: 503)`],
      [404, 'unknown_destination', `The answer is not signed by ${DESTINATION} (proxy: 404 unknown_destination)`],
      [400, 'invalid_request', `The answer is not signed by ${DESTINATION} (proxy: 400 invalid_request)`],
    ] as const) {
      answer = json(status, JSON.stringify({ error: { code, message: 'from the proxy' } }), false);
      await expect(post(), code).rejects.toMatchObject({ code: 'peer_answer_unsigned', message: told });
    }
    answer = (res, _sign, request) => {
      const header = signProxyAnswer(proxyKey, { proxy: 'campus-proxy', request, status: 200, body: '{"applied":1}' });
      res.writeHead(200, { 'content-type': 'application/json', [PROXY_ANSWER_HEADER]: header }).end('{"applied":1}');
    };
    await expect(post(), "an ack signed by the proxy is no destination's ack").rejects.toMatchObject({
      code: 'peer_answer_unsigned',
    });
  });

  it("take a proxy's signed refusal for a pair of this organization's only when this registry too keeps it apart", async () => {
    const { policy, domains } = registry;
    registry = { ...registry, policy: [['arts.campus.test', 'eng.campus.test']] };
    try {
      answer = proxyRefusal();
      await expect(post(), 'a pair the registry lets talk').rejects.toMatchObject({ code: 'peer_answer_unfounded' });
      registry = { ...registry, domains: domains.map((d) => (d.name === DESTINATION ? { ...d, partner: true } : d)) };
      expect(await post(), "a partner organization's domain, whose policy only its side knows").toMatchObject({
        status: 403,
        body: { error: { code: 'policy_denied' } },
      });
    } finally {
      registry = { ...registry, policy, domains };
    }
  });

  it('end a file that is not the one signed in an error, before its last byte', async () => {
    answer = (res, sign) => {
      res.writeHead(200, { 'content-type': 'application/pdf', ...sign(200, 'the real file') });
      res.end('a swapped one');
    };
    const served = await transport.postForFile(DESTINATION, '/federation/v1/attachments/x', {});
    const chunks: Buffer[] = [];
    await expect(
      (async () => {
        for await (const chunk of served.file!.content) chunks.push(chunk as Buffer);
      })(),
    ).rejects.toMatchObject({ code: 'peer_answer_forged' });
    expect(Buffer.concat(chunks).toString()).toBe('a swapped on');

    answer = (res) => res.writeHead(200, { 'content-type': 'application/pdf' }).end('an unsigned one');
    await expect(transport.postForFile(DESTINATION, '/federation/v1/attachments/x', {})).rejects.toMatchObject({
      code: 'peer_answer_unsigned',
    });
  });
});
