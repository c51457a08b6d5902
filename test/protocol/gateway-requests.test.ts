import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { REPEAT_WARNING_MS } from '../../core/lasting-warnings.ts';
import { createDomainStanding } from '../../node/auth/domain-standing.ts';
import type { EndedAccess } from '../../node/auth/ended-access.ts';
import { createEndedAccessPoller } from '../../node/auth/ended-access-poller.ts';
import type { Logger } from '../../core/logger.ts';
import type { Identity } from '../../node/auth/token-verifier.ts';
import { createAppDirectory } from '../../node/bots/app-directory.ts';
import { createBotReach } from '../../node/bots/bot-reach.ts';
import { tokenClientActive } from '../../node/bots/token-client-active.ts';
import type { Connection } from '../../node/ws/registry.ts';
import { clientCheck } from '../../node/ws/socket-server.ts';
import { createRegistryClient, REGISTRY_RETRY_MS } from '../../protocol/registry-client.ts';
import { signedGatewayRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';
import { freePort, unusedUrls } from '../helpers/ports.ts';

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
    res.end(JSON.stringify(answerOf(req.url ?? '')));
  });
  refusingUrl = await listen(refusing);
});
afterAll(() => {
  elsewhere?.close();
  gateway?.close();
  refusing?.close();
});
afterEach(() => vi.useRealTimers());

/** What the stand-in gateway answers a node it takes: its registry, the ended sessions, and what it asks about apps. */
function answerOf(url: string): unknown {
  if (url.startsWith('/federation/v1/registry')) return { version: '1', domains: [], policy: [], proxies: [] };
  if (url.startsWith('/federation/v1/clients/')) return { client: { clientId: 'c', active: true } };
  if (/^\/federation\/v1\/apps\/[^/]+\/people\//.test(url)) return { person: { username: 'alice', appIsFor: true } };
  if (url.startsWith('/federation/v1/apps/')) {
    const slug = url.split('/')[4]!;
    return { app: { slug, name: slug, clientId: `client-${slug}`, botEnabled: true, disabled: false } };
  }
  return { entries: [], cursor: 0, more: false };
}

/**
 * A node's questions about apps, as it asks them at every use while the gateway cannot answer: apps behind
 * bot addresses, clients of people's tokens, whom an app is for, and the regular check of its sockets'
 * apps (a bot socket's among them), each for many apps, clients and people.
 */
function appQuestions(gatewayIssuer: string, logger: Logger, now: () => number) {
  const key = newKey();
  const asker = { gatewayIssuer, origin: 'eng.campus.test', signingKey: async () => key };
  const directory = createAppDirectory({ ...asker, ttlMs: 1_000, logger });
  const reach = createBotReach({ ...asker, ttlMs: 1_000, logger, now });
  const check = clientCheck(tokenClientActive(directory), logger);
  const closed: string[] = [];
  const socket = (identity: Identity) =>
    ({ identity, socket: { close: () => closed.push(identity.address) } }) as unknown as Connection;
  const sockets = [
    socket({
      kind: 'app',
      clientId: 'client-rooms',
      slug: 'rooms',
      name: 'Rooms',
      address: 'rooms@eng.campus.test',
      expiresAt: 0,
    }),
    socket({
      kind: 'user',
      sub: 's',
      username: 'alice',
      name: 'Alice',
      address: 'alice@eng.campus.test',
      sid: null,
      clientId: 'portal',
      expiresAt: 0,
    }),
  ];
  return {
    closed,
    /** Asks each question of several apps, clients and people, as a busy node does. */
    async askAll(round: number): Promise<unknown[]> {
      const answers: Promise<unknown>[] = [];
      for (let i = 0; i < 5; i += 1) {
        answers.push(directory.get(`app-${round}-${i}`), directory.clientActive(`client-${round}-${i}`));
        answers.push(reach.isFor('rooms', `person-${round}-${i}`));
      }
      const settled = await Promise.allSettled(answers);
      await check(sockets, true);
      return settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as { code?: string }).code));
    },
  };
}

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

