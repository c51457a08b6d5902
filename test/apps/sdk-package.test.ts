import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLBACK_HEADERS, callbackSignature } from '../../protocol/callback-signature.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import type { Message } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { freePort } from '../helpers/ports.ts';
import { asOperator, botToken, register } from './helpers.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const ALICE = 'alice@eng.campus.test';

/** An app as its developer would write it outside this repository: plain JavaScript, the SDK from npm. */
const APP = `
import { createServer } from 'node:http';
import { AtriumBot } from '@atrium/sdk/bot';
import { CallbackRejected, createCallbackVerifier } from '@atrium/sdk/callbacks';

const say = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
const bot = new AtriumBot({ nodeUrl: process.env.NODE_URL, token: () => process.env.BOT_TOKEN });
const verify = createCallbackVerifier({ secret: () => process.env.CALLBACK_SECRET });

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8').on('data', (chunk) => (body += chunk));
  req.on('end', async () => {
    try {
      const click = await verify({ headers: req.headers, body });
      say({ click });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ toast: 'Booked for ' + click.user.name }));
    } catch (error) {
      if (!(error instanceof CallbackRejected)) throw error;
      say({ rejected: error.reason });
      res.writeHead(401).end();
    }
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', async () => {
  const card = {
    title: 'Seminar room 2, Thursday 10:00',
    fields: [{ label: 'People', value: '14' }],
    actions: [{ id: 'book', label: 'Book it', style: 'primary' }],
  };
  const ack = await bot.sendCard({ to: process.env.TO }, card, 'room-offer-1');
  say({ sent: ack.messageId });
});
`;

/** A TypeScript app's use of the declarations; each @ts-expect-error fails the check if a type were \`any\`. */
const CONSUMER = `
import { AtriumClient, type Message } from '@atrium/sdk';
import { AtriumBot, AtriumError, type Ack, type Card } from '@atrium/sdk/bot';
import { CallbackRejected, createCallbackVerifier, type CallbackAnswer, type CardCallback } from '@atrium/sdk/callbacks';

const bot = new AtriumBot({ nodeUrl: 'https://chat.eng.campus.example', token: async () => 'token' });
const card: Card = { title: 'Room request', fields: [], actions: [{ id: 'approve', label: 'Approve', style: 'primary' }] };
const verify = createCallbackVerifier({ secret: () => ['next', 'previous'] });

export async function decide(raw: string, headers: Record<string, string>): Promise<CallbackAnswer | number> {
  let click: CardCallback;
  try {
    click = await verify({ headers, body: raw });
  } catch (error) {
    if (error instanceof CallbackRejected) return error.reason === 'replayed' ? 200 : 401;
    throw error;
  }
  const ack: Ack = await bot.sendCard({ to: click.user.address }, card, 'approve-' + click.messageId);
  // @ts-expect-error a message id is a string
  const seq: number = ack.messageId;
  // @ts-expect-error a bot writes to a person or into a conversation, never both
  await bot.sendText({ to: click.user.address, conversationId: click.conversationId }, 'hello');
  // @ts-expect-error a card's button has a label
  const unlabelled: Card = { title: 't', fields: [], actions: [{ id: 'x' }] };
  return { toast: 'Approved', card };
}

export function watch(client: AtriumClient): void {
  client.on('message', (message: Message) => console.log(message.conversationId, message.seq));
  client.on('ended', ({ why }) => console.log(why));
}

export const refused = (error: unknown): string | undefined => (error instanceof AtriumError ? error.code : undefined);
`;

let dir: string;
let appDir: string;
let gateway: TestGateway;
let eng: TestNode;
let app: ChildProcess | undefined;

async function npm(cwd: string, args: string[]): Promise<string> {
  return (await run('npm', ['--no-audit', '--no-fund', '--loglevel=error', ...args], { cwd })).stdout;
}

/**
 * `npm run build:sdk`, `npm pack`, and an install of the tarball into an app's own folder outside the
 * repository. zod, the package's one dependency, comes from a tarball packed from this repository's
 * node_modules, and npm runs offline with an empty cache of its own: what is installed is what was packed.
 */
