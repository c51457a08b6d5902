import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Op } from 'sequelize';
import { NotFoundError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import { SyncRunningError } from './errors.ts';

/** How long a sync holds its directory without renewing (it renews after every page). */
export const LEASE_MS = 120_000;

/**
 * How long a short piece of work holds the lease: someone new in the directory brought in at their first
 * sign-in (newcomer-sign-in.ts), a database write of one entry that renews nothing. Whoever finds the lease
 * held this briefly waits for it instead of being refused: on the first day of term many newcomers sign in
 * at once, and a scheduled sync must not skip its run because one of them was being written.
 */
export const SHORT_LEASE_MS = 10_000;
const POLL_MS = 25;

/**
 * A short hold's owner carries this prefix, so that whoever finds the lease held knows what holds it: a
 * sync near the end of its time is still a sync (it renews), and the console says "sync running" only
 * for a sync. An owner without it (a sync, or a lease taken before the prefix existed) is a sync.
 */
const SHORT_OWNER = 'short:';

/** Whether the directory's lease is held now by a sync (not by a short piece of work). */
export function syncHolds(directory: Pick<Directory, 'syncOwner' | 'syncUntil'>, now: Date): boolean {
  const { syncOwner, syncUntil } = directory;
  return Boolean(syncOwner && !syncOwner.startsWith(SHORT_OWNER) && syncUntil && syncUntil > now);
}

export type Lease = { owner: string; renew(): Promise<void>; release(): Promise<void> };

/**
 * Takes the directory's sync lease by a conditional update of its row, which the database applies to
 * one writer at a time: two syncs of one directory never run at once, in one process or in several. A
 * lease whose holder died lapses after its time (LEASE_MS for a sync, SHORT_LEASE_MS for `short` work).
 * A lease held for short work is waited for, up to SHORT_LEASE_MS; one held by a sync is refused at once
 * (SyncRunningError).
 */
export async function takeLease(
  ctx: GatewayContext,
  directory: Directory,
  options: { short?: boolean } = {},
): Promise<Lease> {
  const owner = `${options.short ? SHORT_OWNER : ''}${randomUUID()}`;
  const { Directory } = ctx.models;
  const holdMs = options.short ? SHORT_LEASE_MS : LEASE_MS;
  const giveUpAt = Date.now() + SHORT_LEASE_MS;
  for (;;) {
    const now = new Date();
    const [taken] = await Directory.update(
      { syncOwner: owner, syncUntil: new Date(now.getTime() + holdMs) },
      {
        where: {
          id: directory.id,
          [Op.or]: [{ syncOwner: null }, { syncUntil: null }, { syncUntil: { [Op.lt]: now } }],
        },
      },
    );
    if (taken === 1) break;
    const row = await Directory.findByPk(directory.id, { attributes: ['syncOwner', 'syncUntil'] });
    // Removed meanwhile: nothing to take, and no update will ever find the row.
    if (!row) throw new NotFoundError(`No directory ${directory.name}`);
    const until = row.syncUntil;
    // Let go (or lapsed) since the update found it held: take it now.
    const free = !row.syncOwner || until === null || until.getTime() <= Date.now();
    if (free) continue;
    if (syncHolds(row, new Date()) || Date.now() >= giveUpAt) throw new SyncRunningError(directory.name, until);
    await delay(POLL_MS + Math.random() * POLL_MS);
  }
  return {
    owner,
    async renew() {
      const [renewed] = await Directory.update(
        { syncUntil: new Date(Date.now() + LEASE_MS) },
        { where: { id: directory.id, syncOwner: owner } },
      );
      if (renewed !== 1) throw new SyncRunningError(directory.name, null);
    },
    async release() {
      await Directory.update({ syncOwner: null, syncUntil: null }, { where: { id: directory.id, syncOwner: owner } });
    },
  };
}
