import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedGatewayRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';

let elsewhere: Server;
let gateway: Server;
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
});
afterAll(() => {
  elsewhere?.close();
  gateway?.close();
});

describe("a node's signed request to its gateway", () => {
  it('follows no redirect: the signed request goes to no other address', async () => {
    const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
    const key: PrivateKeyJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: 'k1' };
    const asker = { gatewayIssuer: await listen(gateway), origin: 'eng.campus.test', signingKey: async () => key };
    await expect(fetch(await signedGatewayRequest(asker, 'GET', '/federation/v1/ended-access'))).rejects.toThrow();
    await expect(fetch(await signedGatewayRequest(asker, 'POST', '/federation/v1/repin'))).rejects.toThrow();
    expect(reached).toEqual([]);
  });
});
