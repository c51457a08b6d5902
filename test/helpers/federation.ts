import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { connectAs, login, startTestNodeOn, type Login, type TestNode } from './node.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { freePort } from './ports.ts';
import { loadProxyConfig } from '../../proxy/config.ts';
import { startProxy, type Proxy } from '../../proxy/main.ts';
import { createTestClock, type TestClock } from '../../core/clock.ts';
import { operator } from '../../gateway/context.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { addDomain, updateDomain } from '../../gateway/domains/domains.ts';
import { addProxy, allowPair } from '../../gateway/federation/policy.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import type { DomainNode } from '../../node/main.ts';
import type { Message } from '../../sdk/client.ts';
import { signRequest } from '../../protocol/signature.ts';

export { freePort };

export type Campus = {
  gateway: TestGateway;
  proxy: Proxy;
  nodes: Record<'eng' | 'arts' | 'law', CampusNode>;
  restartNode(name: 'eng' | 'arts' | 'law'): Promise<CampusNode>;
  /** Moves every node's and the proxy's clock forward (past their registry caches, say) rather than waiting. */
  advanceClocks(ms: number): void;
  stopNode(name: 'eng' | 'arts' | 'law'): Promise<void>;
  restartProxy(): Promise<Proxy>;
  stopProxy(): Promise<void>;
  stop(): Promise<void>;
};

type CampusNode = DomainNode & { clock: TestClock };

const DOMAINS = { eng: 'eng.campus.test', arts: 'arts.campus.test', law: 'law.campus.test' } as const;

/**
 * Three domain nodes and a proxy over real HTTP, each node on its own database and a fixed port (so a
 * node or the proxy can be stopped and started again at the same address). The policy allows eng↔arts
 * and eng↔law, not arts↔law. A third college, Law, has the student lena.
 */
export async function startCampus(label: string): Promise<Campus> {
  const gateway = await startTestGateway(label);
  const ctx = { ...gateway.context(null), actor: operator('test') };
  await createUnit(ctx, { path: 'campus/law', name: 'School of Law' });
  await createUser(ctx, {
    username: 'lena',
    displayName: 'Lena Park',
    email: 'lena@campus.test',
    password: DEMO_PASSWORD,
    roles: ['student'],
    units: ['campus/law'],
  });

  const proxyPort = await freePort();
  // The proxy keeps only its key, in a folder of its own (no database).
  const proxyDir = mkdtempSync(join(tmpdir(), 'atrium-proxy-'));
  const proxyConfig = loadProxyConfig({
    PROXY_PORT: String(proxyPort),
    PROXY_HOST: '127.0.0.1',
    PROXY_NAME: 'test-proxy',
    GATEWAY_ISSUER: gateway.issuer,
    ATRIUM_DATA_DIR: proxyDir,
    LOG_LEVEL: 'silent',
    REGISTRY_TTL_SECONDS: '1',
  });
  const proxyClock = createTestClock();
  let proxy = await startProxy(proxyConfig, { clock: proxyClock });
  await addProxy(ctx, { name: 'test-proxy', publicJwk: proxy.publicKey });

  const dbs: Record<string, TestDatabase> = {};
  const ports: Record<string, number> = {};
  const nodes = {} as Record<'eng' | 'arts' | 'law', CampusNode>;
  const prefix = `fed-${randomBytes(3).toString('hex')}`;
  const start = async (name: 'eng' | 'arts' | 'law') => {
    const url = `http://127.0.0.1:${ports[name]}`;
    nodes[name] = await startTestNodeOn(gateway, DOMAINS[name], dbs[name]!, {
      NODE_PORT: String(ports[name]),
      NODE_PUBLIC_URL: url,
      FEDERATION_PROXY_URL: proxy.url,
      REGISTRY_TTL_SECONDS: '1',
      REDIS_PREFIX: prefix,
    });
    return nodes[name];
  };
  for (const name of ['eng', 'arts', 'law'] as const) {
    dbs[name] = await createTestDatabase(name);
    ports[name] = await freePort();
    const url = `http://127.0.0.1:${ports[name]}`;
    if (name === 'law') await addDomain(ctx, { name: DOMAINS.law, url, units: ['campus/law'] });
    else await updateDomain(ctx, DOMAINS[name], { url });
    await start(name);
    await pinDomainKeys(ctx, DOMAINS[name]);
  }
  await allowPair(ctx, { a: DOMAINS.eng, b: DOMAINS.arts });
  await allowPair(ctx, { a: DOMAINS.eng, b: DOMAINS.law });
  // The nodes and the proxy read the registry as they started, before these pairs were allowed; a copy
  // younger than 5 s is not read again even on a refusal, so on a fast machine a test's first request
  // could meet the old policy. Their clocks move past that, and the next use reads the policy as it is.
  for (const node of Object.values(nodes)) node.clock.advance(5_000);
  proxyClock.advance(5_000);

  return {
    gateway,
    get proxy() {
      return proxy;
    },
    nodes,
    restartNode: start,
    advanceClocks(ms) {
      for (const node of Object.values(nodes)) node.clock.advance(ms);
      proxyClock.advance(ms);
    },
    async stopNode(name) {
      await nodes[name].close();
    },
    async restartProxy() {
      proxy = await startProxy(proxyConfig, { clock: proxyClock });
      return proxy;
    },
    async stopProxy() {
      await proxy.close();
    },
    async stop() {
      for (const node of Object.values(nodes)) await node.close().catch(() => undefined);
      await proxy.close().catch(() => undefined);
      for (const db of Object.values(dbs)) await db.drop();
      rmSync(proxyDir, { recursive: true, force: true });
      await gateway.stop();
    },
  } as Campus;
}

