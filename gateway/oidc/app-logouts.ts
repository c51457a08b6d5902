import type Provider from 'oidc-provider';
import { Op, type Sequelize } from 'sequelize';
import { AppCallRefusedError } from '../../core/app-call-policy.ts';
import type { Logger } from '../../core/logger.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { AppLogout } from '../models/index.ts';
import { appOfClient } from '../apps-registry/client-gate.ts';
import { PORTAL_CLIENT_ID } from '../portal/portal-client.ts';
import { CONSOLE_CLIENT_ID } from '../admin/console-client.ts';
import { inTransaction } from '../transaction.ts';
import { kickedRunner } from '../../core/kicked-runner.ts';

/** How an app that does not take a logout is tried again: `firstDelayMs` after the first try, doubling. */
export type AppLogoutRetry = { firstDelayMs: number; maxTries: number };

/** Nine tries, the last about 21 minutes after the first (5 s + 10 s + ... + 640 s). */
export const APP_LOGOUT_RETRY: AppLogoutRetry = { firstDelayMs: 5_000, maxTries: 9 };

// A claimed row is left to its claimer this long; well over one send (the provider's fetch gives up after
// 2.5 s), so a second gateway process sends it again only after its claimer died mid-send.
const CLAIM_MS = 60_000;
const BATCH = 100;

type Authorizations = Record<string, { sid?: unknown } | undefined>;
type LogoutClient = { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> };

const OWN_CLIENTS = new Set([PORTAL_CLIENT_ID, CONSOLE_CLIENT_ID]);

/** The sender of each database in this process, kicked when this process ended someone's access. */
const senders = new WeakMap<Sequelize, () => void>();

/**
 * Lists, for every gateway session of the person still stored, each app signed in through it (the
 * session's `authorizations`, with that app's `sid`), to be told over its back-channel logout URI once
 * the caller's transaction commits. Call before the sessions are deleted. The portal and the admin console
 * are left out: their sessions of the person are ended directly (endAccessOf, sign-out-device.ts), or
 * refused once the person's access ended (console-access.ts). With `only.clientId`, only that app is told
 * (the person took back its access: gateway/oidc/allowed-apps.ts); with `only.sessionUid`, only the apps
 * of that one session (the person signed that device out: accounts/sign-out-device.ts).
 */
export async function recordAppLogouts(
  ctx: GatewayContext,
  accountId: string,
  only: { clientId?: string; sessionUid?: string } = {},
): Promise<number> {
  const onlyClientId = only.clientId;
  const sessions = await ctx.models.OidcPayload.findAll({
    where: { model: 'Session', accountId, ...(only.sessionUid !== undefined && { uid: only.sessionUid }) },
    attributes: ['payload'],
    transaction: ctx.tx,
    // Read as the deletion that follows will see them: a session written in between is not missed.
    ...(ctx.tx ? { lock: true } : {}),
  });
  const now = new Date();
  const rows = sessions.flatMap((session) => {
    const { authorizations } = JSON.parse(session.payload) as { authorizations?: Authorizations };
    return Object.entries(authorizations ?? {}).flatMap(([clientId, authorization]) => {
      const sid = authorization?.sid;
      if (OWN_CLIENTS.has(clientId) || typeof sid !== 'string') return [];
      if (onlyClientId !== undefined && clientId !== onlyClientId) return [];
      return [{ clientId, accountId, sid, nextAt: now, createdAt: now }];
    });
  });
  if (rows.length === 0) return 0;
  await ctx.models.AppLogout.bulkCreate(rows, { transaction: ctx.tx });
  const kick = () => senders.get(ctx.sequelize)?.();
  if (ctx.tx) ctx.tx.afterCommit(kick);
  else kick();
  return rows.length;
}

const reasonOf = (error: unknown): string => {
  const err = error as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err.cause?.code ?? err.cause?.message;
  return cause ? `${err.message}: ${cause}` : String(err.message ?? error);
};

type SenderOptions = {
  context: () => GatewayContext;
  provider: () => Provider;
  logger: Logger;
  intervalMs?: number;
  retry?: AppLogoutRetry;
  /** Apps told side by side, each app's logouts one after another. */
  concurrency?: number;
};

/**
 * Tells apps of ended access (recordAppLogouts), whichever process recorded it: every second, or at
 * once when this process recorded some. A row is claimed before it is sent (a conditional update of its
 * try count), so two gateway processes rarely send the same one. Sent → deleted and audited; the app
 * refused, did not answer or is disabled for now → tried again later (with its other logouts, which share
 * the try), and given up (deleted, audited as a failure) after `retry.maxTries`; the app is gone or has
 * no back-channel URI any more → deleted (a deleted app's go with it: delete-app.ts).
 */
export function createAppLogoutSender(options: SenderOptions) {
  const retry = options.retry ?? APP_LOGOUT_RETRY;
  const concurrency = options.concurrency ?? 8;
  let sequelize: Sequelize | undefined;

  async function sendDue(): Promise<boolean> {
    const ctx = options.context();
    const due = await ctx.models.AppLogout.findAll({
      where: { nextAt: { [Op.lte]: new Date() } },
      // The most tried first within a time: an app's queue goes on with the logout whose tries it shares.
      order: [
        ['nextAt', 'ASC'],
        ['tries', 'DESC'],
      ],
      limit: BATCH,
    });
    // One queue per app, sent in order, apps side by side: an app that does not answer holds one worker
    // for one try, and the rest of its queue waits for its next try instead of every worker.
    const queues = [...Map.groupBy(due, (row) => row.clientId).values()];
    let next = 0;
    const worker = async () => {
      while (!runner.stopped && next < queues.length) {
        const queue = queues[next++]!;
        for (const row of queue) {
          if (runner.stopped) return;
          const outcome = await deliver(ctx, options.provider(), row, retry, options.logger).catch((err) => {
            options.logger.error({ err, client: row.clientId }, 'an app logout could not be sent');
            return null;
          });
          if (outcome === null) continue;
          await shareTheOutcome(ctx, row, outcome);
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queues.length) }, worker));
    return due.length === BATCH;
  }

  const runner = kickedRunner(
    async () => {
      while (!runner.stopped && (await sendDue()));
    },
    {
      intervalMs: options.intervalMs ?? 1_000,
      failed: (err) => options.logger.error({ err }, 'sending app logouts failed'),
    },
  );

  return {
    start() {
      sequelize = options.context().sequelize;
      senders.set(sequelize, runner.kick);
      runner.start();
    },
    kick: runner.kick,
    async stop() {
      if (sequelize && senders.get(sequelize) === runner.kick) senders.delete(sequelize);
      await runner.stop();
    },
  };
}

