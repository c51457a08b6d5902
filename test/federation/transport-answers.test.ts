import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ANSWER_MAX_BYTES, createTransport, type Transport } from '../../node/federation/transport.ts';
import type { PrivateKeyJwk } from '../../protocol/signature.ts';
import type { RegistryClient } from '../../protocol/registry-client.ts';

// Another domain's node (reached as the proxy would be) that answers as each test tells it.
let peer: Server;
let answer: (res: ServerResponse) => void = (res) => res.end('{}');
let transport: Transport;

beforeAll(async () => {
  peer = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(res));
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  const key: PrivateKeyJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: 'k-test' };
  transport = createTransport({
    origin: 'eng.campus.test',
    proxyUrl: `http://127.0.0.1:${(peer.address() as AddressInfo).port}`,
    registry: {} as RegistryClient,
    signingKey: async () => key,
  });
});
afterAll(() => {
  peer?.closeAllConnections();
  peer?.close();
});

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
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"within":"limits"}');
    expect(await transport.post('arts.campus.test', '/federation/v1/hello', {})).toEqual({
      status: 200,
      body: { within: 'limits' },
    });
  });

  it('pass a file on as it arrives rather than holding all of it first', async () => {
    let finish!: () => void;
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': '10' });
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
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
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
