import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import express from 'express';
import type { Sequelize } from 'sequelize';
import { closeLongReads, databaseReachable, openDatabase, openLongReads } from '../core/database.ts';
import { createDatabaseRateLimiter } from '../core/database-rate-limit.ts';
import { healthRoutes } from '../core/health.ts';
import { jsonErrors } from '../core/json-errors.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { createMetrics } from '../core/metrics.ts';
import { assertMigrated, migrate } from '../core/migrator.ts';
import { warnIfResealDue } from '../core/reseal.ts';
import {
  createTokenVerifier,
  refusingDisabledClients,
  refusingEndedAccess,
  type TokenVerifier,
} from './auth/token-verifier.ts';
import { createDomainStanding, refusingWhileRemoved, type DomainStanding } from './auth/domain-standing.ts';
import { createEndedAccess } from './auth/ended-access.ts';
import { refusingRotatedBotTokens } from './auth/ended-bot-tokens.ts';
import { createGatewayKeys, type GatewayKeys } from './auth/gateway-keys.ts';
import { createEndedAccessPoller } from './auth/ended-access-poller.ts';
import { endingCreatorsWebhooks } from './webhooks/ended-creators.ts';
import { leavingGroupsOfDeleted } from './conversations/deleted-members.ts';
import { followingMovedMembers } from './conversations/moved-members.ts';
import type { Bus, BusEvent } from './bus/bus.ts';
import { createLocalBus } from './bus/local-bus.ts';
import { createRedisBus } from './bus/redis-bus.ts';
import { createRedisLink, type RedisLink } from './bus/redis-link.ts';
import type { NodeConfig } from './config.ts';
import type { NodeServices } from './context.ts';
import { apiRoutes } from './http/api.ts';
import { backchannelLogoutRoute } from './http/backchannel-logout.ts';
import { portalCors } from './http/cors.ts';
import { fanOut } from './messages/fan-out.ts';
import { createGroupCommitter } from './messages/group-commit.ts';
import { createSearchIndexer } from './messages/search-index.ts';
import { createReceiptCommitter } from './receipts/receipt-committer.ts';
import { createTypingNews } from './presence/typing-news.ts';
import { createReceiptNews } from './receipts/receipt-news.ts';
import { defineNodeModels, type NodeModels } from './models.ts';
import { createMemberCache, type MemberCache } from './conversations/member-cache.ts';
import { lookForMissingFiles } from './attachments/missing-files.ts';
import { createPersonLimits } from './limits/person-limits.ts';
import { domainOf } from '../protocol/address.ts';
import { gatewayFailure, reasonOf } from '../protocol/gateway-refusal.ts';
import { Gauge, Histogram } from 'prom-client';
import { createSealer, type Sealer } from '../core/seal.ts';
import { createUnitServer, type UnitServer } from '../core/unit-server.ts';
import { createFederation, type Federation } from './federation/federation.ts';
import { defineFederationModels, type FederationModels } from './federation/models.ts';
import { assertKeyOpens, NODE_KEY_SEAL } from './federation/node-keys.ts';
import type { Outbox } from './federation/outbox.ts';
import { recordDeliveryFailures } from './federation/delivery-failures.ts';
import type { EndedAccess } from './auth/ended-access.ts';
import type { AppsServices } from './bots/apps-services.ts';
import type { Metrics } from '../core/metrics.ts';
import type { PresenceStore } from './presence/presence-store.ts';
import { federationRoutes } from './federation/routes.ts';
import { directoryRoute, type GatewayDirectory } from './federation/directory.ts';
import { createMovedPeers, forgettingMovedPeers, type MovedPeers } from './conversations/moved-peers.ts';
import { createAddressBook } from './federation/address-book.ts';
import type { Transport } from './federation/transport.ts';
import { createLocalPresence } from './presence/presence-store.ts';
import { createRedisPresence } from './presence/redis-presence.ts';
import { createSocketServer, socketUpgrades, type SocketServer } from './ws/socket-server.ts';
import { CLOSE } from './ws/close-codes.ts';
import { createAppsServices } from './bots/apps-services.ts';
import { tokenClientActive } from './bots/token-client-active.ts';
import { forgettingChangedApps } from './bots/app-changes.ts';
import type { AppDirectory } from './bots/app-directory.ts';
import type { BotReach } from './bots/bot-reach.ts';
import { incomingWebhookRoutes } from './webhooks/webhook-routes.ts';
import { startUnsharedSweeps } from './attachments/sweep-unshared.ts';
import { startFileRemovalNotices } from './attachments/removal-notices.ts';

