import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KEYS_MAX_AGE_MS, KEYS_RETRY_MS } from '../../node/auth/gateway-keys.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { startNode, type DomainNode } from '../../node/main.ts';
import { createTestClock } from '../../core/clock.ts';
import { operator } from '../../gateway/context.ts';
import { updateDomain } from '../../gateway/domains/domains.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { addPerson, ARTS_NODE, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { ENG_AND_ARTS_UNITS, fetchMe, login, startTestNodeOn } from '../helpers/node.ts';
import { freePort } from '../helpers/ports.ts';

/*
 * An operator sets a node up with a gateway issuer or a public URL spelt otherwise than the gateway has them,
 * or with a gateway that does not answer: the node says so in its log and on /readyz, instead of refusing
 * everyone in silence while it says it is ready.
 */
type LogLine = { level: number; msg: string; expected?: string; received?: string; setting?: string };
let logs: LogLine[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
const refusals = () => logs.filter((l) => l.level === 40 && l.msg.startsWith('Refused access tokens signed'));

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  logs = [];
});
afterAll(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** A node of `domain` over a database of its own, logging to `logs`, stopped after the test. */
async function nodeOf(gateway: TestGateway, domain: string, env: Record<string, string>): Promise<DomainNode> {
  const db = await createTestDatabase(domain.split('.')[0]!);
  stops.push(() => db.drop());
  const node = await startTestNodeOn(gateway, domain, db, env, { logger });
  stops.push(() => node.close());
  return node;
}

async function readiness(node: DomainNode): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.localUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('a node whose settings name the gateway or itself otherwise than the gateway does', () => {
  it('tells the operator once which GATEWAY_ISSUER the tokens need, and tells clients no more than before', async () => {
    const gateway = await startTestGateway('node-issuer-spelling');
    stops.push(() => gateway.stop());
    // The same gateway, spelt otherwise: the node reaches it and fetches its keys, but its tokens name localhost.
    const misspelt = gateway.issuer.replace('//localhost:', '//127.0.0.1:');
    expect(misspelt).not.toBe(gateway.issuer);
    const eng = await nodeOf(gateway, 'eng.campus.test', { GATEWAY_ISSUER: misspelt });
    const alice = await login(gateway, 'alice');

    const refused = await fetchMe(eng, await alice.tokenFor(eng.url));
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({
      error: { code: 'unauthenticated', message: 'The access token is not valid for this node' },
    });
    for (let i = 0; i < 3; i += 1) expect((await fetchMe(eng, await alice.tokenFor(eng.url))).status).toBe(401);
    expect(refusals()).toEqual([
      expect.objectContaining({ expected: misspelt, received: gateway.issuer, setting: 'GATEWAY_ISSUER' }),
    ]);
    expect(refusals()[0]!.msg).toBe(
      `Refused access tokens signed with a key of the gateway's but issued by ${gateway.issuer}, while this node expects ${misspelt} (GATEWAY_ISSUER): set GATEWAY_ISSUER to the gateway's issuer exactly as the gateway spells it`,
    );
  });

  it('tells the operator once which URL the tokens are for when NODE_PUBLIC_URL is not the one registered, and the client which node its token was for', async () => {
    const gateway = await startTestGateway('node-audience-spelling');
    stops.push(() => gateway.stop());
    await addPerson(gateway, 'mia', { units: ENG_AND_ARTS_UNITS });
    // The gateway has arts at ARTS_NODE (as seeded), and issues its tokens for that URL.
    const arts = await nodeOf(gateway, 'arts.campus.test', { NODE_PUBLIC_URL: 'http://chat.arts.campus.test' });
    const mia = await login(gateway, 'mia');

    // The client is told which node its token was for, and which resource this node takes.
    for (let i = 0; i < 3; i += 1) {
      const refused = await fetchMe(arts, await mia.tokenFor(ARTS_NODE));
      expect(await refused.json()).toEqual({
        error: {
          code: 'unauthenticated',
          message: `The access token was issued for ${ARTS_NODE}, not this node: ask the gateway for one with resource=http://chat.arts.campus.test`,
        },
      });
    }
    expect(refusals()).toEqual([
      expect.objectContaining({
        expected: 'http://chat.arts.campus.test',
        received: ARTS_NODE,
        setting: 'NODE_PUBLIC_URL',
        msg: expect.stringContaining(
          "set NODE_PUBLIC_URL to it, or give the gateway this node's URL (atrium domains update arts.campus.test --url http://chat.arts.campus.test)",
        ),
      }),
    ]);
  });
});

describe("/readyz's gateway check", () => {
  it('fails while the node never held the gateway keys, passes once the gateway answers, and keeps passing through an outage', async () => {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const db: TestDatabase = await createTestDatabase('eng');
    stops.push(() => db.drop());
    const config = loadNodeConfig({
      NODE_DOMAIN: 'eng.campus.test',
      NODE_PORT: '0',
      NODE_HOST: '127.0.0.1',
      GATEWAY_ISSUER: issuer,
      ATRIUM_DATA_DIR: db.dataDir,
      ...(db.url ? { DATABASE_URL: db.url } : {}),
    });
    const clock = createTestClock();
    const eng = await startNode(config, { migrate: true, clock, logger });
    stops.push(() => eng.close());

    expect(await readiness(eng)).toEqual({
      status: 503,
      body: {
        status: 'not_ready',
        checks: { database: true, domain: true, gateway: false },
        reason: expect.stringMatching(
          `^The gateway's signing keys cannot be fetched from ${issuer} \\(GATEWAY_ISSUER\\), so this node can verify no token until they can: ${issuer}/\\.well-known/openid-configuration cannot be reached \\(fetch failed: .*ECONNREFUSED.*\\)$`,
        ),
      },
    });

    const gateway = await startTestGateway('node-readyz-gateway', { GATEWAY_PORT: String(port) });
    let gatewayUp = true;
    stops.push(async () => {
      if (gatewayUp) await gateway.stop();
    });
    expect(gateway.issuer).toBe(issuer);
    // The node asks again no sooner than KEYS_RETRY_MS after its last try.
    clock.advance(KEYS_RETRY_MS);
    expect(await readiness(eng)).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: true, domain: true, gateway: true } },
    });

    // Gone again, the gateway leaves the node its keys: tokens signed with them still verify, so it stays ready.
    await gateway.stop();
    gatewayUp = false;
    clock.advance(KEYS_MAX_AGE_MS + KEYS_RETRY_MS);
    for (let i = 0; i < 2; i += 1) {
      expect((await readiness(eng)).status).toBe(200);
      clock.advance(KEYS_RETRY_MS);
    }
  });
});