async function installPackedSdk(): Promise<void> {
  const built = join(dir, 'atrium-sdk');
  await npm(root, ['run', 'build:sdk', '--', '--out', built]);
  const [sdk, zod] = await Promise.all([
    npm(built, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir]),
    npm(dir, ['pack', '--json', '--ignore-scripts', join(root, 'node_modules/zod'), '--pack-destination', dir]),
  ]);
  const tarball = (json: string) => join(dir, (JSON.parse(json) as { filename: string }[])[0]!.filename);
  await mkdir(appDir);
  await writeFile(
    join(appDir, 'package.json'),
    JSON.stringify({ name: 'room-bookings', private: true, type: 'module' }),
  );
  await npm(appDir, ['install', '--offline', '--cache', join(dir, 'npm-cache'), tarball(sdk), tarball(zod)]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atrium-sdk-tarball-'));
  appDir = join(dir, 'room-bookings');
  const starting = (async () => {
    gateway = await startTestGateway('sdk-package', { LOGIN_IP_LIMIT: '1000' });
    eng = await startTestNode(gateway, 'eng.campus.test');
    await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  })();
  // Both settle before a failure is reported, so that afterAll stops a gateway that was still starting.
  const settled = await Promise.allSettled([installPackedSdk(), starting]);
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
}, 240_000);
afterAll(async () => {
  app?.kill();
  await eng?.stop();
  await gateway?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Starts the app; its lines of JSON on stdout, as they come. */
function startApp(env: Record<string, string>): { lines: Record<string, any>[]; errors: () => string } {
  app = spawn(process.execPath, ['app.mjs'], { cwd: appDir, env: { PATH: process.env.PATH ?? '', ...env } });
  const lines: Record<string, any>[] = [];
  let stderr = '';
  app.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: app.stdout! }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, any>));
  return { lines, errors: () => stderr };
}

describe('the SDK packed for apps outside this repository', () => {
  it('lets a plain JavaScript app write to a person with its bot and verify the click on its card', async () => {
    const port = await freePort();
    const rooms = await register(gateway, {
      name: 'Room Bookings',
      slug: 'rooms',
      redirectUris: ['http://localhost:9/cb'],
      interactionCallbackUrl: `http://127.0.0.1:${port}/atrium/callback`,
      botEnabled: true,
    });
    const alice = Object.assign(await connectAs(gateway, eng, 'alice'), { messages: [] as Message[] });
    alice.on('message', (m) => alice.messages.push(m));
    try {
      await writeFile(join(appDir, 'app.mjs'), APP);
      const { lines, errors } = startApp({
        NODE_URL: eng.localUrl,
        BOT_TOKEN: await botToken(gateway, rooms, eng.url),
        CALLBACK_SECRET: rooms.callbackSecret!,
        PORT: String(port),
        TO: ALICE,
      });
      await expect.poll(() => lines.find((l) => l.sent) ?? errors(), { timeout: 15_000 }).toHaveProperty('sent');
      const messageId = lines.find((l) => l.sent)!.sent as string;
      await expect
        .poll(() => alice.messages.find((m) => m.id === messageId))
        .toMatchObject({
          kind: 'card',
          sender: 'rooms@eng.campus.test',
          card: { title: 'Seminar room 2, Thursday 10:00' },
        });

      const result = await alice.cardAction(messageId, 'book');
      expect(result).toMatchObject({ messageId, actionId: 'book', toast: 'Booked for Alice Chen' });
      expect(lines.find((l) => l.click)?.click).toMatchObject({
        messageId,
        actionId: 'book',
        user: { address: ALICE, name: 'Alice Chen' },
        app: 'rooms',
      });

      // A callback signed with another secret is refused by the packaged verifier, as CallbackRejected.
      const body = JSON.stringify({ ...lines.find((l) => l.click)!.click, nonce: 'another-nonce-0123456789' });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const forged = await fetch(`http://127.0.0.1:${port}/atrium/callback`, {
        method: 'POST',
        headers: {
          [CALLBACK_HEADERS.timestamp]: timestamp,
          [CALLBACK_HEADERS.signature]: callbackSignature('not-the-secret', timestamp, body),
        },
        body,
      });
      expect(forged.status).toBe(401);
      await expect.poll(() => lines.at(-1)).toEqual({ rejected: 'bad_signature' });
    } finally {
      alice.close();
    }
  });

  it("gives a TypeScript app the SDK's types, and its mistakes as errors", async () => {
    await writeFile(join(appDir, 'consumer.ts'), CONSUMER);
    // @types/node from this repository: the declarations name Node's Buffer and Headers, as any Node app has them.
    const tsconfig = {
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        noEmit: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: ['consumer.ts'],
    };
    await writeFile(join(appDir, 'tsconfig.json'), JSON.stringify(tsconfig));
    const checked = await run(join(root, 'node_modules/.bin/tsc'), ['-p', join(appDir, 'tsconfig.json')]).catch(
      (error: { stdout: string; code: number }) => error,
    );
    expect(checked.stdout).toBe('');
  }, 90_000);
});
