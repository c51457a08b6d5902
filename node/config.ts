import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
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
import { ConfigError } from '../core/errors.ts';
import { acceptPreviousSecrets } from '../core/seal.ts';
import { DEFAULT_RECALL_WINDOW_SECONDS } from '../protocol/client-frames.ts';

/*
 * What a campus shares: pictures, PDFs, office documents (Word, Excel, PowerPoint, old and new, and
 * OpenDocument), text and CSV, archives. None is run by a browser: a download is served as an attachment
 * with nosniff and a sandboxing CSP (node/http/attachments.ts), and no HTML, SVG or XML type is listed.
 */
export const DEFAULT_ATTACHMENT_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
  'application/msword',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'application/vnd.oasis.opendocument.text',
  'application/vnd.oasis.opendocument.spreadsheet',
  'application/vnd.oasis.opendocument.presentation',
  'text/plain',
  'text/csv',
  'application/zip',
];

const MB = 1024 * 1024;

const schema = z.object({
  ATRIUM_MODE: z
    .enum(['development', 'production'], { message: 'expected development or production' })
    .default('development'),
  NODE_DOMAIN: z
    .string()
    .toLowerCase()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/, {
      message: 'expected a DNS-like domain such as eng.campus.test',
    }),
  NODE_PORT: envPort.default(4201),
  NODE_HOST: z.string().default('0.0.0.0'),
  NODE_PUBLIC_URL: envUrl.optional(),
  GATEWAY_ISSUER: envUrl.default('http://localhost:4000'),
  DATABASE_URL: z
    .string()
    .regex(/^(mysql|mariadb):\/\//, { message: 'expected mysql://user:password@host:port/database' })
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, { message: 'expected redis://host:port' })
    .optional(),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, { message: 'letters, digits, ":", "_" or "-"' })
    .default('atrium'),
  ATRIUM_DATA_DIR: z.string().default('./data'),
  LOG_LEVEL: envLogLevel.default('info'),
  FLUSH_WINDOW_MS: z.coerce.number({ message: 'expected milliseconds' }).min(0).max(1000).default(2),
  FLUSH_MODE: z.enum(['eager', 'window'], { message: 'expected eager or window' }).default('eager'),
  FLUSH_MAX_BATCH: envPositiveInt.default(2000),
  FLUSH_CONCURRENCY: envPositiveInt.max(16).default(1),
  FLUSH_LANES: envPositiveInt.max(16).default(6),
  SEARCH_INDEX_BACKLOG: envPositiveInt.max(1_000_000).default(20_000),
  MAX_FRAME_BYTES: envPositiveInt.default(64 * 1024),
  MAX_TEXT_CHARS: envPositiveInt.default(8000),
  VIEW_MEMBERS_MAX: envPositiveInt
    .min(2, { message: 'expected at least 2 (a direct conversation lists both)' })
    .default(100),
  RECALL_WINDOW_SECONDS: envPositiveInt.default(DEFAULT_RECALL_WINDOW_SECONDS),
  FRAMES_PER_SECOND: envPositiveInt.default(50),
  ABUSE_STRIKES: envPositiveInt.default(20),
  ATTACHMENT_MAX_BYTES: envPositiveInt.default(20 * 1024 * 1024),
  ATTACHMENT_TYPES: z
    .string()
    .default(DEFAULT_ATTACHMENT_TYPES.join(','))
    .transform((v) =>
      v
        .split(',')
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean),
    ),
  ATTACHMENT_UNSHARED_QUOTA_MB: envPositiveInt.default(200),
  ATTACHMENT_STORAGE_QUOTA_MB: z.coerce
    .number({ message: 'expected a number of MiB (0: no cap)' })
    .int({ message: 'expected a whole number of MiB' })
    .min(0, { message: 'expected a number of MiB (0: no cap)' })
    .default(2048),
  ATTACHMENT_UNSHARED_KEEP_HOURS: envPositiveInt.max(24 * 365).default(24),
  ATTACHMENT_UPLOADS_PER_HOUR: envPositiveInt.default(120),
  BOT_WRITES_PER_MINUTE: envPositiveInt.default(600),
  MESSAGES_PER_SECOND: envPositiveInt.default(20),
  MESSAGE_BURST: envPositiveInt.default(100),
  SOCKETS_PER_PERSON: envPositiveInt.default(20),
  SEARCHES_PER_MINUTE: envPositiveInt.default(30),
  DIRECTORY_SEARCHES_PER_MINUTE: envPositiveInt.default(60),
  GROUP_CREATIONS_PER_HOUR: envPositiveInt.default(30),
  WEBHOOKS_PER_GROUP: envPositiveInt.default(10),
  WEBHOOK_CREATIONS_PER_HOUR: envPositiveInt.default(20),
  AUTH_GRACE_SECONDS: envPositiveInt.default(30),
  // 24 h: the token verifier's DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, far above the gateway's default 1 h.
  MAX_TOKEN_LIFETIME_SECONDS: envPositiveInt.default(24 * 3600),
  HEARTBEAT_SECONDS: envPositiveInt.default(30),
  FEDERATION_PROXY_URL: envUrl.optional(),
  FEDERATION_BODY_TIMEOUT_SECONDS: envPositiveInt.default(30),
  APP_CALLBACKS_LOOPBACK: envBoolean.optional(),
  NODE_SECRET_KEY: z.string().min(32, { message: 'expected at least 32 characters of random secret' }).optional(),
  NODE_SECRET_KEY_PREVIOUS: envPreviousSecrets,
  REGISTRY_TTL_SECONDS: envPositiveInt.default(30),
  ENDED_ACCESS_POLL_SECONDS: z.coerce
    .number({ message: 'expected seconds' })
    .min(0.1, { message: 'expected seconds, at least 0.1' })
    .default(15),
  FEDERATION_POLICY_RETRIES: z.coerce.number({ message: 'expected a number' }).int().min(0).max(20).default(7),
  FEDERATION_REMOVED_GRACE_SECONDS: z.coerce.number({ message: 'expected seconds' }).int().min(0).default(600),
  FEDERATION_OUTBOX_POLL_MS: z.coerce
    .number({ message: 'expected milliseconds' })
    .int({ message: 'expected a whole number of milliseconds' })
    .min(10, { message: 'expected milliseconds, at least 10' })
    .max(60_000, { message: 'expected milliseconds, at most 60000' })
    .default(1_000),
  PORTAL_ORIGINS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.url({ message: 'expected origins such as https://campus.example' }).transform((o) => new URL(o).origin),
      ),
    )
    .optional(),
  METRICS_TOKEN: envMetricsToken.optional(),
});

