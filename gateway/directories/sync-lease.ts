import { randomUUID } from 'node:crypto';
import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import { SyncRunningError } from './errors.ts';

/** How long a sync holds its directory without renewing (it renews after every page). */
export const LEASE_MS = 120_000;

export type Lease = { owner: string; renew(): Promise<void>; release(): Promise<void> };

/**
 * Takes the directory's sync lease by a conditional update of its row, which the database applies to
 * one writer at a time: two syncs of one directory never run at once, in one process or in several. A
 * lease whose holder died lapses after LEASE_MS.
 */
export async function takeLease(ctx: GatewayContext, directory: Directory): Promise<Lease> {
  const owner = randomUUID();
  const { Directory } = ctx.models;
  const now = new Date();
  const [taken] = await Directory.update(
    { syncOwner: owner, syncUntil: new Date(now.getTime() + LEASE_MS) },
    {
      where: { id: directory.id, [Op.or]: [{ syncOwner: null }, { syncUntil: null }, { syncUntil: { [Op.lt]: now } }] },
    },
  );
  if (taken !== 1) {
    const holder = await Directory.findByPk(directory.id);
    throw new SyncRunningError(directory.name, holder?.syncUntil ?? null);
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
