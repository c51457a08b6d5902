import * as client from 'openid-client';
import { registerApp, type RegisteredApp } from '../../gateway/apps-registry/register-app.ts';
import { callbackSecretSealer } from '../../gateway/apps-registry/secrets.ts';
import { unitPathsOf } from '../../gateway/accounts/memberships.ts';
import { operator, type Actor, type GatewayContext } from '../../gateway/context.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { portalClient } from '../helpers/node.ts';
import { codeFlow } from '../helpers/rp.ts';
import type { BrowserAgent } from '../helpers/browser-agent.ts';

export const PORTAL_REDIRECT = 'http://localhost:9/portal-cb';

export const secretsOf = (gateway: TestGateway) => callbackSecretSealer(gateway.config.secretKey);

/** The use-case context acting as a demo person, as the console and the admin API make it. */
export async function actingAs(gateway: TestGateway, username: string): Promise<GatewayContext> {
  const ctx = gateway.context(null);
  const user = await ctx.models.User.findOne({ where: { username } });
  if (!user) throw new Error(`no user ${username}`);
  const actor: Actor = {
    kind: 'user',
    id: user.id,
    name: user.username,
    roles: user.roles,
    unitPaths: await unitPathsOf(ctx, user),
  };
  return { ...ctx, actor };
}

export function asOperator(gateway: TestGateway): GatewayContext {
  return { ...gateway.context(null), actor: operator('test') };
}

/** Registers an app as the operator, with the callback-secret sealer the gateway uses. */
export function register(
  gateway: TestGateway,
  input: Record<string, unknown>,
  ctx: GatewayContext = asOperator(gateway),
): Promise<RegisteredApp> {
  return registerApp(ctx, input, secretsOf(gateway));
}

/**
 * A gateway access token (opaque, for the gateway's own APIs) of a person signed in through the
 * first-party test portal, and the browser that signed in.
 */
export async function gatewayToken(
  gateway: TestGateway,
  username: string,
  agent?: BrowserAgent,
  scope = 'openid profile',
): Promise<{ token: string; agent: BrowserAgent }> {
  const portal = await portalClient(gateway);
  const { tokens, agent: used } = await codeFlow(portal, PORTAL_REDIRECT, username, { scope, prompt: 'login' }, agent);
  return { token: tokens.access_token, agent: used };
}

export async function api(
  gateway: TestGateway,
  path: string,
  token: string | undefined,
  init: { method?: string; body?: unknown } = {},
) {
  const response = await fetch(`${gateway.issuer}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      accept: 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, any>) : {},
  };
}

export { client };

/** A client-credentials token of an app for one node (resource = the node's URL, scope im). */
export async function botToken(
  gateway: TestGateway,
  app: { clientId: string; clientSecret: string },
  nodeUrl: string,
): Promise<string> {
  const rp = await client.discovery(new URL(gateway.issuer), app.clientId, app.clientSecret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  return (await client.clientCredentialsGrant(rp, { resource: nodeUrl, scope: 'im' })).access_token;
}

/** A JSON request to a node's HTTP API. */
export async function nodeApi(
  nodeUrl: string,
  path: string,
  token: string | undefined,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const response = await fetch(`${nodeUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      accept: 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  let body: Record<string, any> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, any>) : {};
  } catch {
    body = { raw: text };
  }
  return { status: response.status, body };
}