export type DomainNode = {
  domain: string;
  /** The public URL (token audience); behind a load balancer several processes share it. */
  url: string;
  /** Where this very process listens. */
  localUrl: string;
  config: NodeConfig;
  server: Server;
  sequelize: Sequelize;
  models: NodeModels;
  services: NodeServices;
  sockets: SocketServer;
  verifier: TokenVerifier;
  federation: Federation;
  federationModels: FederationModels;
  logger: Logger;
  close(): Promise<void>;
};

/** `clock`: the machine's unless given (tests pass one they can move). */
export type StartNodeOptions = { migrate?: boolean; logger?: Logger; clock?: Clock };

/**
 * Connections besides the flushes': the search indexer, receipts, the federation outbox, and requests
 * (sync, search, group changes), which must not wait for every lane's flush to end.
 */
const SPARE_CONNECTIONS = 5;

/** The node's MariaDB connections: every flush that may be open at once, and the spare ones; at least 10. */
function connectionsFor(config: Pick<NodeConfig, 'flushLanes' | 'flushConcurrency'>): number {
  return Math.max(10, config.flushLanes * config.flushConcurrency + SPARE_CONNECTIONS);
}

/**
 * Composition root of a domain node: config → database → bus → group committer → HTTP and WebSocket.
 * close() drains in reverse: sockets told to go away, queued writes flushed, bus and database closed.
 */
export async function startNode(config: NodeConfig, options: StartNodeOptions = {}): Promise<DomainNode> {
  const logger = options.logger ?? createLogger(`node:${config.domain}`, config.logLevel);
  const sequelize = await openDatabase({ ...config.database, connections: connectionsFor(config) });
  const http = createUnitServer({ upgrades: true });
  const redis = config.redisUrl ? createRedisLink(config.redisUrl, logger) : null;
  try {
    return await startOn({ sequelize, http, redis }, config, logger, options);
  } catch (error) {
    // A unit that fails to start must not keep its port, its Redis connections or its database pool (and
    // so the process) alive.
    await http.close(0);
    redis?.disconnect();
    await sequelize.close().catch(() => undefined);
    throw error;
  }
}