/**
 * Claims one row, then tells its app: see createAppLogoutSender. How the try ended when the app did not
 * take it (refused, no answer, or disabled for now), else null.
 */
async function deliver(
  ctx: GatewayContext,
  provider: Provider,
  row: AppLogout,
  retry: AppLogoutRetry,
  logger: Logger,
): Promise<NotTaken | null> {
  const { AppLogout } = ctx.models;
  const tries = row.tries + 1;
  const [claimed] = await AppLogout.update(
    { tries, nextAt: new Date(Date.now() + CLAIM_MS) },
    { where: { id: row.id, tries: row.tries } },
  );
  if (claimed !== 1) return null;
  try {
    const client = (await provider.Client.find(row.clientId)) as LogoutClient | undefined;
    // A disabled app is hidden from the provider, but may be enabled again with its sessions: it is told then.
    if (!client && (await appOfClient(ctx, row.clientId))?.disabled) throw new Error('the app is disabled');
    if (!client?.backchannelLogoutUri) {
      await AppLogout.destroy({ where: { id: row.id } });
      return null;
    }
    await client.backchannelLogout(row.accountId, row.sid);
  } catch (error) {
    if (error instanceof AppCallRefusedError) return refused(ctx, row, tries, error, logger);
    return notTaken(ctx, row, tries, reasonOf(error), retry, logger);
  }
  await settle(ctx, row, { tries });
  return null;
}

/**
 * The app did not take a logout: its other due logouts count that try as theirs and wait for its next one
 * (an app that does not answer is tried once at a time, not once per logout), and when it was the last
 * try, those that had as many go with it.
 */
async function shareTheOutcome(ctx: GatewayContext, failed: AppLogout, outcome: NotTaken): Promise<void> {
  const { AppLogout } = ctx.models;
  const peers = { clientId: failed.clientId, id: { [Op.ne]: failed.id }, nextAt: { [Op.lte]: new Date() } };
  if ('givenUp' in outcome) {
    const lastTries = await AppLogout.findAll({ where: { ...peers, tries: { [Op.gte]: outcome.tries - 1 } } });
    for (const row of lastTries) await settle(ctx, row, { outcome: 'failure', tries: row.tries, error: outcome.error });
    return;
  }
  await AppLogout.update({ tries: outcome.tries }, { where: { ...peers, tries: { [Op.lt]: outcome.tries } } });
  await AppLogout.update({ nextAt: outcome.retryAt }, { where: peers });
}

/** How a try the app did not take ends: another try at `retryAt`, or given up after the last. */
type NotTaken = { tries: number; retryAt: Date } | { tries: number; givenUp: true; error: string };

/** The app refused the logout or did not answer: it is tried again later, or given up on. */
async function notTaken(
  ctx: GatewayContext,
  row: AppLogout,
  tries: number,
  error: string,
  retry: AppLogoutRetry,
  logger: Logger,
): Promise<NotTaken> {
  if (tries < retry.maxTries) {
    const retryAt = new Date(Date.now() + retry.firstDelayMs * 2 ** (tries - 1));
    await ctx.models.AppLogout.update({ nextAt: retryAt }, { where: { id: row.id, tries } });
    logger.warn({ client: row.clientId, tries, error }, 'an app did not take a logout; trying again');
    return { tries, retryAt };
  }
  await settle(ctx, row, { outcome: 'failure', tries, error });
  logger.warn({ client: row.clientId, tries, error }, 'an app did not take a logout; given up');
  return { tries, givenUp: true, error };
}

/**
 * The app's back-channel URI leads to an address the gateway does not call (core/app-call-policy.ts): nothing
 * was sent, and another try would be refused alike, so the logout is given up on now, with the app's others.
 */
async function refused(
  ctx: GatewayContext,
  row: AppLogout,
  tries: number,
  error: AppCallRefusedError,
  logger: Logger,
): Promise<NotTaken> {
  await settle(ctx, row, { outcome: 'failure', tries, error: error.message });
  logger.warn({ client: row.clientId, reason: error.message }, 'an app logout was refused; given up');
  return { tries, givenUp: true, error: error.message };
}

/** The row goes, and the audit log says whether the app was told, and after how many tries. */
async function settle(
  ctx: GatewayContext,
  row: AppLogout,
  result: { outcome?: 'failure'; tries: number; error?: string },
): Promise<void> {
  const { outcome, ...why } = result;
  await inTransaction(ctx, async (ctx) => {
    await ctx.models.AppLogout.destroy({ where: { id: row.id }, transaction: ctx.tx });
    await audit(ctx, {
      action: 'logout.backchannel',
      target: row.clientId,
      outcome,
      details: { reason: 'ended_access', account: row.accountId, ...why },
    });
  });
}
