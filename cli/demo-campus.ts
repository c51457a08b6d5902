import { z } from 'zod';
import { envPort, parseEnv, type Env } from '../core/config.ts';
import { loadNodeConfig, NODE_VARIABLES, type NodeConfig } from '../node/config.ts';
import type { KeysDocument } from '../node/federation/node-keys.ts';
import { loadProxyConfig, type ProxyConfig } from '../proxy/config.ts';
import type { PublicKeyJwk } from '../protocol/signature.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import type { GatewayContext } from '../gateway/context.ts';
import { updateDomain } from '../gateway/domains/domains.ts';
import { pinDomainKeys } from '../gateway/federation/pin-domain.ts';
import { addProxy, allowPair, listPolicy } from '../gateway/federation/policy.ts';
import type { DemoDomains } from '../gateway/seed/demo.ts';
import { UsageError } from './command.ts';
import { pinKeysBeforeStart } from './node-before-start.ts';

export const DEMO_DOMAINS = { eng: 'eng.campus.test', arts: 'arts.campus.test' } as const;
export const DEMO_PROXY_NAME = 'campus-proxy';

const fixedPort = envPort.refine((p) => p > 0, { message: 'expected a fixed port (the demo registers its URL)' });
const schema = z.object({
  DEMO_PROXY_PORT: fixedPort.default(4100),
  DEMO_ENG_PORT: fixedPort.default(4201),
  DEMO_ARTS_PORT: fixedPort.default(4202),
});

export type DemoCampus = {
  issuer: string;
  /** The node URLs the gateway registers; each node's NODE_PUBLIC_URL, so tokens and routes agree. */
  urls: DemoDomains;
  proxy: ProxyConfig;
  nodes: { eng: NodeConfig; arts: NodeConfig };
};

/**
 * Node variables the demo's nodes do not take from the environment: the database and Redis named there
 * are the gateway's (each demo node keeps its own SQLite file), the demo runs in development, and a
 * secret key named there would not open what the nodes sealed with the ones they generated.
 */
const GATEWAY_ONLY = new Set(['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'ATRIUM_MODE', 'NODE_SECRET_KEY']);

/**
 * The node settings given in the environment (ATTACHMENT_STORAGE_QUOTA_MB, RECALL_WINDOW_SECONDS, …), which
 * both demo nodes take, as a node started on its own would; where each node listens is the demo's.
 */
function nodeSettingsIn(env: Env): Env {
  const settings: Env = {};
  for (const name of NODE_VARIABLES) if (!GATEWAY_ONLY.has(name) && env[name] !== undefined) settings[name] = env[name];
  return settings;
}

/**
 * The demo's units, at localhost URLs and listening where the gateway does (see demoGatewayConfig), on SQLite
 * files in its data directory (DATABASE_URL, if set, is the gateway's alone: each node has a database of its own).
 */
export function demoCampus(env: Env, gateway: GatewayConfig): DemoCampus {
  const ports = parseEnv(schema, env);
  if (!gateway.issuer)
    throw new UsageError(
      "the demo needs a fixed GATEWAY_PORT: its nodes and proxy are configured with the gateway's URL",
    );
  const issuer = gateway.issuer;
  const common = { ATRIUM_DATA_DIR: gateway.dataDir, LOG_LEVEL: gateway.logLevel, GATEWAY_ISSUER: issuer };
  const proxyUrl = `http://localhost:${ports.DEMO_PROXY_PORT}`;
  const urls = { eng: `http://localhost:${ports.DEMO_ENG_PORT}`, arts: `http://localhost:${ports.DEMO_ARTS_PORT}` };
  const node = (name: keyof DemoDomains, port: number) =>
    loadNodeConfig({
      ...nodeSettingsIn(env),
      ...common,
      NODE_DOMAIN: DEMO_DOMAINS[name],
      NODE_PORT: String(port),
      NODE_HOST: gateway.host,
      NODE_PUBLIC_URL: urls[name],
      FEDERATION_PROXY_URL: proxyUrl,
    });
  return {
    issuer,
    urls,
    proxy: loadProxyConfig({
      ...common,
      PROXY_PORT: String(ports.DEMO_PROXY_PORT),
      PROXY_HOST: gateway.host,
      PROXY_NAME: DEMO_PROXY_NAME,
    }),
    nodes: { eng: node('eng', ports.DEMO_ENG_PORT), arts: node('arts', ports.DEMO_ARTS_PORT) },
  };
}

/** A demo started on other ports than the first time: the registry follows, or tokens and routes would miss the nodes. */
export async function alignDemoDomains(ctx: GatewayContext, urls: DemoDomains): Promise<string[]> {
  const moved: string[] = [];
  for (const name of ['eng', 'arts'] as const) {
    const domain = await ctx.models.Domain.findOne({ where: { name: DEMO_DOMAINS[name] } });
    if (domain && domain.url !== urls[name]) {
      await updateDomain(ctx, domain.name, { url: urls[name] });
      moved.push(domain.name);
    }
  }
  return moved;
}

/**
 * Pins the demo nodes' keys before they start, from the documents their own databases give
 * (keysDocumentBeforeStart), registers the proxy's key (loadProxyKey: from its data directory, made there
 * on the first start) and lets the two nodes exchange messages, so that the nodes' and the proxy's first
 * requests to the gateway (ended sessions, the registry) are accepted, rather than refused and retried
 * with a warning, and the registry they cache from then on already has the pair.
 */
export async function linkDemoNodes(
  ctx: GatewayContext,
  documents: KeysDocument[],
  proxyKey: PublicKeyJwk,
): Promise<void> {
  await pinKeysBeforeStart(ctx, documents);
  await registerDemoProxy(ctx, proxyKey);
  await allowDemoPair(ctx);
}

async function registerDemoProxy(ctx: GatewayContext, proxyKey: PublicKeyJwk): Promise<boolean> {
  const registered = await ctx.models.FederationProxy.findOne({ where: { name: DEMO_PROXY_NAME } });
  if (registered?.publicJwk === JSON.stringify(proxyKey)) return false;
  await addProxy(ctx, { name: DEMO_PROXY_NAME, publicJwk: proxyKey });
  return true;
}

async function allowDemoPair(ctx: GatewayContext): Promise<boolean> {
  const [a, b] = [DEMO_DOMAINS.arts, DEMO_DOMAINS.eng];
  if ((await listPolicy(ctx)).some(([x, y]) => x === a && y === b)) return false;
  await allowPair(ctx, { a, b });
  return true;
}

/**
 * Links the running demo units through the gateway: registers the proxy's key, pins both nodes' keys
 * (they must be listening) and allows eng <-> arts. Each step changes nothing when already done, so a
 * restart leaves the pins and the policy as they were.
 */
export async function linkDemoCampus(ctx: GatewayContext, proxyKey: PublicKeyJwk): Promise<{ changed: boolean }> {
  let changed = await registerDemoProxy(ctx, proxyKey);
  for (const name of Object.values(DEMO_DOMAINS)) {
    if ((await pinDomainKeys(ctx, name)).changed) changed = true;
  }
  if (await allowDemoPair(ctx)) changed = true;
  return { changed };
}