async function startOn(
  { sequelize, http, redis }: { sequelize: Sequelize; http: UnitServer; redis: RedisLink | null },
  config: NodeConfig,
  logger: Logger,
  options: StartNodeOptions,
): Promise<DomainNode> {
  if (options.migrate) await migrate(sequelize, 'node');
  else await assertMigrated(sequelize, { kind: 'node', domain: config.domain });
  const models = defineNodeModels(sequelize);
  const { federationModels, sealer } = await openKeys(sequelize, config, logger);
  const longReads = await openLongReads(config.database, sequelize);
  const processId = randomUUID();
  const clock = options.clock ?? systemClock;
  const { bus, presence } = await openBus(config, redis, processId, logger);

  // Open before the rest is wired, since the node's URL may name the port the OS chose; until serve() below,
  // every request and upgrade is answered 503 "starting" (docs/operations.md, "Starting and stopping").
  // The machine allows a backlog of 4096; Node's default of 511 would drop a reconnect storm's SYNs.
  const port = await http.listen({ port: config.port, host: config.host, backlog: 4096 });
  const localUrl = `http://127.0.0.1:${port}`;
  const url = config.publicUrl ?? localUrl;

  const services = {} as NodeServices;
  const members = createMemberCache(models, { now: clock.now });
  const standing = createDomainStanding({ domain: config.domain, logger });
  const { federation, outbox, transport } = await startFederation({
    config,
    sequelize,
    models,
    federationModels,
    members,
    sealer,
    processId,
    port,
    logger,
    clock,
    services,
    standing,
  });
  const rotationTimer = keepRotating(federation, logger);
  const signingKey = federation.keys.signingKey;
  const { committer, receipts, searchIndexer } = startCommitters(services, sequelize, config, logger, {
    federation,
    outbox,
    clock,
  });
  const { apps, gatewayDirectory, addresses } = appsAndAddresses({
    config,
    sequelize,
    url,
    signingKey,
    transport,
    clock,
    logger,
  });
  Object.assign(services, { config, domain: config.domain, sequelize, longReads, models, bus, committer, receipts });
  Object.assign(services, { searchIndexer, receiptNews: createReceiptNews(bus) });
  Object.assign(services, { typing: createTypingNews({ bus, domain: config.domain, clock, logger }) });
  Object.assign(services, { presence, members, federation, addresses, apps, logger, clock });
  services.movedPeers = createMovedPeers({ directory: gatewayDirectory, federation, clock });
  Object.assign(services, personAllowances(sequelize, config, clock));
  await outbox.start();

  const { ended, endedPoller, verifier, gatewayKeys } = await endedAccessGate({
    standing,
    sequelize,
    bus,
    config,
    url,
    signingKey,
    apps,
    webhooks: { Webhook: apps.Webhook, directory: gatewayDirectory, apps: apps.directory },
    movedPeers: services.movedPeers,
    services,
    clock,
    logger,
  });
  const { metrics, sockets } = socketsWithMetrics(services, verifier, tokenClientActive(apps.directory), outbox);
  followBus(bus, redis, { domain: config.domain, members, ended, federation, sockets });
  followStanding(standing, { sockets, federation, outbox, logger });

  const app = httpApp({
    services,
    url,
    metrics,
    federation,
    federationModels,
    sealer,
    verifier,
    ended,
    gatewayDirectory,
    standing,
    redis,
    gatewayKeys,
  });
  http.serve(app, socketUpgrades(sockets));
  endedPoller.start();
  const uploadSweeps = startFileSweeps(services);
  void lookForMissingFiles(services, logger).catch((err: unknown) =>
    logger.warn({ err }, 'could not look for missing files'),
  );
  // Peers that kept events for this domain while it was away send them now rather than after their backoff.
  void federation.delivery.announce().catch((err: unknown) => peersNotTold(logger, err, 'up'));
  logger.info({ domain: config.domain, url, listen: `${config.host}:${port}` }, 'domain node listening');

  return {
    domain: config.domain,
    url,
    localUrl,
    config,
    server: http.server,
    sequelize,
    models,
    services,
    sockets,
    verifier,
    federation,
    federationModels,
    logger,
    // The services hold the rest: committers, indexer, federation, bus, presence, the database.
    close: () => closeInReverse({ ...services, http, sockets, rotationTimer, endedPoller, uploadSweeps, outbox }),
  };
}

/**
 * No new connections or upgrades; chat sockets told 1001 server_shutdown; HTTP requests already read are
 * answered (for up to 5 s) while the committers still run, since an API send waits for its flush; then
 * the rest stops in the reverse of the order it started.
 */
async function closeInReverse(parts: {
  http: UnitServer;
  sockets: SocketServer;
  rotationTimer: NodeJS.Timeout;
  endedPoller: { stop(): Promise<void> };
  uploadSweeps: { stop(): Promise<void> };
  fileRemovals: { stop(): Promise<void> };
  committer: { drain(): Promise<void> };
  receipts: { drain(): Promise<void> };
  searchIndexer: { stop(): Promise<void> };
  outbox: Outbox;
  federation: Federation;
  bus: Bus;
  presence: PresenceStore;
  sequelize: Sequelize;
  longReads: Sequelize;
}): Promise<void> {
  parts.http.stopAccepting();
  await parts.sockets.close();
  await parts.http.drain(5_000);
  clearInterval(parts.rotationTimer);
  await parts.endedPoller.stop();
  await parts.uploadSweeps.stop();
  await parts.fileRemovals.stop();
  await parts.committer.drain();
  await parts.receipts.drain();
  // What is still queued stays queued: the next start (or another process) indexes it.
  await parts.searchIndexer.stop();
  await parts.outbox.stop();
  parts.federation.presence.stop();
  await parts.bus.close();
  await parts.presence.clear();
  await closeLongReads(parts.longReads, parts.sequelize);
  await parts.sequelize.close();
}

/**
 * Where the node's sealed keys are, and what opens them: a node started with another secret than the
 * one its keys were sealed with (and not given it in NODE_SECRET_KEY_PREVIOUS) refuses to start.
 */
