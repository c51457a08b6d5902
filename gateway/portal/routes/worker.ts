import { fileURLToPath } from 'node:url';
import type { RequestHandler } from 'express';
import { createBundler } from '../bundle.ts';

/** Where the portal's service worker is served: at the top, so that its scope may be the portal page at `/`. */
export const WORKER_PATH = '/portal-worker.js';

const ENTRY = fileURLToPath(new URL('../client/service-worker.ts', import.meta.url));

/**
 * The portal's service worker (client/service-worker.ts, for notifications), bundled on first request.
 * At a fixed address, as browsers want one to update it in place; never cached, so that a new version is
 * found at the page's next visit. Nothing of the session is needed to fetch it.
 */
export function workerRoute(options: { minify: boolean }): RequestHandler {
  const bundler = createBundler({ minify: options.minify, entry: ENTRY, name: 'portal-worker' });
  return async (_req, res) => {
    const bundle = await bundler.script();
    res.set({ 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' });
    res.send(bundle.body);
  };
}