export type { TestNode };

/**
 * `as(username, node)`: a person's connected SDK client on one of the campus's nodes (each person signs
 * in at the gateway once), with every message it receives collected in `messages`.
 */
export function campusPeople(campus: Campus) {
  const logins = new Map<string, Login>();
  return async function as(username: string, node: 'eng' | 'arts' | 'law') {
    let who = logins.get(username);
    if (!who) logins.set(username, (who = await login(campus.gateway, username)));
    const sdk = await connectAs(campus.gateway, campus.nodes[node], username, who);
    const messages: Message[] = [];
    sdk.on('message', (m) => messages.push(m));
    return Object.assign(sdk, { messages });
  };
}

/** What a node answers a transaction: how many events it applied, which it refused, or its error. */
export type TransactionAnswer = {
  status: number;
  body: {
    applied?: number;
    refused?: { event: number; conversationId: string; code: string }[];
    error?: { code: string };
  };
};

type NodeName = 'eng' | 'arts' | 'law';

/**
 * A server-to-server POST as a pinned peer node sends it: signed once with that node's own key, straight
 * at the receiving node (so a test can send what a misbehaving peer would); `send` sends the very same
 * bytes and headers each time it is called.
 */
export async function signedPost(
  campus: Campus,
  from: NodeName,
  to: NodeName,
  path: string,
  payload: unknown,
): Promise<{ send: () => Promise<Response> }> {
  const node = campus.nodes[to];
  const body = JSON.stringify(payload);
  const headers = {
    'content-type': 'application/json',
    ...signRequest(await campus.nodes[from].federation.keys.documentSigner(), {
      method: 'POST',
      path,
      origin: campus.nodes[from].domain,
      destination: node.domain,
      body,
    }),
  };
  return { send: () => fetch(`${node.url}${path}`, { method: 'POST', headers, body }) };
}

/** A transaction as a pinned peer node sends it (signedPost), with the receiving node's answer. */
export async function signedTransaction(
  campus: Campus,
  from: NodeName,
  to: NodeName,
  events: unknown[],
): Promise<TransactionAnswer> {
  const { send } = await signedPost(campus, from, to, `/federation/v1/transactions/t-${randomUUID()}`, { events });
  const response = await send();
  return { status: response.status, body: (await response.json()) as TransactionAnswer['body'] };
}