async function openKeys(
  sequelize: Sequelize,
  config: NodeConfig,
  logger: Logger,
): Promise<{ federationModels: FederationModels; sealer: Sealer }> {
  const federationModels = defineFederationModels(sequelize);
  const sealer = createSealer(config.secretKey, NODE_KEY_SEAL);
  await assertKeyOpens(federationModels, sealer, config.domain);
  const sealed = (await federationModels.NodeKey.findAll()).map((k) => k.privateJwkSealed);
  const command = `atrium secrets reseal --node ${config.domain}`;
  warnIfResealDue(logger, sealer, sealed, { variable: 'NODE_SECRET_KEY', command });
  return { federationModels, sealer };
}

/** The bus between the domain's processes, and where presence is kept: Redis when configured, else this process. */
async function openBus(
  config: NodeConfig,
  redis: RedisLink | null,
  processId: string,
  logger: Logger,
): Promise<{ bus: Bus; presence: PresenceStore }> {
  if (!redis) return { bus: createLocalBus(), presence: createLocalPresence() };
  const bus = await createRedisBus(redis, config.redisPrefix, processId, logger);
  const presence = await createRedisPresence(redis, config.redisPrefix, processId);
  return { bus, presence };
}

/** What the bus brings is handled; after an outage of Redis, the process catches up. */
function followBus(bus: Bus, redis: RedisLink | null, parts: Parameters<typeof busHandler>[0]): void {
  bus.subscribe(busHandler(parts));
  redis?.onBack(() => catchUp(parts.members, parts.sockets));
}

/**
 * Redis answers again after an outage, during which this process heard nothing of the others: what it
 * cached of memberships may be outdated, and its sockets may have missed pushes. The cache starts
 * afresh, and the sockets are closed with 1012 `catch_up`: a client reconnects and its sync brings
 * what it missed.
 */
function catchUp(members: MemberCache, sockets: SocketServer): void {
  members.invalidateAll();
  for (const connection of sockets.registry.all()) connection.socket.close(CLOSE.catchUp.code, CLOSE.catchUp.reason);
}

/** What one person may do on the node: uploads an hour, and messages, searches and creations (node/limits/). */
function personAllowances(
  sequelize: Sequelize,
  config: NodeConfig,
  clock: Clock,
): Pick<NodeServices, 'uploadLimiter' | 'limits'> {
  return {
    uploadLimiter: createDatabaseRateLimiter({
      sequelize,
      name: 'upload',
      limit: config.attachments.uploadsPerHour,
      windowSeconds: 3600,
      now: clock.now,
    }),
    limits: createPersonLimits({ sequelize, limits: config.personLimits, now: clock.now }),
  };
}

/**
 * What the node keeps doing about files: removals their conversations' homes still await are told, and
 * uploads no message carries are swept. Called in the turn that starts serving, so that the removals are
 * among the services before a peer's request tells them it is up (federation/routes.ts).
 */
function startFileSweeps(services: NodeServices): { stop(): Promise<void> } {
  services.fileRemovals = startFileRemovalNotices(services);
  return startUnsharedSweeps(services);
}

/** A rotation made while the gateway was away (or from the CLI) completes here: at start, then every minute. */
function keepRotating(federation: Federation, logger: Logger): NodeJS.Timeout {
  const timer = setInterval(
    () => void federation.keys.completeRotation().catch((err) => logger.warn({ err }, 'rotation check failed')),
    60_000,
  );
  timer.unref();
  void federation.keys.completeRotation().catch(() => undefined);
  return timer;
}

/** What the node does as the gateway forgets its domain, and as it knows it again (domain-standing.ts). */
function followStanding(
  standing: DomainStanding,
  parts: { sockets: SocketServer; federation: Federation; outbox: Outbox; logger: Logger },
): void {
  const { sockets, federation, outbox, logger } = parts;
  // Removed: every socket of this process ends, as every token is refused from now on.
  standing.onRemoved(() => sockets.registry.endAll('domain_removed'));
  // Added again: what the outbox held meanwhile goes now, and peers are told this node is back, so that
  // what they kept for it comes now rather than after their backoff.
  standing.onKnownAgain(() => {
    void outbox.resume().catch((err: unknown) => logger.warn({ err }, 'could not resume the outbox'));
    void federation.delivery.announce().catch((err: unknown) => peersNotTold(logger, err, 'back'));
  });
}

