import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  envBoolean,
  envLogLevel,
  envMetricsToken,
  envPort,
  envPreviousSecrets,
  envPositiveInt,
  envUrl,
  parseEnv,
  type Env,
} from '../core/config.ts';
import { CONTROL_CHARACTER } from '../core/control-characters.ts';
import { ConfigError } from '../core/errors.ts';
import { acceptPreviousSecrets } from '../core/seal.ts';

/** Express's `trust proxy` settings the gateway takes: see GatewayConfig.trustProxy. */
export type TrustProxy = false | number | string[];

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * ATRIUM_TRUST_PROXY read: `false`, a count of proxies (`true` is one: a TLS-terminating proxy in front, as
 * docker-compose.yml has it), or a comma-separated list of proxy addresses, networks and names; null when it
 * is none of these.
 */
export function trustedProxies(value: string): TrustProxy | null {
  const v = value.trim().toLowerCase();
  if (['false', '0', 'no'].includes(v)) return false;
  if (['true', 'yes'].includes(v)) return 1;
  if (/^\d+$/.test(v)) return Number(v) <= 10 ? Number(v) : null;
  const list = v.split(',').map((entry) => entry.trim());
  const known = (entry: string) => {
    const [address, bits, extra] = entry.split('/');
    if (extra !== undefined || !address) return false;
    if (bits === undefined) return PROXY_NAMES.has(address) || isIP(address) !== 0;
    const max = isIP(address) === 4 ? 32 : isIP(address) === 6 ? 128 : 0;
    return /^\d+$/.test(bits) && Number(bits) <= max;
  };
  return list.every(known) ? list : null;
}

/** The longest CAMPUS_NAME: it heads pages and mail subjects, and names the campus in authenticator apps. */
export const MAX_CAMPUS_NAME = 80;

/** CAMPUS_NAME read: the institution's name as its people know it, on one line. */
const campusName = z
  .string()
  .trim()
  .min(1, { message: 'expected the name of the campus, such as "Northfield University", or leave it unset' })
  .max(MAX_CAMPUS_NAME, {
    message: `at most ${MAX_CAMPUS_NAME} characters: it heads the sign-in page and mail subjects`,
  })
  // A line break would end a mail's Subject header and start another; the others garble what is shown.
  .refine((v) => !CONTROL_CHARACTER.test(v), {
    message: 'expected one line of text, without control characters (line breaks, tabs, direction overrides)',
  });

/** A week: the longest DIRECTORY_SYNC_INTERVAL (gateway/directories/scheduler.ts). */
export const MAX_DIRECTORY_SYNC_SECONDS = 7 * 24 * 3600;

