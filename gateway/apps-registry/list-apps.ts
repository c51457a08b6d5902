import type { GatewayContext } from '../context.ts';
import { findManageableApp, mayManage } from './app-scope.ts';
import { loadClient, loadClients } from './client-metadata.ts';
import { presentApp, type PresentedApp } from './present-app.ts';

/** The apps the actor manages (all of them for a full administrator), by name. */
export async function listApps(ctx: GatewayContext): Promise<PresentedApp[]> {
  const apps = (await ctx.models.App.findAll({ order: [['name', 'ASC']], transaction: ctx.tx })).filter((app) =>
    mayManage(ctx, app),
  );
  const clients = await loadClients(
    ctx,
    apps.map((a) => a.clientId),
  );
  return apps.map((app) => presentApp(app, clients.get(app.clientId)));
}

export async function getApp(ctx: GatewayContext, slug: string): Promise<PresentedApp> {
  const app = await findManageableApp(ctx, slug);
  return presentApp(app, await loadClient(ctx, app.clientId));
}
