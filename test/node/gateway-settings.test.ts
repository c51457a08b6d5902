import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KEYS_MAX_AGE_MS, KEYS_RETRY_MS } from '../../node/auth/gateway-keys.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { startNode, type DomainNode } from '../../node/main.ts';
import { createTestClock } from '../../core/clock.ts';
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

  it('tells the operator once which URL the tokens are for when NODE_PUBLIC_URL is not the one registered', async () => {
    const gateway = await startTestGateway('node-audience-spelling');
    stops.push(() => gateway.stop());
    await addPerson(gateway, 'mia', { units: ENG_AND_ARTS_UNITS });
    // The gateway has arts at ARTS_NODE (as seeded), and issues its tokens for that URL.
    const arts = await nodeOf(gateway, 'arts.campus.test', { NODE_PUBLIC_URL: 'http://chat.arts.campus.test' });
    const mia = await login(gateway, 'mia');

    for (let i = 0; i < 3; i += 1) {
      const refused = await fetchMe(arts, await mia.tokenFor(ARTS_NODE));
      expect(await refused.json()).toEqual({
        error: { code: 'unauthenticated', message: 'The access token is not valid for this node' },
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
        reason: `The gateway's signing keys cannot be fetched from ${issuer} (GATEWAY_ISSUER): this node can verify no token until it answers`,
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
