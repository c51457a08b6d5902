import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { KEYS_MAX_AGE_MS, KEYS_RETRY_MS, UNKNOWN_KEY_SPACING_MS } from '../../node/auth/gateway-keys.ts';
import {
  createTokenVerifier,
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
  TOKEN_CLOCK_SKEW_SECONDS,
  TokenLifetimeError,
  type TokenVerifier,
} from '../../node/auth/token-verifier.ts';

// A stand-in for the gateway's discovery document and key set, which a test can take away (its connections
// then break off, as a gateway that is down or unreachable) and whose keys it can change.
const NODE = 'http://eng.node.test';
const DOMAIN = 'eng.campus.test';
let gateway: Server;
let issuer: string;
let away = false;
let published: JWK[] = [];
let keySetFetches = 0;

type SigningKey = { kid: string; privateKey: CryptoKey; jwk: JWK };
async function signingKey(kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/**
 * An access token for alice on eng, as the gateway issues them, valid an hour from now unless told;
 * `issuedIn`: seconds from now its `iat` says (0), or null for none; `ttlSeconds` null for no `exp`.
 */
function tokenBy(key: SigningKey, ttlSeconds: number | null = 3_600, issuedIn: number | null = 0): Promise<string> {
  const iat = Math.floor(Date.now() / 1000) + (issuedIn ?? 0);
  const token = new SignJWT({
    scope: 'openid im',
    client_id: 'portal',
    preferred_username: 'alice',
    im_domains: [DOMAIN],
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: key.kid })
    .setIssuer(issuer)
    .setAudience(NODE)
    .setSubject('alice-sub');
  if (issuedIn !== null) token.setIssuedAt(iat);
  if (ttlSeconds !== null) token.setExpirationTime(iat + ttlSeconds);
  return token.sign(key.privateKey);
}

let logs: { level: number; msg: string }[] = [];
const warnings = () => logs.filter((l) => l.level === 40).map((l) => l.msg);
const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
let verifier: TokenVerifier;
let k1: SigningKey;
let k2: SigningKey;

beforeAll(async () => {
  gateway = createServer((req, res) => {
    if (away) return void res.socket?.destroy();
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration')
      return void res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    keySetFetches += 1;
    res.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
  [k1, k2] = await Promise.all([signingKey('k1'), signingKey('k2')]);
});
afterAll(() => {
  gateway?.closeAllConnections();
  gateway?.close();
});
// Each test starts with a node that has not fetched the keys yet, the gateway up and publishing k1. Time
// (Date alone: timers run as usual) stands still unless a test moves it.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
  away = false;
  published = [k1.jwk];
  keySetFetches = 0;
  logs = [];
  verifier = createTokenVerifier({ issuer, audience: NODE, domain: DOMAIN, logger });
});
afterEach(() => vi.useRealTimers());
const later = (ms: number) => vi.setSystemTime(Date.now() + ms);

describe('while the gateway cannot be reached', () => {
  it('tokens signed with a key the node holds still verify, long after its key set was due again', async () => {
    expect(await verifier.verify(await tokenBy(k1))).toMatchObject({ address: `alice@${DOMAIN}` });
    away = true;
    later(KEYS_MAX_AGE_MS + 60_000);
    for (let i = 0; i < 3; i += 1) {
      expect(await verifier.verify(await tokenBy(k1))).toMatchObject({ address: `alice@${DOMAIN}` });
      later(KEYS_RETRY_MS);
    }
    // Told once as the outage begins, not at every token or every try.
    expect(warnings()).toEqual([
      "the gateway's signing keys cannot be fetched: verifying tokens with the keys held, until it answers",
    ]);
    away = false;
    later(KEYS_RETRY_MS);
    await verifier.verify(await tokenBy(k1));
    await expect.poll(() => logs.at(-1)?.msg).toBe("the gateway's signing keys were fetched again");
  });

  it('their own expiry still applies', async () => {
    const token = await tokenBy(k1, 60);
    await verifier.verify(token);
    away = true;
    later(120_000);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'token_expired' });
  });

  it("a token signed with a key the node does not hold is refused as the gateway's absence, to retry, never as invalid", async () => {
    await verifier.verify(await tokenBy(k1));
    away = true;
    later(UNKNOWN_KEY_SPACING_MS);
    const rotated = await tokenBy(k2);
    await expect(verifier.verify(rotated)).rejects.toMatchObject({ code: 'gateway_unavailable', status: 503 });
    // Until it may try again the node does not ask, and says the same.
    await expect(verifier.verify(rotated)).rejects.toMatchObject({ code: 'gateway_unavailable', status: 503 });
    expect(warnings()).toHaveLength(1);
  });

  it('a node that never had the keys refuses every token as the gateway absence, and takes them once it answers', async () => {
    away = true;
    const token = await tokenBy(k1);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'gateway_unavailable', status: 503 });
    expect(warnings()).toEqual([
      "the gateway's signing keys cannot be fetched: no token can be verified until it answers",
    ]);
    away = false;
    later(KEYS_RETRY_MS);
    expect(await verifier.verify(token)).toMatchObject({ address: `alice@${DOMAIN}` });
  });
});