const schema = z.object({
  ATRIUM_MODE: z
    .enum(['development', 'production'], { message: 'expected development or production' })
    .default('development'),
  GATEWAY_PORT: envPort.default(4000),
  GATEWAY_HOST: z.string().default('0.0.0.0'),
  ATRIUM_ISSUER: envUrl.optional(),
  CAMPUS_NAME: campusName.optional(),
  DATABASE_URL: z
    .string()
    .regex(/^(mysql|mariadb):\/\//, { message: 'expected mysql://user:password@host:port/database' })
    .optional(),
  ATRIUM_DATA_DIR: z.string().default('./data'),
  ATRIUM_SECRET_KEY: z.string().min(32, { message: 'expected at least 32 characters of random secret' }).optional(),
  ATRIUM_SECRET_KEY_PREVIOUS: envPreviousSecrets,
  ATRIUM_COOKIE_KEYS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().min(32, { message: 'each cookie key needs at least 32 characters' })).min(1))
    .optional(),
  ATRIUM_TRUST_PROXY: z
    .string()
    .transform((v, ctx) => {
      const trust = trustedProxies(v);
      if (trust === null)
        ctx.addIssue({
          code: 'custom',
          message:
            'expected false, the number of reverse proxies in front of the gateway (true is 1), or their addresses (10.0.0.5, 10.0.0.0/8, loopback, uniquelocal)',
        });
      return trust ?? false;
    })
    .default(false),
  APP_CALLBACKS_LOOPBACK: envBoolean.optional(),
  LOG_LEVEL: envLogLevel.default('info'),
  LOGIN_MAX_FAILURES: envPositiveInt.default(5),
  LOGIN_LOCKOUT_MINUTES: envPositiveInt.default(15),
  LOGIN_IP_LIMIT: envPositiveInt.default(30),
  LOGIN_IP_WINDOW_SECONDS: envPositiveInt.default(300),
  // Nodes refuse a token that lasts longer than their MAX_TOKEN_LIFETIME_SECONDS, a day by default.
  ACCESS_TOKEN_TTL_SECONDS: envPositiveInt
    .max(86_400, {
      message:
        'at most 86400 (a day): domain nodes refuse tokens that last longer than their MAX_TOKEN_LIFETIME_SECONDS, a day by default',
    })
    .default(3600),
  SESSION_TTL_HOURS: envPositiveInt.default(12),
  KEYS_RELOAD_SECONDS: envPositiveInt.default(30),
  PIN_REFRESH_SECONDS: envPositiveInt.default(300),
  SMTP_URL: z
    .string()
    .url({ message: 'expected smtp://user:password@host:587 or smtps://user:password@host:465' })
    .refine((v) => /^smtps?:\/\//.test(v), { message: 'expected an smtp:// or smtps:// URL' })
    .optional(),
  MAIL_FROM: z
    .string()
    .regex(/^[^\r\n]*<?[^\s@<>]+@[^\s@<>]+>?$/, {
      message: 'expected an address such as "Atrium <no-reply@campus.example>"',
    })
    .optional(),
  PASSWORD_RESET_TTL_MINUTES: envPositiveInt.default(30),
  PASSWORD_RESET_IP_LIMIT: envPositiveInt.default(10),
  PASSWORD_RESET_ACCOUNT_LIMIT: envPositiveInt.default(3),
  DIRECTORY_SYNC_INTERVAL: z
    .string()
    .trim()
    .regex(/^(off|0|\d+\s*(s|m|h)?)$/i, { message: 'expected a duration such as 900 (seconds), 15m or 1h, or off' })
    .transform((v) => {
      const m = /^(\d+)\s*(s|m|h)?$/i.exec(v);
      return m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h'] : 0;
    })
    // People removed or disabled in a directory keep their sessions until the next sync.
    .refine((seconds) => seconds <= MAX_DIRECTORY_SYNC_SECONDS, {
      message:
        'at most 168h (a week): people removed or disabled in a directory keep signing in until the next sync; use off for syncs on demand only',
    })
    .default(3600),
  METRICS_TOKEN: envMetricsToken.optional(),
});

export type GatewayConfig = {
  mode: 'development' | 'production';
  port: number;
  host: string;
  /** Absent only when the port is chosen at listen time (tests); the issuer then follows the port. */
  issuer: string | undefined;
  /**
   * The institution's name (CAMPUS_NAME), which mails, the gateway's pages and authenticator apps show
   * where people would otherwise read the gateway's host name; absent, they show the host as before.
   */
  campusName: string | undefined;
  database: { url: string | undefined; sqliteFile: string };
  dataDir: string;
  secretKey: string;
  /** Older secrets that still open what they sealed, until `atrium secrets reseal` (ATRIUM_SECRET_KEY_PREVIOUS). */
  previousSecretKeys: string[];
  cookieKeys: string[];
  /**
   * Which `X-Forwarded-*` headers to believe (ATRIUM_TRUST_PROXY): none (false), those added by the last
   * `n` proxies in front of the gateway, or by proxies at these addresses. Never the leftmost address of
   * `X-Forwarded-For` as such, which the client writes itself.
   */
  trustProxy: TrustProxy;
  /**
   * Whether the URLs apps register (back-channel logout) may be called on this machine, loopback
   * (APP_CALLBACKS_LOOPBACK; on outside production). Link-local, unspecified and multicast addresses never are.
   */
  appCalls: { loopback: boolean };
  logLevel: string;
  login: { maxFailures: number; lockoutMinutes: number; ipLimit: number; ipWindowSeconds: number };
  accessTokenTtlSeconds: number;
  sessionTtlHours: number;
  keysReloadSeconds: number;
  /** How often pinned domain keys are re-read, to follow the nodes' own rotations. */
  pinRefreshSeconds: number;
  /** Where mail goes; without `smtpUrl` it is written to the log (outside production only). */
  mail: { smtpUrl: string | undefined; from: string };
  /** "Forgot password": link lifetime, and requests allowed per client address and per account each hour. */
  passwordReset: { ttlMinutes: number; ipLimit: number; accountLimit: number };
  /** Seconds between scheduled syncs of every registered directory; 0 for none (on demand only). */
  directorySyncSeconds: number;
  /** The bearer token /metrics asks for; without it, /metrics answers this machine only. */
  metricsToken: string | undefined;
};