/**
 * What one person may do on a node, beyond each socket's frame allowance (FRAMES_PER_SECOND): so that
 * opening more sockets or writing over HTTP does not multiply it. Every process of a domain keeps the
 * in-memory ones (messages, sockets) for itself; the others are counted in the database, all processes
 * together.
 */
export type PersonLimitsConfig = {
  /**
   * Messages, edits, recalls and group changes a person may make a second, over sockets and the HTTP API
   * together (in memory, per process), in bursts of `messageBurst`: an outbox typed offline goes out whole.
   */
  messagesPerSecond: number;
  messageBurst: number;
  /** Sockets one address may hold open to one process; one more is refused (4429 `too_many_sockets`). */
  socketsPerPerson: number;
  searchesPerMinute: number;
  /** People searches by name (`/api/v1/directory?q=`): a script cannot copy the campus directory at speed. */
  directorySearchesPerMinute: number;
  groupCreationsPerHour: number;
  /** Webhooks not revoked that one group may have. */
  webhooksPerGroup: number;
  webhookCreationsPerHour: number;
};

export type NodeConfig = {
  mode: 'development' | 'production';
  domain: string;
  port: number;
  host: string;
  /** The node's public URL, which is also the audience of the access tokens it accepts. */
  publicUrl: string | undefined;
  gatewayIssuer: string;
  database: { url: string | undefined; sqliteFile: string };
  redisUrl: string | undefined;
  /** Keys and channels of this domain in Redis start with this (one Redis can serve many domains). */
  redisPrefix: string;
  dataDir: string;
  logLevel: string;
  /**
   * Group commit of messages: in `eager` mode (the default) a send that finds nothing being written is
   * committed at once, and the window only gathers what arrives while a flush is running, before another
   * flush opens beside it. `window` makes every batch, a lone send too, wait out the window first (the
   * behaviour before eager, kept so that the benchmark can compare the two). Receipts always gather for
   * the window.
   */
  flushMode: 'eager' | 'window';
  flushWindowMs: number;
  flushMaxBatch: number;
  /** Flush transactions open at once in each lane on MariaDB (SQLite: always one). */
  flushConcurrency: number;
  /** Group-commit lanes on MariaDB, each with its own conversations and flushes (SQLite: always one). */
  flushLanes: number;
  /** Messages this process queues for the search index before it indexes them while flushes go on. */
  searchIndexBacklog: number;
  maxFrameBytes: number;
  maxTextChars: number;
  /** A conversation view lists every member up to this many; a bigger group's lists only its viewer (the rest load in pages). */
  viewMembersMax: number;
  recallWindowSeconds: number;
  framesPerSecond: number;
  abuseStrikes: number;
  attachments: {
    dir: string;
    maxBytes: number;
    types: string[];
    /** What one person's uploads not yet shared in any message may take up together. */
    unsharedQuotaBytes: number;
    /** What all of one person's files on the node, shared or not, may take up together; undefined: no cap. */
    storageQuotaBytes: number | undefined;
    /** An upload not shared within this many hours is deleted, its record and its bytes. */
    unsharedKeepHours: number;
    /** Uploads one person may make per hour (every process of the domain counts together). */
    uploadsPerHour: number;
  };
  /**
   * Posts and card updates one app's bot may make per minute over the bot API (every process of the
   * domain counts together): enough for announcements sent to people one by one, 10 a second on average.
   */
  botWritesPerMinute: number;
  /** What one person (an address) may do on this node, whichever way they ask: node/limits/person-limits.ts. */
  personLimits: PersonLimitsConfig;
  authGraceSeconds: number;
  /**
   * The longest an access token may last (`exp - iat`) to be accepted here: above what the gateway issues
   * (ACCESS_TOKEN_TTL_SECONDS), so that a key of the gateway's the node still holds (retired, or leaked)
   * cannot sign tokens that live on.
   */
  maxTokenLifetimeSeconds: number;
  /** Sockets are pinged this often; one that misses a pong is dropped. */
  heartbeatSeconds: number;
  /** Where server-to-server requests go; without it, straight to each domain's registered URL. */
  federationProxyUrl: string | undefined;
  /**
   * How long a peer's federation request may take to send its body once its headers are in: one that
   * trickles it is cut off (408), rather than holding a connection until Node's own request timeout.
   */
  federationBodyTimeoutMs: number;
  /**
   * Whether apps' card callback URLs may be called on this machine, loopback (APP_CALLBACKS_LOOPBACK; on
   * outside production). Link-local, unspecified and multicast addresses never are.
   */
  appCalls: { loopback: boolean };
  /** Seals the node's private signing keys at rest. */
  secretKey: string;
  /** Older secrets that still open what they sealed, until `atrium secrets reseal --node` (NODE_SECRET_KEY_PREVIOUS). */
  previousSecretKeys: string[];
  registryTtlMs: number;
  /** How often the ended sessions are fetched from the gateway (it also pushes each at once). */
  endedAccessPollMs: number;
  /** Retries of a transaction another domain refused by policy before what waits for it is withheld and its authors are told (about 2 minutes at 7). */
  federationPolicyRetries: number;
  /**
   * How long events for a destination the gateway's registry no longer has (a domain removed there) are
   * kept, in case it is added back, before they are set aside as failed deliveries and their authors told.
   */
  federationRemovedGraceMs: number;
  /** How often the outbox looks for what is due to go to other domains (besides being kicked after a commit). */
  federationOutboxPollMs: number;
  /** Web origins whose pages may call `/api/v1` from the browser (the portal); the gateway's by default. */
  portalOrigins: string[];
  /** The bearer token /metrics asks for; without it, /metrics answers this machine only. */
  metricsToken: string | undefined;
};