/**
 * Peers could not be told that this node is up (or back): they send what they kept for it after their
 * backoff instead. Where that is because the gateway's registry cannot be read (the gateway away, or
 * refusing this node's requests, e.g. its keys not pinned), the registry client has said so already, with
 * what to do: said here only at debug, not again with a stack.
 */
function peersNotTold(logger: Logger, err: unknown, state: 'up' | 'back'): void {
  if (gatewayFailure(err))
    logger.debug({ reason: reasonOf(err) }, `could not tell peers this node is ${state}: the registry cannot be read`);
  else logger.warn({ err }, `could not tell peers this node is ${state}`);
}

/** Whether `slug@this-domain` is the address of an app's bot that may take part in conversations. */
function botOf(apps: AppsServices): (slug: string) => Promise<boolean> {
  return async (slug) => {
    const app = await apps.directory.get(slug);
    return app !== null && app.botEnabled && !app.disabled;
  };
}

/** What every process does with what the bus brings: caches dropped, ended access heard, sockets told. */
function busHandler(parts: {
  domain: string;
  members: MemberCache;
  ended: EndedAccess;
  federation: Federation;
  sockets: SocketServer;
}): (event: BusEvent) => void {
  const { domain, members, ended, federation, sockets } = parts;
  return (event) => {
    if (event.kind === 'membership') return members.invalidate(event.conversationId);
    if (event.kind === 'access.ended') {
      ended.heard(event.entries);
      // After `heard`, which forgot what was kept of a changed app: its sockets are checked on a fresh answer.
      for (const entry of event.entries)
        if (entry.kind === 'app') sockets.appChanged({ slug: entry.subject, clientId: entry.clientId });
    }
    // Every process hears every change of the domain's people: the one that other domains asked tells them.
    if (event.kind === 'presence' && domainOf(event.address) === domain) federation.presence.localChanged(event);
    sockets.registry.deliver(event);
  };
}

/** What a sender waits for: from its frame's arrival to the ack, which follows the commit (and the pushes). */
function sendAckHistogram(metrics: Metrics): Histogram {
  return new Histogram({
    name: 'atrium_im_send_ack_seconds',
    help: "From a send frame's arrival to its ack, sent once the message is durable",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metrics.registry],
  });
}

function outboxDepthGauge(metrics: Metrics, outbox: Outbox): void {
  new Gauge({
    name: 'atrium_federation_outbox_depth',
    help: 'Events waiting in the outbox, per destination domain',
    labelNames: ['destination'],
    registers: [metrics.registry],
    async collect() {
      this.reset();
      for (const [destination, depth] of await outbox.depth()) this.set({ destination }, depth);
    },
  });
}

/** The node's HTTP endpoints: health and metrics, federation, back-channel logout, the directory, webhooks, the API. */
function httpApp(parts: {
  services: NodeServices;
  url: string;
  metrics: Metrics;
  federation: Federation;
  federationModels: FederationModels;
  sealer: Sealer;
  verifier: TokenVerifier;
  ended: EndedAccess;
  gatewayDirectory: GatewayDirectory;
  standing: DomainStanding;
  /** The domain's Redis, when it runs as several processes: a process that cannot reach it is not ready. */
  redis: RedisLink | null;
  /**
   * The gateway's signing keys: a process that holds none, or whose gateway calls itself by another issuer
   * than GATEWAY_ISSUER, can verify no person's token, so it is not ready.
   */
  gatewayKeys: GatewayKeys;
}): express.Express {
  const { services, metrics, verifier, standing, redis, gatewayKeys } = parts;
  const { config, sequelize, logger } = services;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  // Every answer is JSON or a file download: never to be sniffed into a page or a script.
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  app.use(metrics.httpMiddleware);
  app.use(
    healthRoutes({
      registry: metrics.registry,
      metricsToken: config.metricsToken,
      ready: async () => ({
        database: await databaseReachable(sequelize),
        domain: !standing.removed(),
        gateway: await gatewayKeys.ready(),
        ...(redis ? { bus: redis.up() } : {}),
      }),
      reasons: {
        domain: `${config.domain} was removed from the campus at the gateway: this node serves no one until it is added again`,
        gateway: () => gatewayKeys.whyNotReady(),
        bus: `Redis (${redis?.where}) does not answer: this process cannot reach the domain's other processes until it does`,
      },
    }),
  );
  app.use(federationRoutes(services, parts.federation, parts.federationModels, parts.sealer));
  app.use(
    backchannelLogoutRoute({
      issuer: config.gatewayIssuer,
      audience: parts.url,
      keys: verifier.keys,
      ended: parts.ended,
    }),
  );
  app.use('/api/v1', portalCors(config.portalOrigins));
  const pace = { limits: services.limits, perMinute: config.personLimits.directorySearchesPerMinute };
  app.use(directoryRoute({ ...parts.gatewayDirectory, verifier, clients: services.apps.directory, pace }));
  app.use(incomingWebhookRoutes(services, standing));
  app.use('/api/v1', apiRoutes(services, verifier));
  app.use((_req, res) => res.status(404).json({ error: { code: 'not_found', message: 'No such endpoint' } }));
  app.use(jsonErrors(logger));
  return app;
}