describe('a unit whose key the gateway takes a moment after refusing it', () => {
  it('gets the registry at its next use, since it holds no copy to serve meanwhile', async () => {
    const logger = pino({ level: 'silent' });
    const key = newKey();
    const registry = createRegistryClient({
      gatewayIssuer: refusingUrl,
      origin: 'eng.campus.test',
      signingKey: async () => key,
      ttlMs: 30_000,
      logger,
    });
    pinned = false;
    await expect(registry.get()).rejects.toMatchObject({ code: 'registry_unavailable' });
    // Pinned (`atrium domains pin`, or the demo registering its proxy) right after: no second of waiting.
    pinned = true;
    await expect(registry.get()).resolves.toMatchObject({ version: '1' });
  });
});

describe('a node whose keys the gateway has not pinned, asking about apps', () => {
  it('says what to do once for all its questions and sockets, not once per app, client or socket', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const logs: { level: number; msg: string; err?: unknown }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const questions = appQuestions(refusingUrl, logger, Date.now);
    const told =
      "This node's keys are not pinned at the gateway: run `atrium domains pin eng.campus.test` (the gateway answers HTTP 401 unknown_key)";
    const unchecked =
      "Some open sockets' apps cannot be checked (the gateway cannot say whether they are still enabled): those sockets stay open until it can";

    pinned = false;
    for (let round = 0; round < 3; round += 1) {
      // Apps and whom they are for: a retry later; a person's client: still active until the gateway says.
      const answers = await questions.askAll(round);
      expect(answers.slice(0, 3)).toEqual(['gateway_unavailable', true, 'gateway_unavailable']);
      vi.setSystemTime(Date.now() + 30_000);
    }
    const warned = logs.filter((l) => l.level >= 40);
    expect(warned.map((l) => [l.msg, l.err])).toEqual([
      [told, undefined],
      [unchecked, undefined],
    ]);
    expect(questions.closed).toEqual([]);

    pinned = true;
    await questions.askAll(3);
    expect(logs.filter((l) => l.level >= 40)).toHaveLength(2);
    expect(logs.filter((l) => l.level === 30).map((l) => l.msg)).toEqual([
      "The gateway takes this unit's requests again",
      'The apps of open sockets are checked again',
    ]);
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

describe('a node whose gateway is away, asking about apps', () => {
  it('says it once for all its questions and sockets, again every few minutes, and once as it ends', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const logs: { level: number; msg: string; err?: unknown }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const port = await freePort();
    const questions = appQuestions(`http://127.0.0.1:${port}`, logger, Date.now);
    const warned = () => logs.filter((l) => l.level >= 40).map((l) => [l.msg, l.err]);
    const away = [
      expect.stringMatching(/^The gateway cannot be reached \(fetch failed: connect ECONNREFUSED /),
      undefined,
    ];
    const unchecked = [expect.stringMatching(/^Some open sockets' apps cannot be checked/), undefined];

    for (let round = 0; round < 3; round += 1) {
      expect((await questions.askAll(round)).slice(0, 3)).toEqual(['gateway_unavailable', true, 'gateway_unavailable']);
      vi.setSystemTime(Date.now() + 30_000);
    }
    expect(warned()).toEqual([away, unchecked]);
    vi.setSystemTime(Date.now() + REPEAT_WARNING_MS);
    await questions.askAll(3);
    expect(warned()).toEqual([away, unchecked, away, unchecked]);

    // Back: said once, and the sockets' apps are checked again.
    pinned = true;
    const back = createServer((req, res) =>
      res.setHeader('content-type', 'application/json').end(JSON.stringify(answerOf(req.url ?? ''))),
    );
    await new Promise<void>((resolve) => back.listen(port, '127.0.0.1', resolve));
    try {
      expect((await questions.askAll(4)).slice(0, 3)).toEqual([
        expect.objectContaining({ slug: 'app-4-0' }),
        true,
        true,
      ]);
    } finally {
      back.close();
    }
    expect(warned()).toHaveLength(4);
    expect(logs.filter((l) => l.level === 30).map((l) => l.msg)).toEqual([
      'The gateway answers app lookups again',
      'The apps of open sockets are checked again',
    ]);
    expect(questions.closed).toEqual([]);
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
