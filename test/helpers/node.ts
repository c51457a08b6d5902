import * as client from 'openid-client';
import { loadNodeConfig } from '../../node/config.ts';
import { startNode, type DomainNode } from '../../node/main.ts';
import type { Logger } from '../../core/logger.ts';
import { createTestClock, type TestClock } from '../../core/clock.ts';
import { AtriumClient } from '../../sdk/client.ts';
import { listDomains, updateDomain } from '../../gateway/domains/domains.ts';
import { operator } from '../../gateway/context.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { addPerson, registerTestApp, startTestGateway, type TestGateway } from './gateway.ts';
import { codeFlow, discover } from './rp.ts';
import type { BrowserAgent } from './browser-agent.ts';

/** `clock`: the node's, which runs with the machine's until a test moves it forward. */
export type TestNode = DomainNode & { db: TestDatabase; clock: TestClock; stop(): Promise<void> };

/**
 * A domain node on a free port over its own database, registered at the gateway under its real URL and,
 * unless `pinned: false`, with its keys pinned there: a node asks the gateway's directory (a signed
 * request) whether an address exists before it opens a conversation with it.
 */
export async function startTestNode(
  gateway: TestGateway,
  domain: string,
  env: Record<string, string> = {},
  options: { pinned?: boolean } = {},
): Promise<TestNode> {
  const db = await createTestDatabase(domain.split('.')[0]!);
  const node = await startTestNodeOn(gateway, domain, db, env);
  if (options.pinned !== false) await pinDomainKeys({ ...gateway.context(null), actor: operator('test') }, domain);
  return Object.assign(node, {
    db,
    async stop() {
      await node.close();
      await db.drop();
    },
  });
}

/** The units of a student of both colleges: someone with a home on eng.campus.test and on arts.campus.test. */
export const ENG_AND_ARTS_UNITS = ['campus/eng/cs', 'campus/arts/music'];

/** What startEngAndArts started; `stop` stops the nodes, then the gateway. */
export type EngAndArts = { gateway: TestGateway; eng: TestNode; arts: TestNode; stop(): Promise<void> };

/**
 * A gateway with the eng.campus.test and arts.campus.test nodes (`engEnv` and `artsEnv` over each one's
 * usual settings), and `people`: students of both colleges (ENG_AND_ARTS_UNITS) with the demo password.
 */
export async function startEngAndArts(
  label: string,
  options: { people: string[]; engEnv?: Record<string, string>; artsEnv?: Record<string, string> },
): Promise<EngAndArts> {
  const gateway = await startTestGateway(label);
  const nodes: TestNode[] = [];
  const stop = async () => {
    for (const node of nodes) await node.stop();
    await gateway.stop();
  };
  try {
    nodes.push(await startTestNode(gateway, 'eng.campus.test', options.engEnv));
    nodes.push(await startTestNode(gateway, 'arts.campus.test', options.artsEnv));
    for (const username of options.people) await addPerson(gateway, username, { units: ENG_AND_ARTS_UNITS });
  } catch (error) {
    await stop();
    throw error;
  }
  return { gateway, eng: nodes[0]!, arts: nodes[1]!, stop };
}

/** What a node's /api/v1/me answers a bearer `token`: the plainest sign of whether the node takes it. */
export const fetchMe = (node: DomainNode, token: string) =>
  fetch(`${node.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });

/**
 * Another process of the same domain (same database), for multi-process tests; `logger` to read what it logs;
 * `clock` to start it with one a test moved already (a fresh one, with the machine's time, by default).
 */
export async function startTestNodeOn(
  gateway: TestGateway,
  domain: string,
  db: TestDatabase,
  env: Record<string, string> = {},
  options: { logger?: Logger; clock?: TestClock } = {},
): Promise<DomainNode & { clock: TestClock }> {
  const config = loadNodeConfig({
    NODE_DOMAIN: domain,
    NODE_PORT: '0',
    NODE_HOST: '127.0.0.1',
    GATEWAY_ISSUER: gateway.issuer,
    ATRIUM_DATA_DIR: db.dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    LOG_LEVEL: 'silent',
    ...env,
  });
  const clock = options.clock ?? createTestClock();
  const node = Object.assign(await startNode(config, { migrate: true, clock, logger: options.logger }), { clock });
  if (!env.NODE_PUBLIC_URL) {
    await updateDomain({ ...gateway.context(null), actor: operator('test') }, domain, { url: node.url });
  }
  return node;
}

const REDIRECT = 'http://localhost:9/portal-cb';
const portals = new WeakMap<TestGateway, Promise<client.Configuration>>();

/** A first-party "portal" client at the gateway, as the web page will be. */
export function portalClient(gateway: TestGateway): Promise<client.Configuration> {
  let portal = portals.get(gateway);
  if (!portal) {
    portal = registerTestApp(gateway, { name: 'Test portal', redirectUris: [REDIRECT], firstParty: true }).then((app) =>
      discover(gateway.issuer, app.clientId, app.clientSecret),
    );
    portals.set(gateway, portal);
  }
  return portal;
}

export type Login = {
  refreshToken: string;
  idToken: string;
  agent: BrowserAgent;
  tokenFor(nodeUrl: string): Promise<string>;
};

/** Signs a demo user in through the gateway's forms; node tokens then come from the refresh token. */
export async function login(gateway: TestGateway, username: string, password?: string): Promise<Login> {
  const portal = await portalClient(gateway);
  // The portal asks for chat on every registered domain node; each node still admits only its own members.
  const nodes = (await listDomains(gateway.context(null))).map((d) => d.url);
  const { tokens, agent } = await codeFlow(
    portal,
    REDIRECT,
    username,
    { scope: 'openid profile atrium im offline_access', prompt: 'consent', resource: nodes },
    undefined,
    password,
  );
  let refreshToken = tokens.refresh_token!;
  // Refresh tokens rotate, so token requests of one login take turns.
  let turn: Promise<unknown> = Promise.resolve();
  return {
    refreshToken,
    idToken: tokens.id_token!,
    agent,
    tokenFor(nodeUrl) {
      const next = turn.then(async () => {
        const result = await client.refreshTokenGrant(portal, refreshToken, { resource: nodeUrl });
        refreshToken = result.refresh_token ?? refreshToken;
        return result.access_token;
      });
      turn = next.catch(() => undefined);
      return next;
    },
  };
}

/** A connected SDK client for a user on a node. */
export async function connectAs(
  gateway: TestGateway,
  node: DomainNode,
  username: string,
  who?: Login,
): Promise<AtriumClient & { login: Login }> {
  const session = who ?? (await login(gateway, username));
  const sdk = new AtriumClient({
    url: `${node.localUrl.replace(/^http/, 'ws')}/ws`,
    token: () => session.tokenFor(node.url),
    backoff: { initialMs: 50, maxMs: 500 },
  });
  await sdk.connect();
  return Object.assign(sdk, { login: session });
}
