import { fileURLToPath } from 'node:url';
import type { RequestHandler } from 'express';
import { createBundler } from '../../portal/bundle.ts';

const ENTRY = fileURLToPath(new URL('./client/passkey-page.ts', import.meta.url));

/**
 * The passkey pages' script, bundled with @simplewebauthn/browser like the portal's, and served from
 * `/assets/passkeys.<hash>.js` (the gateway's CSP allows scripts from itself only, never inline).
 */
export function passkeyPageScript(options: { minify: boolean }) {
  const bundler = createBundler({ minify: options.minify, entry: ENTRY, name: 'passkeys' });
  const handler: RequestHandler = async (req, res, next) => {
    if (!/^\/passkeys\.[A-Za-z0-9_-]+\.js$/.test(req.path)) return next();
    try {
      const bundle = await bundler.script();
      const current = `/assets${req.path}` === bundle.path;
      res.set({
        'Content-Type': 'text/javascript; charset=utf-8',
        'Cache-Control': current ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
      res.send(bundle.body);
    } catch (error) {
      next(error);
    }
  };
  return { path: async () => (await bundler.script()).path, handler };
}

export type PasskeyPageScript = ReturnType<typeof passkeyPageScript>;
