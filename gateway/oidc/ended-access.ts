import { Op } from 'sequelize';
import type { JWK } from 'jose';
import type { Logger } from '../../core/logger.ts';
import type { GatewayContext } from '../context.ts';
import type { EndedAccess } from '../models/index.ts';
import { kickedRunner } from '../../core/kicked-runner.ts';
import { notifyNodesOfEndedAccess } from './notify-nodes.ts';

/**
 * A node refuses a token issued at or before `endedAt` (epoch ms) that names `subject`, until `keepUntil`.
 * With `domain`, only that domain's node is concerned: the person was moved off its units (`left_domain`).
 * With `clientId`, only the person's tokens issued to that app: they removed its access.
 */
export type PresentedEndedAccess = {
  id: number;
  kind: 'sub' | 'sid';
  subject: string;
  endedAt: number;
  keepUntil: number;
  domain: string | null;
  clientId: string | null;
};

/** Why a domain's entry ends access there (the node tells the sockets it closes). */
export const LEFT_DOMAIN = 'left_domain';

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
  };
}

/** A gateway session ended by sign-out: the nodes refuse the access tokens issued in it until now. */
export async function recordEndedSession(ctx: GatewayContext, sessionUid: string): Promise<void> {
  await ctx.models.EndedAccess.create(
    { kind: 'sid', subject: sessionUid, endedAt: new Date() },
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

  async function tick(): Promise<void> {
    const ctx = options.context();
    if (cursor === undefined) {
      cursor = ((await ctx.models.EndedAccess.max('id')) as number | null) ?? 0;
      return;
    }
    for (;;) {
      const page = await endedAccessAfter(ctx, cursor, options.keepSeconds);
      cursor = page.cursor;
      await notifyNodesOfEndedAccess({
        ctx,
        issuer: options.issuer,
        signingKey: options.signingKey(),
        entries: page.entries,
        logger: options.logger,
      });
      if (!page.more) return;
    }
  }

  return kickedRunner(tick, {
    intervalMs: options.intervalMs ?? 1_000,
    failed: (err) => options.logger.error({ err }, 'pushing ended sessions to the domain nodes failed'),
  });
}
