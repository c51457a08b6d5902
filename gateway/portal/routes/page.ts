import type { Request, RequestHandler } from 'express';
import type { GatewayContext } from '../../context.ts';
import type { Bundler } from '../bundle.ts';
import { portalCsp } from '../csp.ts';
import { pageNodeUrls } from '../profile.ts';
import { forgetReturnTo } from '../../http/return-to.ts';
import { serviceName } from '../../place.ts';

/** Icons that are images at an app's own address (an administrator registered them). */
async function appIconUrls(ctx: GatewayContext): Promise<string[]> {
  const apps = await ctx.models.App.findAll({ where: { disabled: false }, attributes: ['icon'] });
  return apps.map((a) => a.icon ?? '').filter((icon) => /^https?:\/\//.test(icon));
}

/** The page at `/` (a shell the script fills in) and the script itself, bundled on first use. */
export function pageRoutes(deps: { bundler: Bundler; context: (req: Request | null) => GatewayContext }): {
  page: RequestHandler;
  script: RequestHandler;
} {
  const page: RequestHandler = async (req, res) => {
    if (!req.user) {
      // A sign-in started here lands here, not on an account page asked for earlier and left unsigned-in.
      forgetReturnTo(req);
      return res.redirect(303, '/portal/login');
    }
    const ctx = deps.context(req);
    const [script, nodes, icons] = await Promise.all([deps.bundler.script(), pageNodeUrls(ctx), appIconUrls(ctx)]);
    res.set({ 'Content-Security-Policy': portalCsp(nodes, icons), 'Cache-Control': 'no-store' });
    res.render('portal', {
      layout: false,
      title: serviceName(ctx.place),
      script: script.path,
      stylesheet: deps.bundler.stylesheet(),
    });
  };

  const script: RequestHandler = async (req, res, next) => {
    if (!/^\/portal\.[A-Za-z0-9_-]+\.js$/.test(req.path)) return next();
    const bundle = await deps.bundler.script();
    // An old page asking for an older bundle gets the current one, but not cached as if it were the old.
    const current = `/assets${req.path}` === bundle.path;
    res.set({
      'Content-Type': 'text/javascript; charset=utf-8',
      'Cache-Control': current ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    res.send(bundle.body);
  };
  return { page, script };
}
