import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export type Asset = { body: string; hash: string; path: string };

const ENTRY = fileURLToPath(new URL('./client/main.ts', import.meta.url));
const STYLES = fileURLToPath(new URL('../../views/assets/portal.css', import.meta.url));

const hashOf = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 12);

/** The portal page's script and stylesheet, as the page links them. */
export interface Bundler {
  /**
   * The page's script, bundled once, on first use; every later call gets the same bundle. A failed build
   * is not kept: the next call builds again. Its path carries a content hash, so it is served immutable.
   */
  script(): Promise<Asset>;
  /** The stylesheet's URL, with a hash of its current content so that browsers fetch it again when it changes. */
  stylesheet(): string;
}

/**
 * The page's script, bundled from gateway/portal/client (and the SDK it imports) by esbuild in memory on
 * first use, so `npm start` needs no build step. Its name carries a content hash: served immutable.
 * Another page's script (the passkey pages') names its own entry and file name.
 */
export function createBundler(options: { minify: boolean; entry?: string; name?: string }): Bundler {
  const entry = options.entry ?? ENTRY;
  const name = options.name ?? 'portal';
  let script: Promise<Asset> | undefined;

  async function bundle(): Promise<Asset> {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: ['es2022'],
      minify: options.minify,
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'silent',
    });
    const body = result.outputFiles[0]!.text;
    const hash = hashOf(body);
    return { body, hash, path: `/assets/${name}.${hash}.js` };
  }

  return {
    script(): Promise<Asset> {
      script ??= bundle().catch((error: unknown) => {
        script = undefined;
        throw error;
      });
      return script;
    },
    // The stylesheet is served from views/assets; the hash only busts caches when it changes.
    stylesheet(): string {
      return `/assets/portal.css?v=${hashOf(readFileSync(STYLES, 'utf8'))}`;
    },
  };
}