/**
 * The group committers of entries and of receipts; an entry's commit also feeds the outbox, the fan-out
 * and the search indexer.
 */
function startCommitters(
  services: NodeServices,
  sequelize: Sequelize,
  config: NodeConfig,
  logger: Logger,
  { federation, outbox, clock }: { federation: Federation; outbox: Outbox; clock: Clock },
) {
  const committer = createGroupCommitter({
    sequelize,
    mode: config.flushMode,
    windowMs: config.flushWindowMs,
    clock,
    maxBatch: config.flushMaxBatch,
    concurrency: config.flushConcurrency,
    lanes: config.flushLanes,
    logger,
    beforeCommit: (tx, stored) => federation.delivery.recordEntries(tx, stored),
    nothingBeforeCommit: (entries) => federation.delivery.nothingToRecord(entries),
    afterCommit: (stored, outboxTouched) => {
      if (outboxTouched) outbox.kick();
      services.searchIndexer.kick(stored.length);
      void fanOut(services, stored).catch((err) => logger.error({ err }, 'fan-out failed'));
    },
  });
  const receipts = createReceiptCommitter({
    sequelize,
    domain: config.domain,
    windowMs: config.flushWindowMs,
    maxBatch: config.flushMaxBatch,
    logger,
  });
  const searchIndexer = createSearchIndexer({ sequelize, logger, backlog: config.searchIndexBacklog });
  return { committer, receipts, searchIndexer };
}

/**
 * Sessions and people the gateway ended, known from the database before the first token is checked and
 * polled for after, and the token verifier that refuses them (and tokens of disabled apps, and every token
 * once the gateway no longer knows the domain: domain-standing.ts).
 */
async function endedAccessGate(deps: {
  standing: DomainStanding;
  sequelize: Sequelize;
  bus: Bus;
  config: NodeConfig;
  url: string;
  signingKey: Parameters<typeof createEndedAccessPoller>[0]['signingKey'];
  /**
   * Apps as the gateway says: their tokens end when they may no longer be used, and what is kept of a
   * changed one (whom it is for included) is asked again.
   */
  apps: { directory: AppDirectory; reach: Pick<BotReach, 'forget'> };
  /** Whose webhooks end with their creator's access (node/webhooks/ended-creators.ts). */
  webhooks: Omit<Parameters<typeof endingCreatorsWebhooks>[1], 'logger'>;
  /** Told when someone leaves this domain, so that a send to them is refused at once (conversations/moved-peers.ts). */
  movedPeers: MovedPeers;
  /**
   * What follows people who left this domain into their groups (conversations/moved-members.ts), and takes
   * deleted people out of them (conversations/deleted-members.ts).
   */
  services: NodeServices;
  clock: Clock;
  logger: Logger;
}) {
  const { standing, sequelize, bus, config, url, signingKey, apps, clock, logger } = deps;
  const clientActive = tokenClientActive(apps.directory);
  // Outermost: people who left are followed into their groups once the entry is recorded (moved-members.ts).
  const ended = followingMovedMembers(
    forgettingMovedPeers(
      forgettingChangedApps(
        leavingGroupsOfDeleted(
          endingCreatorsWebhooks(createEndedAccess({ sequelize, bus, now: clock.now }), { ...deps.webhooks, logger }),
          deps.services,
        ),
        apps,
      ),
      deps.movedPeers,
    ),
    deps.services,
  );
  await ended.load();
  const endedPoller = createEndedAccessPoller({
    gatewayIssuer: config.gatewayIssuer,
    origin: config.domain,
    signingKey,
    ended,
    standing,
    intervalMs: config.endedAccessPollMs,
    logger,
  });
  // Asked for at once, so that a gateway that cannot be reached, or that calls itself by another issuer than
  // GATEWAY_ISSUER, is said at start, and /readyz knows.
  const gatewayKeys = createGatewayKeys({ issuer: config.gatewayIssuer, now: clock.now, logger });
  void gatewayKeys.held();
  const verifier = refusingWhileRemoved(
    refusingRotatedBotTokens(
      refusingEndedAccess(
        refusingDisabledClients(
          createTokenVerifier({
            issuer: config.gatewayIssuer,
            audience: url,
            domain: config.domain,
            jwks: gatewayKeys,
            now: clock.now,
            logger,
            maxLifetimeSeconds: config.maxTokenLifetimeSeconds,
          }),
          clientActive,
        ),
        ended,
      ),
      ended,
    ),
    standing,
    config.domain,
  );
  return { ended, endedPoller, verifier, gatewayKeys };
}

