import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestClock } from '../../core/clock.ts';
import { createMovedPeers } from '../../node/conversations/moved-peers.ts';
import { directIdentity } from '../../node/conversations/open-direct.ts';
import type { RegistryClient } from '../../protocol/registry-client.ts';

/*
 * The check a send makes before it goes into a direct conversation (recipient_moved), against a stand-in
 * for the gateway's directory that counts what it is asked.
 */
let gateway: Server;
let asked = 0;
let issuer: string;

beforeAll(async () => {
  gateway = createServer((req, res) => {
    asked += 1;
    const usernames = new URL(req.url ?? '/', 'http://x').searchParams.get('usernames') ?? '';
    // A moment's delay, as a real lookup has: sends side by side arrive while it is under way.
    setTimeout(() => {
      const address = `${usernames}@eng.campus.test`;
      const people = [{ name: usernames, username: usernames, address, addresses: [address], units: [] }];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ people }));
    }, 50);
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => gateway?.close(resolve)));

describe('the moved-peer check of a send', () => {
  it('asks the directory once for many sends side by side to one peer, and not again within a minute', async () => {
    const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
    const signingKey = async () => ({ kty: 'OKP' as const, crv: 'Ed25519' as const, x: jwk.x, d: jwk.d, kid: 'k1' });
    const clock = createTestClock();
    const registry = { get: async () => ({ domains: [] }) } as unknown as RegistryClient;
    const moved = createMovedPeers({
      directory: { domain: 'eng.campus.test', gatewayIssuer: issuer, signingKey },
      federation: { policy: { registry } },
      clock,
    });
    const [alice, bob] = ['alice@eng.campus.test', 'bob@eng.campus.test'];
    const { id } = directIdentity(alice, bob);
    const members = new Set([alice, bob]);
    await Promise.all(Array.from({ length: 20 }, () => moved.refuseIfMoved(id, members, alice)));
    expect(asked).toBe(1);
    expect(moved.refuseIfMoved(id, members, alice)).toBeUndefined();
    clock.advance(61_000);
    await Promise.all(Array.from({ length: 5 }, () => moved.refuseIfMoved(id, members, alice)));
    expect(asked).toBe(2);
  });
});