/** The names of every variable a node reads. */
export const NODE_VARIABLES: readonly string[] = Object.keys(schema.shape);

export function loadNodeConfig(env: Env): NodeConfig {
  const v = parseEnv(schema, env);
  if (v.ATRIUM_MODE === 'production') {
    const problems: string[] = [];
    if (!v.NODE_PUBLIC_URL?.startsWith('https://'))
      problems.push('NODE_PUBLIC_URL: must be an https:// URL in production');
    if (!v.GATEWAY_ISSUER.startsWith('https://'))
      problems.push('GATEWAY_ISSUER: must be an https:// URL in production');
    if (!v.NODE_SECRET_KEY)
      problems.push('NODE_SECRET_KEY: required in production (it seals the node signing keys at rest)');
    if (problems.length > 0) throw new ConfigError(problems);
  }
  if (v.ATTACHMENT_UNSHARED_QUOTA_MB * MB < v.ATTACHMENT_MAX_BYTES)
    throw new ConfigError(['ATTACHMENT_UNSHARED_QUOTA_MB: must hold at least one file of ATTACHMENT_MAX_BYTES']);
  // Unshared uploads count in it too: a smaller cap would leave the unshared quota nothing to do.
  if (v.ATTACHMENT_STORAGE_QUOTA_MB > 0 && v.ATTACHMENT_STORAGE_QUOTA_MB < v.ATTACHMENT_UNSHARED_QUOTA_MB)
    throw new ConfigError(['ATTACHMENT_STORAGE_QUOTA_MB: must be 0 (no cap) or at least ATTACHMENT_UNSHARED_QUOTA_MB']);
  const dataDir = resolve(v.ATRIUM_DATA_DIR);
  const secretKey = v.NODE_SECRET_KEY ?? developmentSecret(dataDir, v.NODE_DOMAIN);
  // Every sealer made from the secret, here or in the CLI, opens with these too.
  acceptPreviousSecrets(secretKey, v.NODE_SECRET_KEY_PREVIOUS);
  return {
    mode: v.ATRIUM_MODE,
    domain: v.NODE_DOMAIN,
    port: v.NODE_PORT,
    host: v.NODE_HOST,
    publicUrl:
      v.NODE_PUBLIC_URL?.replace(/\/$/, '') ?? (v.NODE_PORT === 0 ? undefined : `http://localhost:${v.NODE_PORT}`),
    gatewayIssuer: v.GATEWAY_ISSUER.replace(/\/$/, ''),
    database: { url: v.DATABASE_URL, sqliteFile: join(dataDir, `node-${v.NODE_DOMAIN}.sqlite`) },
    redisUrl: v.REDIS_URL,
    redisPrefix: `${v.REDIS_PREFIX}:${v.NODE_DOMAIN}`,
    dataDir,
    logLevel: v.LOG_LEVEL,
    flushMode: v.FLUSH_MODE,
    flushWindowMs: v.FLUSH_WINDOW_MS,
    flushMaxBatch: v.FLUSH_MAX_BATCH,
    flushConcurrency: v.FLUSH_CONCURRENCY,
    flushLanes: v.FLUSH_LANES,
    searchIndexBacklog: v.SEARCH_INDEX_BACKLOG,
    maxFrameBytes: v.MAX_FRAME_BYTES,
    maxTextChars: v.MAX_TEXT_CHARS,
    viewMembersMax: v.VIEW_MEMBERS_MAX,
    recallWindowSeconds: v.RECALL_WINDOW_SECONDS,
    framesPerSecond: v.FRAMES_PER_SECOND,
    abuseStrikes: v.ABUSE_STRIKES,
    attachments: {
      dir: join(dataDir, `attachments-${v.NODE_DOMAIN}`),
      maxBytes: v.ATTACHMENT_MAX_BYTES,
      types: v.ATTACHMENT_TYPES,
      unsharedQuotaBytes: v.ATTACHMENT_UNSHARED_QUOTA_MB * MB,
      storageQuotaBytes: v.ATTACHMENT_STORAGE_QUOTA_MB > 0 ? v.ATTACHMENT_STORAGE_QUOTA_MB * MB : undefined,
      unsharedKeepHours: v.ATTACHMENT_UNSHARED_KEEP_HOURS,
      uploadsPerHour: v.ATTACHMENT_UPLOADS_PER_HOUR,
    },
    botWritesPerMinute: v.BOT_WRITES_PER_MINUTE,
    personLimits: {
      messagesPerSecond: v.MESSAGES_PER_SECOND,
      messageBurst: v.MESSAGE_BURST,
      socketsPerPerson: v.SOCKETS_PER_PERSON,
      searchesPerMinute: v.SEARCHES_PER_MINUTE,
      directorySearchesPerMinute: v.DIRECTORY_SEARCHES_PER_MINUTE,
      groupCreationsPerHour: v.GROUP_CREATIONS_PER_HOUR,
      webhooksPerGroup: v.WEBHOOKS_PER_GROUP,
      webhookCreationsPerHour: v.WEBHOOK_CREATIONS_PER_HOUR,
    },
    authGraceSeconds: v.AUTH_GRACE_SECONDS,
    maxTokenLifetimeSeconds: v.MAX_TOKEN_LIFETIME_SECONDS,
    heartbeatSeconds: v.HEARTBEAT_SECONDS,
    federationProxyUrl: v.FEDERATION_PROXY_URL?.replace(/\/$/, ''),
    federationBodyTimeoutMs: v.FEDERATION_BODY_TIMEOUT_SECONDS * 1000,
    appCalls: { loopback: v.APP_CALLBACKS_LOOPBACK ?? v.ATRIUM_MODE !== 'production' },
    secretKey,
    previousSecretKeys: v.NODE_SECRET_KEY_PREVIOUS,
    registryTtlMs: v.REGISTRY_TTL_SECONDS * 1000,
    endedAccessPollMs: Math.round(v.ENDED_ACCESS_POLL_SECONDS * 1000),
    federationPolicyRetries: v.FEDERATION_POLICY_RETRIES,
    federationRemovedGraceMs: v.FEDERATION_REMOVED_GRACE_SECONDS * 1000,
    federationOutboxPollMs: v.FEDERATION_OUTBOX_POLL_MS,
    portalOrigins: v.PORTAL_ORIGINS ?? [new URL(v.GATEWAY_ISSUER).origin],
    metricsToken: v.METRICS_TOKEN,
  };
}

/** Where a node outside production keeps the sealing secret it generated (NODE_SECRET_KEY unset). */
export function developmentSecretFile(env: Env, domain: string): string {
  return secretFileIn(resolve(parseEnv(schema.pick({ ATRIUM_DATA_DIR: true }), env).ATRIUM_DATA_DIR), domain);
}

function secretFileIn(dataDir: string, domain: string): string {
  return join(dataDir, `node-${domain}.secret`);
}

/** Outside production a node's sealing secret is generated once and kept in the data directory. */
function developmentSecret(dataDir: string, domain: string): string {
  const file = secretFileIn(dataDir, domain);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}