/**
 * The node's federation: keys, registry, transport and outbox; refusals another domain gives for good are
 * recorded, and the outbox holds what waits while this domain is removed at the gateway.
 */
function startFederation(deps: {
  config: NodeConfig;
  sequelize: Sequelize;
  models: NodeModels;
  federationModels: FederationModels;
  members: MemberCache;
  sealer: Sealer;
  processId: string;
  port: number;
  logger: Logger;
  clock: Clock;
  services: NodeServices;
  standing: DomainStanding;
}) {
  const { config, sequelize, models, federationModels, members, sealer, processId, port, logger, clock, services } =
    deps;
  return createFederation({
    config,
    sequelize,
    models,
    federationModels,
    members,
    sealer,
    processId,
    // Only one process at a time can listen on a host's port: the process that did before is gone.
    instance: `${hostname()}:${port}`,
    logger,
    clock,
    // Entries another domain refused for good (its own policy) were acknowledged here already: say so.
    onRefused: (destination, entries, refusal) => recordDeliveryFailures(services, destination, entries, refusal),
    paused: () => deps.standing.removed(),
  });
}

/** The WebSocket endpoint, and the metrics that watch it and the outbox. */
function socketsWithMetrics(
  services: NodeServices,
  verifier: TokenVerifier,
  clientActive: Parameters<typeof refusingDisabledClients>[1],
  outbox: Outbox,
) {
  const { config } = services;
  const metrics = createMetrics(`node:${config.domain}`);
  const sendAck = sendAckHistogram(metrics);
  outboxDepthGauge(metrics, outbox);
  const sockets = createSocketServer(services, verifier, {
    onSendAcked: (seconds) => sendAck.observe(seconds),
    clientActive,
    clientCheckMs: config.registryTtlMs,
  });
  return { metrics, sockets };
}

/** Apps and their bots (from the gateway's registry), and the address book that checks who exists. */
function appsAndAddresses(deps: {
  config: NodeConfig;
  sequelize: Sequelize;
  url: string;
  signingKey: Federation['keys']['signingKey'];
  transport: Transport;
  clock: Clock;
  logger: Logger;
}) {
  const { config, sequelize, url, signingKey, transport, clock, logger } = deps;
  const apps = createAppsServices({
    sequelize,
    gatewayIssuer: config.gatewayIssuer,
    domain: config.domain,
    publicUrl: url,
    signingKey,
    ttlMs: config.registryTtlMs,
    botWritesPerMinute: config.botWritesPerMinute,
    logger,
    now: clock.now,
  });
  const gatewayDirectory = { domain: config.domain, gatewayIssuer: config.gatewayIssuer, signingKey };
  const addresses = createAddressBook({ directory: gatewayDirectory, transport, isBot: botOf(apps), now: clock.now });
  return { apps, gatewayDirectory, addresses };
}
