import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
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
import type { AtriumClient, Conversation, Message } from '../../sdk/client.ts';
import { signRequest } from '../../protocol/signature.ts';
import type { Logger } from '../../core/logger.ts';

export { freePort };

export type Campus = {
  gateway: TestGateway;
  proxy: Proxy;
  nodes: Record<'eng' | 'arts' | 'law', CampusNode>;
  /** Starts a stopped node again; with `clock`, on that one (moved ahead, as after a long outage, say). */
  restartNode(name: 'eng' | 'arts' | 'law', options?: { clock?: TestClock }): Promise<CampusNode>;
  /** Moves every node's and the proxy's clock forward (past their registry caches, say) rather than waiting. */
  advanceClocks(ms: number): void;
  stopNode(name: 'eng' | 'arts' | 'law'): Promise<void>;
  /** Starts the proxy again (after stopProxy), with `env` over its usual settings (its caps, say). */
  restartProxy(env?: Record<string, string>): Promise<Proxy>;
  stopProxy(): Promise<void>;
  stop(): Promise<void>;
};

type CampusNode = DomainNode & { clock: TestClock };

const DOMAINS = { eng: 'eng.campus.test', arts: 'arts.campus.test', law: 'law.campus.test' } as const;

/**
 * Three domain nodes and a proxy over real HTTP, each node on its own database and a fixed port (so a
 * node or the proxy can be stopped and started again at the same address). The policy allows eng↔arts
 * and eng↔law, not arts↔law. A third college, Law, has the student lena. `nodeEnv`: settings every node
 * starts with, over the usual ones (a short deadline, say); `loggers`: where a node logs, to read it.
 */
