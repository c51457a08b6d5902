import express, { Router, type Request } from 'express';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { NotFoundError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { usernameSchema } from '../accounts/schemas.ts';
import type { Sealer } from '../../core/seal.ts';
import type { GatewayContext } from '../context.ts';
import { campusNode } from '../federation/campus-node.ts';
import { adminHolder, asHolder, bearerPerson } from './access-token.ts';
import { appForNode, appIsFor, appNamesForNode } from './app-for-node.ts';
import { clientForNode } from './client-for-node.ts';
import { deleteApp } from './delete-app.ts';
import { getApp, listApps } from './list-apps.ts';
import { registerApp } from './register-app.ts';
import { DEFAULT_GRACE_SECONDS, graceSecondsSchema } from './grace.ts';
import { rotateCallbackSecret, rotateClientSecret } from './rotate-secrets.ts';
import { setAppDisabled } from './set-app-disabled.ts';
import { updateApp } from './update-app.ts';
import { workbenchFor } from './visible-apps.ts';

/** A rotation's body: how long the old secret keeps working, a day unless told (0: it ends at once). */
const rotateSchema = z.strictObject({ graceSeconds: graceSecondsSchema.default(DEFAULT_GRACE_SECONDS) });

export type RegistryRouteDeps = {
  context: (req: Request | null) => GatewayContext;
  provider: () => Provider;
  /** Seals and opens apps' callback secrets. */
  secrets: Sealer;
};

/**
 * The registry's HTTP side, mounted in the gateway: the workbench and the admin API for people holding a
 * gateway access token, and app lookups for domain nodes over signed requests.
 */
export function appRegistryRoutes(deps: RegistryRouteDeps): Router {
  const router = Router();
  const json = express.json({ limit: '64kb' });
  const bearer = bearerPerson(deps.context, deps.provider);
  const ctx = (req: Request) => asHolder(deps.context(req), req);
  const noStore: express.RequestHandler = (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  };

  router.get('/api/v1/workbench', noStore, bearer, async (req, res) => {
    res.json({ apps: await workbenchFor(ctx(req), req.tokenHolder!.actor.id) });
  });

  const admin = Router();
  admin.use(noStore, bearer, adminHolder);
  admin.get('/apps', async (req, res) => {
    res.json({ apps: await listApps(ctx(req)) });
  });
  admin.post('/apps', json, async (req, res) => {
    const { app, clientSecret, callbackSecret } = await registerApp(ctx(req), req.body, deps.secrets);
    res.status(201).json({ app, clientSecret, callbackSecret });
  });
  admin.get('/apps/:slug', async (req, res) => {
    res.json({ app: await getApp(ctx(req), String(req.params.slug)) });
  });
  admin.patch('/apps/:slug', json, async (req, res) => {
    res.json({ app: await updateApp(ctx(req), String(req.params.slug), req.body) });
  });
  admin.post('/apps/:slug/disable', async (req, res) => {
    res.json({ app: await setAppDisabled(ctx(req), String(req.params.slug), true) });
  });
  admin.post('/apps/:slug/enable', async (req, res) => {
    res.json({ app: await setAppDisabled(ctx(req), String(req.params.slug), false) });
  });
  admin.post('/apps/:slug/rotate-secret', json, async (req, res) => {
    const options = parseInput(rotateSchema, req.body ?? {});
    res.json(await rotateClientSecret(ctx(req), String(req.params.slug), options));
  });
  admin.post('/apps/:slug/rotate-callback-secret', json, async (req, res) => {
    const options = parseInput(rotateSchema, req.body ?? {});
    res.json(await rotateCallbackSecret(ctx(req), String(req.params.slug), deps.secrets, options));
  });
  admin.delete('/apps/:slug', async (req, res) => {
    await deleteApp(ctx(req), String(req.params.slug));
    res.status(204).end();
  });
  router.use('/api/admin/v1', admin);

  // A node asks for the names of the apps whose bots it may host, so that nothing else there takes one
  // (a webhook named as an app). Only the campus's nodes, each told only of the apps it may host.
  router.get('/federation/v1/apps', async (req, res) => {
    const gatewayCtx = deps.context(req);
    const origin = await campusNode(gatewayCtx, req, 'look up apps');
    res.set('Cache-Control', 'no-store').json({ apps: await appNamesForNode(gatewayCtx, origin) });
  });

  // A node asks about the app behind a bot address (slug@domain): whether it may post, where its card
  // clicks go and the secret to sign them with. Only the campus's nodes get an answer (a partner
  // organization's is refused), and only the nodes that may host the app's bot: to any other the app does
  // not exist.
  router.get('/federation/v1/apps/:slug', async (req, res) => {
    const gatewayCtx = deps.context(req);
    const origin = await campusNode(gatewayCtx, req, 'look up apps');
    const app = await appForNode(gatewayCtx, String(req.params.slug), origin, deps.secrets);
    if (!app) throw new NotFoundError(`No app ${req.params.slug}`);
    res.set('Cache-Control', 'no-store').json({ app });
  });

  // A node asks, before the app's bot writes to a person on its own, whether the app is for that person
  // (its owner unit, visibility units and roles, as the workbench judges): a bot reaches only them.
  router.get('/federation/v1/apps/:slug/people/:username', async (req, res) => {
    const gatewayCtx = deps.context(req);
    const origin = await campusNode(gatewayCtx, req, 'look up apps');
    const { username } = parseInput(z.object({ username: usernameSchema }), { username: req.params.username });
    const isFor = await appIsFor(gatewayCtx, String(req.params.slug), origin, username);
    if (isFor === null) throw new NotFoundError(`No app ${req.params.slug}`);
    res.set('Cache-Control', 'no-store').json({ person: { username, appIsFor: isFor } });
  });

  // A node asks about the client a person's token was issued to (client-for-node.ts): whether it may still
  // be used, so that an app an administrator disabled or deleted stops working at the nodes within their
  // cache time, not at the token's expiry (an hour); whether it is first-party; which app it is. Its
  // answer tells which client ids exist: the campus's nodes only.
  router.get('/federation/v1/clients/:clientId', async (req, res) => {
    const gatewayCtx = deps.context(req);
    await campusNode(gatewayCtx, req, 'look up clients');
    res.set('Cache-Control', 'no-store').json({ client: await clientForNode(gatewayCtx, String(req.params.clientId)) });
  });

  return router;
}
