import { resolve } from 'node:path';
import { z } from 'zod';
import { envLogLevel, envMetricsToken, envPort, envPositiveInt, envUrl, parseEnv, type Env } from '../core/config.ts';

const schema = z.object({
  PROXY_PORT: envPort.default(4100),
  PROXY_HOST: z.string().default('0.0.0.0'),
  PROXY_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'lowercase letters, digits and dashes' })
    .default('campus-proxy'),
  /** The proxy's Ed25519 private key as a JWK (production); otherwise one is kept in the data directory. */
  PROXY_PRIVATE_KEY: z.string().optional(),
  GATEWAY_ISSUER: envUrl.default('http://localhost:4000'),
  ATRIUM_DATA_DIR: z.string().default('./data'),
  REGISTRY_TTL_SECONDS: envPositiveInt.default(30),
  PROXY_READY_RECHECK_SECONDS: envPositiveInt.default(10),
  FORWARD_TIMEOUT_MS: envPositiveInt.default(10_000),
  MAX_BODY_BYTES: envPositiveInt.default(8 * 1024 * 1024),
  PROXY_BODY_TIMEOUT_SECONDS: envPositiveInt.default(30),
  PROXY_MAX_IN_FLIGHT: envPositiveInt.default(256),
  PROXY_MAX_IN_FLIGHT_PER_ORIGIN: envPositiveInt.default(64),
  METRICS_TOKEN: envMetricsToken.optional(),
  LOG_LEVEL: envLogLevel.default('info'),
});

export type ProxyConfig = {
  port: number;
  host: string;
  name: string;
  privateKey: string | undefined;
  gatewayIssuer: string;
  dataDir: string;
  registryTtlMs: number;
  /**
   * The least time between two questions /readyz puts to the gateway (whether it takes this proxy's key),
   * however often it is probed: a registration, a removal or another key shows within it (the node
   * rechecks its gateway as seldom, 10 s).
   */
  readyRecheckMs: number;
  forwardTimeoutMs: number;
  maxBodyBytes: number;
  /**
   * How long a request's body may take to arrive, from when its headers pass: one trickled slower is
   * refused (408 `invalid_body`) and its connection closed, so that it cannot hold one of its origin's
   * places in flight for long.
   */
  bodyTimeoutMs: number;
  /**
   * Requests forwarded at once, from all origins together and from one origin domain; one more is turned
   * away (503 `overloaded`, Retry-After), which its sender retries. They bound the bodies held in memory.
   */
  maxInFlight: { total: number; perOrigin: number };
  /** The bearer token /metrics asks for; without it, /metrics answers this machine only. */
  metricsToken: string | undefined;
  logLevel: string;
};

export function loadProxyConfig(env: Env): ProxyConfig {
  const v = parseEnv(schema, env);
  return {
    port: v.PROXY_PORT,
    host: v.PROXY_HOST,
    name: v.PROXY_NAME,
    privateKey: v.PROXY_PRIVATE_KEY,
    gatewayIssuer: v.GATEWAY_ISSUER.replace(/\/$/, ''),
    dataDir: resolve(v.ATRIUM_DATA_DIR),
    registryTtlMs: v.REGISTRY_TTL_SECONDS * 1000,
    readyRecheckMs: v.PROXY_READY_RECHECK_SECONDS * 1000,
    forwardTimeoutMs: v.FORWARD_TIMEOUT_MS,
    maxBodyBytes: v.MAX_BODY_BYTES,
    bodyTimeoutMs: v.PROXY_BODY_TIMEOUT_SECONDS * 1000,
    maxInFlight: { total: v.PROXY_MAX_IN_FLIGHT, perOrigin: v.PROXY_MAX_IN_FLIGHT_PER_ORIGIN },
    metricsToken: v.METRICS_TOKEN,
    logLevel: v.LOG_LEVEL,
  };
}
