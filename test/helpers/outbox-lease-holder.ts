/**
 * A process of a domain that takes the outbox lease towards one destination and keeps it (every attempt
 * fails), until it is killed: run as a child of a test that then kills it without a chance to clean up.
 * Configured by environment: OUTBOX_DB_URL or OUTBOX_SQLITE_FILE, PROCESS_ID, INSTANCE, HEARTBEAT_MS.
 */
import { openDatabase } from '../../core/database.ts';
import { createLogger } from '../../core/logger.ts';
import { createOutbox } from '../../node/federation/outbox.ts';
import { defineFederationModels } from '../../node/federation/models.ts';

const env = process.env;
const sequelize = await openDatabase({ url: env.OUTBOX_DB_URL || undefined, sqliteFile: env.OUTBOX_SQLITE_FILE ?? '' });
const outbox = createOutbox({
  sequelize,
  models: defineFederationModels(sequelize),
  transport: { post: async () => ({ status: 503, body: { error: { code: 'unavailable', message: 'down' } } }) },
  processId: env.PROCESS_ID!,
  domain: 'eng.campus.test',
  instance: env.INSTANCE!,
  heartbeatMs: Number(env.HEARTBEAT_MS),
  logger: createLogger('lease-holder', 'silent'),
  pollMs: 100,
});
await outbox.start();
// The outbox's timers do not hold a process open (a node's server does): this one lives until killed.
setInterval(() => undefined, 60_000);
