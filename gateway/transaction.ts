import type { GatewayContext } from './context.ts';
import { settleReadVersion } from './shared-reads.ts';

/** Runs a use-case in the caller's transaction, or in a new one that commits when it returns. */
export async function inTransaction<T>(ctx: GatewayContext, work: (ctx: GatewayContext) => Promise<T>): Promise<T> {
  if (ctx.tx) return work(ctx);
  return ctx.sequelize.transaction((tx) => settleReadVersion(ctx.sequelize, tx, () => work({ ...ctx, tx })));
}