export function loadGatewayConfig(env: Env): GatewayConfig {
  const v = parseEnv(schema, env);
  const dataDir = resolve(v.ATRIUM_DATA_DIR);
  const production = v.ATRIUM_MODE === 'production';
  const problems: string[] = [];
  if (production) {
    if (!v.ATRIUM_SECRET_KEY)
      problems.push('ATRIUM_SECRET_KEY: required in production (it seals the signing keys at rest)');
    if (!v.ATRIUM_COOKIE_KEYS)
      problems.push('ATRIUM_COOKIE_KEYS: required in production (comma-separated, 32+ characters each)');
    if (!v.ATRIUM_ISSUER) problems.push('ATRIUM_ISSUER: required in production (the public https URL of the gateway)');
    else if (!v.ATRIUM_ISSUER.startsWith('https://'))
      problems.push('ATRIUM_ISSUER: must be an https:// URL in production');
  }
  if (v.SMTP_URL && !v.MAIL_FROM)
    problems.push('MAIL_FROM: required when SMTP_URL is set (the sender of password-reset mail)');
  if (problems.length > 0) throw new ConfigError(problems);
  const dev = production
    ? undefined
    : developmentSecrets(dataDir, Boolean(v.ATRIUM_SECRET_KEY && v.ATRIUM_COOKIE_KEYS));
  const secretKey = v.ATRIUM_SECRET_KEY ?? dev!.secretKey;
  // Every sealer made from the secret, here or in the CLI, opens with these too.
  acceptPreviousSecrets(secretKey, v.ATRIUM_SECRET_KEY_PREVIOUS);
  return {
    mode: v.ATRIUM_MODE,
    port: v.GATEWAY_PORT,
    host: v.GATEWAY_HOST,
    issuer:
      v.ATRIUM_ISSUER?.replace(/\/$/, '') ?? (v.GATEWAY_PORT === 0 ? undefined : `http://localhost:${v.GATEWAY_PORT}`),
    campusName: v.CAMPUS_NAME,
    database: { url: v.DATABASE_URL, sqliteFile: join(dataDir, 'gateway.sqlite') },
    dataDir,
    secretKey,
    previousSecretKeys: v.ATRIUM_SECRET_KEY_PREVIOUS,
    cookieKeys: v.ATRIUM_COOKIE_KEYS ?? dev!.cookieKeys,
    trustProxy: v.ATRIUM_TRUST_PROXY,
    appCalls: { loopback: v.APP_CALLBACKS_LOOPBACK ?? !production },
    logLevel: v.LOG_LEVEL,
    login: {
      maxFailures: v.LOGIN_MAX_FAILURES,
      lockoutMinutes: v.LOGIN_LOCKOUT_MINUTES,
      ipLimit: v.LOGIN_IP_LIMIT,
      ipWindowSeconds: v.LOGIN_IP_WINDOW_SECONDS,
    },
    accessTokenTtlSeconds: v.ACCESS_TOKEN_TTL_SECONDS,
    sessionTtlHours: v.SESSION_TTL_HOURS,
    keysReloadSeconds: v.KEYS_RELOAD_SECONDS,
    pinRefreshSeconds: v.PIN_REFRESH_SECONDS,
    mail: { smtpUrl: v.SMTP_URL, from: v.MAIL_FROM ?? 'Atrium <no-reply@localhost>' },
    passwordReset: {
      ttlMinutes: v.PASSWORD_RESET_TTL_MINUTES,
      ipLimit: v.PASSWORD_RESET_IP_LIMIT,
      accountLimit: v.PASSWORD_RESET_ACCOUNT_LIMIT,
    },
    directorySyncSeconds: v.DIRECTORY_SYNC_INTERVAL,
    metricsToken: v.METRICS_TOKEN,
  };
}

/**
 * Outside production, secrets that were not configured are generated once and kept in the data
 * directory, so a demo restart keeps its sessions and can still open its sealed keys.
 */
function developmentSecrets(
  dataDir: string,
  allGiven: boolean,
): { secretKey: string; cookieKeys: string[] } | undefined {
  if (allGiven) return undefined;
  const file = join(dataDir, 'dev-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { secretKey: string; cookieKeys: string[] };
  mkdirSync(dataDir, { recursive: true });
  const secrets = {
    secretKey: randomBytes(32).toString('base64url'),
    cookieKeys: [randomBytes(32).toString('base64url')],
  };
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}