/** A node of eng told GATEWAY_ISSUER `issuer`, on a test clock, while nothing may answer there yet. */
async function nodeTold(issuer: string): Promise<{ eng: DomainNode; clock: ReturnType<typeof createTestClock> }> {
  const db: TestDatabase = await createTestDatabase('eng');
  stops.push(() => db.drop());
  const config = loadNodeConfig({
    NODE_DOMAIN: 'eng.campus.test',
    NODE_PORT: '0',
    NODE_HOST: '127.0.0.1',
    GATEWAY_ISSUER: issuer,
    ATRIUM_DATA_DIR: db.dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
  });
  const clock = createTestClock();
  const eng = await startNode(config, { migrate: true, clock, logger });
  stops.push(() => eng.close());
  return { eng, clock };
}

describe("/readyz's gateway check, with a GATEWAY_ISSUER that is not the gateway's issuer", () => {
  it('fails naming the issuer the gateway calls itself, while the gateway there answers under another name', async () => {
    const gateway = await startTestGateway('node-readyz-misnamed');
    stops.push(() => gateway.stop());
    const misspelt = gateway.issuer.replace('//localhost:', '//127.0.0.1:');
    const eng = await nodeOf(gateway, 'eng.campus.test', { GATEWAY_ISSUER: misspelt });

    const reason = `The gateway at ${misspelt} (GATEWAY_ISSUER) calls itself ${gateway.issuer} (its discovery document's issuer): its tokens name ${gateway.issuer}, so this node refuses every one of them; set GATEWAY_ISSUER to ${gateway.issuer} if that is this campus's gateway`;
    expect(await readiness(eng)).toEqual({
      status: 503,
      body: { status: 'not_ready', checks: { database: true, domain: true, gateway: false }, reason },
    });
    // Said at start, once, however often /readyz asks.
    expect((await readiness(eng)).status).toBe(503);
    expect(logs.filter((l) => l.msg === reason)).toEqual([
      expect.objectContaining({ level: 40, expected: misspelt, received: gateway.issuer, setting: 'GATEWAY_ISSUER' }),
    ]);
  });

  it('fails saying what answered instead, for an issuer with a path the gateway does not have', async () => {
    const gateway = await startTestGateway('node-readyz-path');
    stops.push(() => gateway.stop());
    const wrong = `${gateway.issuer}/oidc`;
    const eng = await nodeOf(gateway, 'eng.campus.test', { GATEWAY_ISSUER: wrong });

    expect(await readiness(eng)).toEqual({
      status: 503,
      body: {
        status: 'not_ready',
        checks: { database: true, domain: true, gateway: false },
        reason: `The gateway's signing keys cannot be fetched from ${wrong} (GATEWAY_ISSUER), so this node can verify no token until they can: ${wrong}/.well-known/openid-configuration answered HTTP 404, not the gateway's OpenID discovery document`,
      },
    });
  });

  it('fails naming where an issuer that redirects sends the node, which it does not follow', async () => {
    const elsewhere = createServer((_req, res) =>
      res.writeHead(301, { location: 'https://gateway.campus.test/.well-known/openid-configuration' }).end(),
    );
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise((resolve) => elsewhere.close(() => resolve())));
    const issuer = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    const { eng } = await nodeTold(issuer);

    expect((await readiness(eng)).body.reason).toBe(
      `The gateway's signing keys cannot be fetched from ${issuer} (GATEWAY_ISSUER), so this node can verify no token until they can: ${issuer}/.well-known/openid-configuration answered HTTP 301, a redirect to https://gateway.campus.test/.well-known/openid-configuration: GATEWAY_ISSUER must be the gateway's issuer itself`,
    );
  });

  it("turns ready without a restart once the gateway there is set to the node's GATEWAY_ISSUER", async () => {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const named = `http://127.0.0.1:${port}`;
    // The gateway set up with another issuer than the nodes were told: it answers, and its tokens name that one.
    const before = await startTestGateway('node-readyz-renamed', { GATEWAY_PORT: String(port), ATRIUM_ISSUER: named });
    let beforeUp = true;
    stops.push(async () => {
      if (beforeUp) await before.stop();
    });
    const { eng, clock } = await nodeTold(issuer);
    expect(await readiness(eng)).toMatchObject({
      status: 503,
      body: { reason: expect.stringContaining(`calls itself ${named}`) },
    });

    await before.stop();
    beforeUp = false;
    const after = await startTestGateway('node-readyz-renamed-2', { GATEWAY_PORT: String(port) });
    stops.push(() => after.stop());
    expect(after.issuer).toBe(issuer);
    // Asked again no sooner than KEYS_RETRY_MS after the last try.
    expect((await readiness(eng)).status).toBe(503);
    clock.advance(KEYS_RETRY_MS);
    expect(await readiness(eng)).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: true, domain: true, gateway: true } },
    });
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 30, msg: `the gateway at ${issuer} calls itself ${issuer} now` }),
    );
    // People's tokens verify there now.
    await updateDomain({ ...after.context(null), actor: operator('test') }, 'eng.campus.test', { url: eng.url });
    const alice = await login(after, 'alice');
    expect((await fetchMe(eng, await alice.tokenFor(eng.url))).status).toBe(200);
  });

  it('stays ready through an outage after the keys were fetched, and through a gateway that answers HTTP 404 meanwhile', async () => {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const gateway = await startTestGateway('node-readyz-blip', { GATEWAY_PORT: String(port) });
    let up = true;
    stops.push(async () => {
      if (up) await gateway.stop();
    });
    const { eng, clock } = await nodeTold(issuer);
    expect((await readiness(eng)).status).toBe(200);
    await gateway.stop();
    up = false;
    // Something else on the gateway's port for a while (a maintenance page): the node keeps its keys.
    const standIn = createServer((_req, res) => res.writeHead(404).end('maintenance'));
    await new Promise<void>((resolve) => standIn.listen(port, '127.0.0.1', resolve));
    stops.push(() => new Promise((resolve) => standIn.close(() => resolve())));
    clock.advance(KEYS_MAX_AGE_MS);
    for (let i = 0; i < 3; i += 1) {
      expect((await readiness(eng)).status).toBe(200);
      clock.advance(KEYS_RETRY_MS);
    }
    await expect
      .poll(() => logs.some((l) => l.level === 40 && /verifying tokens with the keys held/.test(l.msg)))
      .toBe(true);
  });
});