describe('a token signed with a key the node holds, but not as the gateway issues them', () => {
  it('is refused as an invalid token when it would last longer than the node accepts, even while the gateway is away', async () => {
    // A retired or leaked key the node still holds through an outage signs whatever expiry it is given.
    await verifier.verify(await tokenBy(k1));
    away = true;
    later(KEYS_MAX_AGE_MS);
    const month = await tokenBy(k1, 30 * 86_400);
    await expect(verifier.verify(month)).rejects.toMatchObject({
      code: 'unauthenticated',
      status: 401,
      message:
        'The access token would last 30 days, longer than this node accepts (24 h, MAX_TOKEN_LIFETIME_SECONDS): the gateway issues none so long; get a new one',
    });
    await expect(verifier.verify(await tokenBy(k1, DEFAULT_MAX_TOKEN_LIFETIME_SECONDS + 1))).rejects.toBeInstanceOf(
      TokenLifetimeError,
    );
    // Up to the limit it verifies, as the gateway's own tokens (an hour by default) do.
    expect(await verifier.verify(await tokenBy(k1, DEFAULT_MAX_TOKEN_LIFETIME_SECONDS))).toMatchObject({
      address: `alice@${DOMAIN}`,
    });
    // The operator hears of it once, not at every such token.
    await expect(verifier.verify(month)).rejects.toBeInstanceOf(TokenLifetimeError);
    expect(warnings().filter((w) => w.startsWith('Refused access tokens signed with a key'))).toHaveLength(1);
  });

  it('is refused when it says it was issued in the future beyond the clock skew, or says not when it was issued or expires', async () => {
    expect(await verifier.verify(await tokenBy(k1, 3_600, TOKEN_CLOCK_SKEW_SECONDS))).toMatchObject({
      address: `alice@${DOMAIN}`,
    });
    await expect(verifier.verify(await tokenBy(k1, 3_600, 3_600))).rejects.toMatchObject({
      code: 'unauthenticated',
      message: expect.stringContaining('says it was issued 60 min from now'),
    });
    for (const token of [await tokenBy(k1, null), await tokenBy(k1, 3_600, null)])
      await expect(verifier.verify(token)).rejects.toMatchObject({
        code: 'unauthenticated',
        message: 'The access token does not say when it was issued and when it expires (iat, exp)',
      });
  });

  it('is refused by a node told a shorter limit', async () => {
    const strict = createTokenVerifier({ issuer, audience: NODE, domain: DOMAIN, logger, maxLifetimeSeconds: 7_200 });
    expect(await strict.verify(await tokenBy(k1, 7_200))).toMatchObject({ address: `alice@${DOMAIN}` });
    await expect(strict.verify(await tokenBy(k1, 3 * 3_600))).rejects.toMatchObject({
      message: expect.stringContaining(
        'would last 3 h, longer than this node accepts (2 h, MAX_TOKEN_LIFETIME_SECONDS)',
      ),
    });
  });
});

describe("the gateway's key rotations", () => {
  it('a token naming a key the node does not hold yet has the set fetched again', async () => {
    await verifier.verify(await tokenBy(k1));
    published = [k2.jwk, k1.jwk];
    later(UNKNOWN_KEY_SPACING_MS);
    expect(await verifier.verify(await tokenBy(k2))).toMatchObject({ address: `alice@${DOMAIN}` });
    expect(await verifier.verify(await tokenBy(k1))).toMatchObject({ address: `alice@${DOMAIN}` });
    expect(keySetFetches).toBe(2);
  });

  it('one that comes just after a fetch waits for the next rather than being refused', async () => {
    await verifier.verify(await tokenBy(k1));
    published = [k2.jwk, k1.jwk];
    // 20 ms before the next fetch may go.
    later(UNKNOWN_KEY_SPACING_MS - 20);
    expect(await verifier.verify(await tokenBy(k2))).toMatchObject({ address: `alice@${DOMAIN}` });
    expect(keySetFetches).toBe(2);
  });

  it('a key of no set is refused as invalid, the gateway asked about such keys at most once a second', async () => {
    await verifier.verify(await tokenBy(k1));
    const forged = await tokenBy(await signingKey('made-up'));
    later(UNKNOWN_KEY_SPACING_MS - 20);
    // Together: one fetch, once the spacing since the last has passed.
    const refusals = Array.from({ length: 5 }, () => verifier.verify(forged));
    for (const refused of refusals)
      await expect(refused).rejects.toMatchObject({ code: 'unauthenticated', status: 401 });
    expect(keySetFetches).toBe(2);
    later(UNKNOWN_KEY_SPACING_MS);
    await expect(verifier.verify(forged)).rejects.toMatchObject({ code: 'unauthenticated' });
    expect(keySetFetches).toBe(3);
  });

  it('a key the gateway dropped stops verifying once the set is due again and the gateway answers', async () => {
    await verifier.verify(await tokenBy(k1));
    published = [k2.jwk];
    later(KEYS_MAX_AGE_MS);
    // The set is fetched again in the background; the held one serves meanwhile.
    const refused = async () => {
      later(UNKNOWN_KEY_SPACING_MS);
      return verifier.verify(await tokenBy(k1)).then(
        () => 'verified',
        (error: { code: string }) => error.code,
      );
    };
    await expect.poll(refused).toBe('unauthenticated');
    expect(await verifier.verify(await tokenBy(k2))).toMatchObject({ address: `alice@${DOMAIN}` });
  });
});