export async function startCampus(
  label: string,
  options: { nodeEnv?: Record<string, string>; loggers?: Partial<Record<NodeName, Logger>> } = {},
): Promise<Campus> {
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
  const proxyEnv = {
    PROXY_PORT: String(proxyPort),
    PROXY_HOST: '127.0.0.1',
    PROXY_NAME: 'test-proxy',
    GATEWAY_ISSUER: gateway.issuer,
    ATRIUM_DATA_DIR: proxyDir,
    LOG_LEVEL: 'silent',
    REGISTRY_TTL_SECONDS: '1',
  };
  const proxyConfig = loadProxyConfig(proxyEnv);
  const proxyClock = createTestClock();
  let proxy = await startProxy(proxyConfig, { clock: proxyClock });
  await addProxy(ctx, { name: 'test-proxy', publicJwk: proxy.publicKey });

  const dbs: Record<string, TestDatabase> = {};
  const ports: Record<string, number> = {};
  const nodes = {} as Record<'eng' | 'arts' | 'law', CampusNode>;
  const prefix = `fed-${randomBytes(3).toString('hex')}`;
  const start = async (name: 'eng' | 'arts' | 'law', startOptions: { clock?: TestClock } = {}) => {
    const url = `http://127.0.0.1:${ports[name]}`;
    nodes[name] = await startTestNodeOn(
      gateway,
      DOMAINS[name],
      dbs[name]!,
      {
        NODE_PORT: String(ports[name]),
        NODE_PUBLIC_URL: url,
        FEDERATION_PROXY_URL: proxy.url,
        REGISTRY_TTL_SECONDS: '1',
        REDIS_PREFIX: prefix,
        ...options.nodeEnv,
      },
      { logger: options.loggers?.[name], clock: startOptions.clock },
    );
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
    async restartProxy(env) {
      proxy = await startProxy(env ? loadProxyConfig({ ...proxyEnv, ...env }) : proxyConfig, { clock: proxyClock });
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
 * in at the gateway once), with every message it receives collected in `messages`. `as.close()` closes
 * every client it connected, so a file's clients do not go on reconnecting to a stopped campus.
 */
export function campusPeople(campus: Campus) {
  const logins = new Map<string, Login>();
  const connected: AtriumClient[] = [];
  async function as(username: string, node: 'eng' | 'arts' | 'law') {
    let who = logins.get(username);
    if (!who) logins.set(username, (who = await login(campus.gateway, username)));
    const sdk = await connectAs(campus.gateway, campus.nodes[node], username, who);
    connected.push(sdk);
    const messages: Message[] = [];
    sdk.on('message', (m) => messages.push(m));
    return Object.assign(sdk, { messages });
  }
  return Object.assign(as, {
    close() {
      for (const client of connected.splice(0)) client.close();
    },
  });
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
 * A server-to-server POST as node `from` sends it: signed once with its own key, straight at node `to` (so
 * a test can send what a misbehaving peer would); `send` sends the very same bytes and headers each time.
 */
export async function signedNodePost(
  from: DomainNode,
  to: DomainNode,
  path: string,
  payload: unknown,
): Promise<{ send: () => Promise<Response> }> {
  const body = JSON.stringify(payload);
  const headers = {
    'content-type': 'application/json',
    ...signRequest(await from.federation.keys.documentSigner(), {
      method: 'POST',
      path,
      origin: from.domain,
      destination: to.domain,
      body,
    }),
  };
  return { send: () => fetch(`${to.url}${path}`, { method: 'POST', headers, body }) };
}

/** signedNodePost between two of the campus's nodes, named. */
export const signedPost = (campus: Campus, from: NodeName, to: NodeName, path: string, payload: unknown) =>
  signedNodePost(campus.nodes[from], campus.nodes[to], path, payload);

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

/** Which events of a transaction a node refused, and why, as `event:code`. */
export const refusals = (answer: TransactionAnswer) => answer.body.refused?.map((r) => `${r.event}:${r.code}`);

/** A conversation as its home relays it: `addresses` active since seq 0, the first of a group owning it. */
export function conversationSnapshot(id: string, kind: 'direct' | 'group', homeDomain: string, addresses: string[]) {
  return {
    type: 'conversation',
    conversation: {
      id,
      kind,
      homeDomain,
      title: kind === 'group' ? 'Relayed' : null,
      members: addresses.map((address, i) => ({
        address,
        role: kind === 'group' && i === 0 ? 'owner' : 'member',
        state: 'active',
        joinedSeq: 0,
      })),
    },
  };
}

/**
 * A group homed at eng, as eng relays it to arts, with bob watching there once his node holds it. Its
 * `members` (the first owns it) are by default alice and dave of eng, bob and carol of arts; `view()` is
 * bob's latest view of it.
 */
export async function groupWithBobWatching(
  campus: Campus,
  people: ReturnType<typeof campusPeople>,
  members = [`alice@${DOMAINS.eng}`, `dave@${DOMAINS.eng}`, `bob@${DOMAINS.arts}`, `carol@${DOMAINS.arts}`],
) {
  const id = randomUUID();
  const bobOnArts = await people('bob', 'arts');
  let view: Conversation | undefined;
  bobOnArts.on('conversation', (seen) => {
    if (seen.id === id) view = seen;
  });
  const opened = await signedTransaction(campus, 'eng', 'arts', [
    conversationSnapshot(id, 'group', DOMAINS.eng, members),
  ]);
  expect(opened).toEqual({ status: 200, body: { applied: 1 } });
  await expect.poll(() => view !== undefined, { timeout: 15_000 }).toBe(true);
  return { id, bobOnArts, view: () => view! };
}

/** An entry event as a home's outbox sends it; an edit or a recall carries the new state of its target. */
export type RelayedEntry = {
  type: 'entry';
  conversationId: string;
  message: {
    id: string;
    seq: number;
    sender: string;
    clientMsgId: string;
    kind: string;
    body: string;
    refId: string | null;
    createdAt: string;
    editedAt: string | null;
    recalledAt: string | null;
  };
  target?: { id: string; body: string; editedAt: string | null; recalledAt: string | null };
};

/**
 * An entry its conversation's home ordered at `seq`, written by `sender`. `body` is what the entry stores:
 * an object goes as its JSON, a string as it stands (so a test can send a body that is not an object).
 */
export function relayedEntry(
  conversationId: string,
  seq: number,
  sender: string,
  body: Record<string, unknown> | string,
  kind = 'text',
): RelayedEntry {
  const id = randomUUID();
  return {
    type: 'entry',
    conversationId,
    message: {
      id,
      seq,
      sender,
      // A withheld placeholder's clientMsgId names the entry it stands for, as placeholderOf gives it.
      clientMsgId: kind === 'withheld' ? `withheld-${id}` : `relayed-${randomUUID()}`,
      kind,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      refId: null,
      createdAt: new Date().toISOString(),
      editedAt: null,
      recalledAt: null,
    },
  };
}

/** `sender`'s change of `of` (an edit, a recall, or a text posing as one), with the new state it gives `of`. */
export function relayedChange(
  of: RelayedEntry,
  seq: number,
  sender: string,
  kind: 'edit' | 'recall' | 'text',
  text?: string,
): RelayedEntry {
  const at = new Date().toISOString();
  const body = text === undefined ? {} : { text };
  const made = relayedEntry(of.conversationId, seq, sender, body, kind);
  made.message.refId = of.message.id;
  made.target = {
    id: of.message.id,
    body: JSON.stringify(body),
    editedAt: kind === 'recall' ? null : at,
    recalledAt: kind === 'recall' ? at : null,
  };
  return made;
}

/** The fields every entry has on the wire, whatever its body (presentMessage). */
const ENVELOPE = [
  'id',
  'conversationId',
  'seq',
  'sender',
  'clientMsgId',
  'kind',
  'refId',
  'createdAt',
  'editedAt',
  'recalledAt',
];

/** The fields an entry shows beyond its envelope: what its body gave it. */
export const bodyFields = (message: Message) => Object.keys(message).filter((key) => !ENVELOPE.includes(key));
