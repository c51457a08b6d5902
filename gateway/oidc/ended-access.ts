import { Op, type Sequelize } from 'sequelize';
import type { JWK } from 'jose';
import type { Logger } from '../../core/logger.ts';
import type { GatewayContext } from '../context.ts';
import type { EndedAccess } from '../models/index.ts';
import { kickedRunner } from '../../core/kicked-runner.ts';
import { notifyNodesOfEndedAccess } from './notify-nodes.ts';

/**
 * A node refuses a token issued at or before `endedAt` (epoch ms) that names `subject`, until `keepUntil`.
 * With `domain`, only that domain's node is concerned: the person was moved off its units (`left_domain`).
 * With `clientId`, only the person's tokens issued to that app: they removed its access. Kind `app` ends
 * no token by itself: an administrator changed the app whose slug is `subject` (and client `clientId`) at
 * `endedAt`, so the nodes drop what they keep of it and ask the gateway again (recordChangedApp).
 */
export type PresentedEndedAccess = {
  id: number;
  kind: 'sub' | 'sid' | 'app';
  subject: string;
  endedAt: number;
  keepUntil: number;
  domain: string | null;
  clientId: string | null;
  /** The person's account was deleted: their chat addresses then, which leave every group (delete-account.ts). */
  deletedAddresses: string[] | null;
};

/** Why a domain's entry ends access there (the node tells the sockets it closes). */
export const LEFT_DOMAIN = 'left_domain';

/** Why a person's entry ends their access for good: their account was deleted. */
export const ACCOUNT_DELETED = 'account_deleted';

/** Whether the node of `domain` is to hear of the entry. */
export const concerns = (entry: PresentedEndedAccess, domain: string) =>
  entry.domain === null || entry.domain === domain;

/**
 * An entry matters while an access token issued before it could still be valid: the access-token
 * lifetime, plus a minute for clocks that disagree.
 */
export const keepSecondsFor = (accessTokenTtlSeconds: number) => accessTokenTtlSeconds + 60;

function present(row: EndedAccess, keepSeconds: number): PresentedEndedAccess {
  const endedAt = row.endedAt.getTime();
  const keepUntil = endedAt + keepSeconds * 1000;
  return {
    id: row.id,
    kind: row.kind,
    subject: row.subject,
    endedAt,
    keepUntil,
    domain: row.domain ?? null,
    clientId: row.clientId ?? null,
    deletedAddresses: row.deletedAddresses ? (JSON.parse(row.deletedAddresses) as string[]) : null,
  };
}

/** A gateway session ended by sign-out: the nodes refuse the access tokens issued in it until now. */
export async function recordEndedSession(ctx: GatewayContext, sessionUid: string): Promise<void> {
  await ctx.models.EndedAccess.create(
    { kind: 'sid', subject: sessionUid, endedAt: new Date() },
    { transaction: ctx.tx },
  );
}

/**
 * An administrator changed an app (disabled or enabled it, edited it, made it a new callback secret, deleted
 * it): the nodes keep what the gateway said of it for REGISTRY_TTL_SECONDS, and this entry has them drop it
 * at once (in the caller's transaction; `nodesTold` then waits for the push).
 */
export async function recordChangedApp(ctx: GatewayContext, app: { slug: string; clientId: string }): Promise<void> {
  await ctx.models.EndedAccess.create(
    { kind: 'app', subject: app.slug, clientId: app.clientId, endedAt: new Date() },
    { transaction: ctx.tx },
  );
}

export const ENDED_ACCESS_PAGE = 1000;

/**
 * The entries after `after` (an id) that still matter, oldest first, at most a page; `cursor` is where
 * the next call starts (past entries that no longer matter too), `more` whether a full page was read.
 */
export async function endedAccessAfter(ctx: GatewayContext, after: number, keepSeconds: number) {
  const rows = await ctx.models.EndedAccess.findAll({
    where: { id: { [Op.gt]: after } },
    order: [['id', 'ASC']],
    limit: ENDED_ACCESS_PAGE,
  });
  const now = Date.now();
  const entries = rows.map((r) => present(r, keepSeconds)).filter((e) => e.keepUntil > now);
  return { entries, cursor: rows.at(-1)?.id ?? after, more: rows.length === ENDED_ACCESS_PAGE };
}

/** Deletes entries no token could outlive any more. */
export async function sweepEndedAccess(ctx: GatewayContext, keepSeconds: number): Promise<number> {
  return ctx.models.EndedAccess.destroy({ where: { endedAt: { [Op.lt]: new Date(Date.now() - keepSeconds * 1000) } } });
}

/** The pusher of each database in this process: a use-case that wrote an entry has it pushed now. */
const pushers = new WeakMap<Sequelize, { kick(): void; settle(): Promise<string[] | undefined> }>();

/** How long a use-case waits for the nodes to take its entry: longer than one push (2.5 s), never for ever. */
const TOLD_WITHIN_MS = 5_000;

/**
 * Pushes the entries written so far to the domain nodes now, and resolves with the domains whose node did
 * not take them (each learns them from its next fetch, every ENDED_ACCESS_POLL_SECONDS). Null when this
 * process pushes nothing (the CLI: a running gateway pushes within a second, else the nodes fetch), when
 * the push takes longer than TOLD_WITHIN_MS, or inside the caller's transaction (pushed once it commits).
 */
export async function nodesTold(ctx: GatewayContext): Promise<string[] | null> {
  const pusher = pushers.get(ctx.sequelize);
  if (!pusher) return null;
  if (ctx.tx) {
    ctx.tx.afterCommit(() => pusher.kick());
    return null;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), TOLD_WITHIN_MS);
  });
  const untold = await Promise.race([pusher.settle(), late]).finally(() => clearTimeout(timer));
  return untold ?? null;
}

/**
 * Tells the domain nodes of new entries, whichever process (this one, another gateway process, the CLI)
 * wrote them: every second, or at once when kicked. Entries written before this process started are
 * left to the nodes' own fetching (a node also fetches after it was down).
 */
export function createEndedAccessPusher(options: {
  context: () => GatewayContext;
  issuer: string;
  signingKey: () => JWK;
  keepSeconds: number;
  logger: Logger;
  intervalMs?: number;
}) {
  let cursor: number | undefined;

  /** Pushes what is new; the domains whose node did not take some of it. */
  async function tick(): Promise<string[]> {
    const ctx = options.context();
    if (cursor === undefined) {
      cursor = ((await ctx.models.EndedAccess.max('id')) as number | null) ?? 0;
      return [];
    }
    const untold = new Set<string>();
    for (;;) {
      const page = await endedAccessAfter(ctx, cursor, options.keepSeconds);
      cursor = page.cursor;
      const missed = await notifyNodesOfEndedAccess({
        ctx,
        issuer: options.issuer,
        signingKey: options.signingKey(),
        entries: page.entries,
        logger: options.logger,
      });
      for (const domain of missed) untold.add(domain);
      if (!page.more) return [...untold].sort();
    }
  }

  const runner = kickedRunner(tick, {
    intervalMs: options.intervalMs ?? 1_000,
    failed: (err) => options.logger.error({ err }, 'pushing ended sessions to the domain nodes failed'),
  });
  let sequelize: Sequelize | undefined;
  return {
    start() {
      sequelize = options.context().sequelize;
      pushers.set(sequelize, runner);
      runner.start();
    },
    kick: runner.kick,
    async stop() {
      if (sequelize && pushers.get(sequelize) === runner) pushers.delete(sequelize);
      await runner.stop();
    },
  };
}
