/**
 * Builds the SDK as a package an app outside this repository installs (`npm run build:sdk`, then
 * `npm pack` in the directory it names): plain ESM JavaScript bundled by esbuild, declarations by tsc, and
 * a package.json whose `exports` are the three entries of docs/apps.md. zod is a dependency, not bundled:
 * the wire types (Message, Card, …) are inferred from protocol/'s zod schemas, so the declarations import
 * zod's types and a TypeScript app needs zod installed anyway; one zod then serves both.
 *
 *   node sdk/package/build.ts [--out DIR]   (default dist/atrium-sdk)
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '../..');
const here = import.meta.dirname;

/** Entry name → its source: `@atrium/sdk`, `@atrium/sdk/bot`, `@atrium/sdk/callbacks`. */
const ENTRIES = {
  index: join(root, 'sdk/client.ts'),
  bot: join(here, 'bot.ts'),
  callbacks: join(here, 'callbacks.ts'),
} as const;

/** The oldest Node the bundle is for: AtriumClient opens the global WebSocket, unflagged since Node 22. */
const NODE_MAJOR = 22;

async function readJson(path: string): Promise<Record<string, any>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, any>;
}

/** All files under a directory, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/**
 * Declarations by tsc, with relative imports rewritten from `.ts` to `.js`: tsc keeps the source's
 * specifiers in declarations, which an app's tsc would refuse without allowImportingTsExtensions.
 */
async function emitDeclarations(out: string): Promise<void> {
  const types = join(out, 'types');
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(here, 'tsconfig.json'), '--outDir', types], {
    stdio: 'inherit',
  });
  for (const file of await filesUnder(types)) {
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2'));
  }
}

function packageJson(atrium: Record<string, any>): Record<string, unknown> {
  const typesOf = (name: keyof typeof ENTRIES) => `./types/${relative(root, ENTRIES[name]).replace(/\.ts$/, '.d.ts')}`;
  const entry = (name: keyof typeof ENTRIES) => ({ types: typesOf(name), default: `./lib/${name}.js` });
  return {
    name: '@atrium/sdk',
    version: atrium.version,
    description: 'Atrium SDK: AtriumClient for people, AtriumBot and callback verification for campus apps',
    type: 'module',
    license: atrium.license,
    engines: { node: `>=${NODE_MAJOR}` },
    sideEffects: false,
    exports: {
      '.': entry('index'),
      './bot': entry('bot'),
      './callbacks': entry('callbacks'),
      './package.json': './package.json',
    },
    dependencies: { zod: atrium.dependencies.zod },
  };
}

export async function buildSdk(out: string): Promise<void> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: ENTRIES,
    outdir: join(out, 'lib'),
    bundle: true,
    // One copy of what the entries share, so an AtriumError from the bot is the one `@atrium/sdk` exports.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: `node${NODE_MAJOR}`,
    packages: 'external',
    legalComments: 'none',
    logLevel: 'warning',
  });
  await emitDeclarations(out);
  const atrium = await readJson(join(root, 'package.json'));
  await writeFile(join(out, 'package.json'), `${JSON.stringify(packageJson(atrium), null, 2)}\n`);
  await copyFile(join(here, 'README.md'), join(out, 'README.md'));
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const out = resolve(values.out ?? join(root, 'dist/atrium-sdk'));
  await buildSdk(out);
  process.stdout.write(`@atrium/sdk built in ${out}: run \`npm pack\` there for a tarball an app installs\n`);
}
