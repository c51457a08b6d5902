import { rotateCallbackSecret, rotateClientSecret } from '../../gateway/apps-registry/rotate-secrets.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Request } from 'express';
import * as client from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSealer } from '../../core/seal.ts';
import { registerApp, type RegisteredApp } from '../../gateway/apps-registry/register-app.ts';
import { callbackSecretSealer } from '../../gateway/apps-registry/secrets.ts';
import { operator } from '../../gateway/context.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { checkTotpCode, totpDeps } from '../../gateway/factors/totp.ts';
import { knownDeviceCookie, knownDeviceCookieName } from '../../gateway/http/known-device-cookie.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { inspectDatabase, jsonOf, runAtrium } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { ARTS_NODE, ENG_NODE, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestNodeOn } from '../helpers/node.ts';
import { codeFlow, discover } from '../helpers/rp.ts';

/**
 * Rotating the sealing secrets after a leak: a process given the new secret, and the old one as previous,
 * opens everything sealed before; `atrium secrets reseal` seals it all afresh; then the old one can go.
 */
const secret = () => randomBytes(32).toString('base64url');
const [A, B, C] = [secret(), secret(), secret()];
const REDIRECT = 'http://localhost:9/secrets-cb';

/** Lines the gateway logs at warn and above. */
function warnings(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('rotating ATRIUM_SECRET_KEY', () => {
  let db: TestDatabase;
  let gateway: Gateway | undefined;
  let app: RegisteredApp;
  const totp = new Secret({ size: 20 });
  const cookieKeys = secret();

  const start = (env: Record<string, string>, logger = warnings().logger) =>
    startGateway(
      loadGatewayConfig({
        GATEWAY_PORT: '0',
        GATEWAY_HOST: '127.0.0.1',
        ATRIUM_DATA_DIR: db.dataDir,
        ...(db.url ? { DATABASE_URL: db.url } : {}),
        DIRECTORY_SYNC_INTERVAL: 'off',
        ATRIUM_COOKIE_KEYS: cookieKeys,
        ...env,
      }),
      { migrate: true, logger },
    );
  const stop = async () => {
    await gateway?.close();
    gateway = undefined;
  };

  /** The app gets a bot token and signs alice in; a code of dave's authenticator is taken. */
  async function works(g: Gateway): Promise<void> {
    const rp = await discover(g.issuer, app.clientId, app.clientSecret);
    expect((await client.clientCredentialsGrant(rp, { resource: ENG_NODE, scope: 'im' })).access_token).toBeTruthy();
    const { tokens } = await codeFlow(rp, REDIRECT, 'alice');
    expect(tokens.claims()).toMatchObject({ preferred_username: 'alice' });
    const dave = (await g.models.User.findOne({ where: { username: 'dave' } }))!;
    await g.models.TotpFactor.update({ lastStep: null }, { where: { userId: dave.id } });
    const code = new TOTP({ secret: totp }).generate();
    expect(await checkTotpCode(g.context(null), totpDeps(g.config.secretKey, g.issuer), dave, code)).toBe(true);
  }

  /** The kinds of the values the database holds sealed with another secret than B. */
  async function notSealedWithB(): Promise<string[]> {
    const look = await inspectDatabase(db);
    const { SigningKey, App, TotpFactor, Directory, OidcPayload } = look.ctx.models;
    const clients = await OidcPayload.findAll({ where: { model: 'Client' } });
    const sealed: [string, (string | null)[]][] = [
      ['signing-keys', (await SigningKey.findAll()).map((k) => k.privateJwkSealed)],
      [
        'client-secrets',
        clients.flatMap((c) => {
          const payload = JSON.parse(c.payload) as {
            client_secret_sealed: string;
            client_secret_previous_sealed?: string;
          };
          return [payload.client_secret_sealed, payload.client_secret_previous_sealed ?? null];
        }),
      ],
      [
        'app-callback-secrets',
        (await App.findAll()).flatMap((a) => [a.callbackSecretSealed, a.callbackSecretPreviousSealed]),
      ],
      ['totp-secrets', (await TotpFactor.findAll()).flatMap((f) => [f.secret, f.replacementSecret])],
      ['directory-bind-passwords', (await Directory.findAll()).map((d) => d.bindPasswordSealed)],
    ];
    await look.close();
    return sealed.flatMap(([kind, values]) =>
      values.filter((v) => v !== null && !createSealer(B, kind).opensWithCurrent(v)).map(() => kind),
    );
  }

  beforeAll(async () => {
    db = await createTestDatabase('secrets-gateway');
    gateway = await start({ ATRIUM_SECRET_KEY: A });
    const ctx = gateway.context(null);
    await seedDemo(ctx, { eng: ENG_NODE, arts: ARTS_NODE });
    const input = {
      name: 'Rooms',
      redirectUris: [REDIRECT],
      botEnabled: true,
      interactionCallbackUrl: 'https://rooms.campus.test/callback',
    };
    app = await registerApp({ ...ctx, actor: operator('test') }, input, callbackSecretSealer(A));
    // Both its secrets were rotated yesterday, say: the previous ones work beside the new for a day.
    const rotating = { ...ctx, actor: operator('test') };
    const day = { graceSeconds: 86_400 };
    app = { ...app, clientSecret: (await rotateClientSecret(rotating, app.slug, day)).clientSecret };
    await rotateCallbackSecret(rotating, app.slug, callbackSecretSealer(A), day);
    const dave = (await gateway.models.User.findOne({ where: { username: 'dave' } }))!;
    const other = (await gateway.models.User.findOne({ where: { username: 'eng-admin' } }))!;
    const seal = (key: string) => createSealer(key, 'totp-secrets').seal(totp.base32);
    const factor = { confirmedAt: new Date(), lastStep: null, createdAt: new Date() };
    // Dave is replacing his authenticator app, the new one not yet confirmed.
    const replacing = { replacementSecret: seal(A), replacementStartedAt: new Date() };
    await gateway.models.TotpFactor.create({ userId: dave.id, secret: seal(A), ...factor, ...replacing });
    // Sealed with a secret the operator no longer has: the reseal must say so and leave it.
    await gateway.models.TotpFactor.create({ userId: other.id, secret: seal(C), ...factor });
    await gateway.models.Directory.create({
      id: randomUUID(),
      name: 'campus-ldap',
      url: 'ldap://127.0.0.1:9',
      caFile: null,
      bindDn: 'cn=atrium,dc=campus,dc=test',
      bindPasswordSealed: createSealer(A, 'directory-bind-passwords').seal('service-password'),
      settings: '{}',
      resetUrl: null,
    });
    await stop();
  });
  afterAll(async () => {
    await stop();
    await db?.drop();
  });

  it('starts with the new secret and the old one as previous: apps, sign-in, codes and cookies work; a reseal is due', async () => {
    const { logger, lines } = warnings();
    gateway = await start({ ATRIUM_SECRET_KEY: B, ATRIUM_SECRET_KEY_PREVIOUS: `${secret()}, ${A}` }, logger);
    await works(gateway);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: expect.stringContaining('run "atrium secrets reseal", then drop ATRIUM_SECRET_KEY_PREVIOUS'),
      }),
    );
    // A browser known from a sign-in before the rotation is still known.
    const name = knownDeviceCookieName(false);
    const before = createSealer(A, 'known-device-cookie').seal(JSON.stringify([['u1', 'a'.repeat(22), Date.now()]]));
    const known = knownDeviceCookie(gateway.config.secretKey, false).read({ cookies: { [name]: before } } as Request);
    expect([...known.keys()]).toEqual(['u1']);
    await stop();
  });

  it('reseals every sealed value with the new secret, lists what none opens, and changes nothing when run again', async () => {
    const env = { ATRIUM_SECRET_KEY: B, ATRIUM_SECRET_KEY_PREVIOUS: A, ATRIUM_COOKIE_KEYS: cookieKeys };
    expect((await notSealedWithB()).sort()).toEqual([
      'app-callback-secrets',
      'app-callback-secrets',
      'client-secrets',
      'client-secrets',
      'directory-bind-passwords',
      'signing-keys',
      'totp-secrets',
      'totp-secrets',
      'totp-secrets',
    ]);

    const first = await runAtrium(db, ['secrets', 'reseal', '--json'], { env });
    expect(first.code).toBe(0);
    const kinds = Object.fromEntries(
      jsonOf<{ kinds: { kind: string; resealed: number }[] }>(first).kinds.map((k) => [k.kind, k.resealed]),
    );
    expect(kinds).toMatchObject({
      'signing-keys': 1,
      // The app's; the console's and portal's own were sealed afresh at the start with the new secret.
      'client-secrets': 1,
      'client-secrets-previous': 1,
      'app-callback-secrets': 1,
      'app-callback-secrets-previous': 1,
      'totp-secrets': 1,
      'totp-replacement-secrets': 1,
      'directory-bind-passwords': 1,
    });
    const unopened = jsonOf(first).unopened;
    expect(unopened).toEqual([{ kind: 'totp-secrets', row: expect.any(String) }]);

    const again = await runAtrium(db, ['secrets', 'reseal'], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^signing-keys\s+0\s+1\s+0\s+0$/m);
    expect(again.stdout).toMatch(/^totp-secrets\s+0\s+1\s+0\s+1$/m);
    expect(again.stdout).toContain('Resealed 0 values of the gateway with the current ATRIUM_SECRET_KEY.');
    expect(again.stdout).toContain(`  totp-secrets ${unopened[0].row}\n`);

    // Only the one no secret opens is left as it was.
    expect(await notSealedWithB()).toEqual(['totp-secrets']);
  });

  it('then works with the new secret alone, and refuses the old one alone', async () => {
    const { logger, lines } = warnings();
    gateway = await start({ ATRIUM_SECRET_KEY: B }, logger);
    await works(gateway);
    expect(lines.filter((l) => String(l.msg).includes('reseal'))).toEqual([]);
    await stop();
    const refused = warnings();
    await expect(start({ ATRIUM_SECRET_KEY: A }, refused.logger)).rejects.toThrow(
      'Cannot open a sealed value: the configured secret (ATRIUM_SECRET_KEY for the gateway, NODE_SECRET_KEY for a node) differs from the one it was sealed with',
    );
    // Keys that no secret opens are not "due for a reseal": nothing would reseal them.
    expect(refused.lines.filter((l) => String(l.msg).includes('reseal'))).toEqual([]);
  });
});

describe('rotating NODE_SECRET_KEY', () => {
  const DOMAIN = 'eng.campus.test';
  let gateway: TestGateway;
  let db: TestDatabase;

  const keysServed = async (url: string) =>
    ((await (await fetch(`${url}/.well-known/atrium/keys`)).json()) as { proof: unknown[] }).proof.length;

  beforeAll(async () => {
    gateway = await startTestGateway('secrets-node-gateway');
    db = await createTestDatabase('secrets-node');
    const node = await startTestNodeOn(gateway, DOMAIN, db, { NODE_SECRET_KEY: A });
    await node.close();
  });
  afterAll(async () => {
    await db?.drop();
    await gateway?.stop();
  });

  it('starts with the new secret and the old one as previous, reseals, then needs only the new one', async () => {
    const { logger, lines } = warnings();
    const rotated = await startTestNodeOn(
      gateway,
      DOMAIN,
      db,
      { NODE_SECRET_KEY: B, NODE_SECRET_KEY_PREVIOUS: A },
      { logger },
    );
    expect(await keysServed(rotated.localUrl)).toBe(1);
    await rotated.close();
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: expect.stringContaining(
          `run "atrium secrets reseal --node ${DOMAIN}", then drop NODE_SECRET_KEY_PREVIOUS`,
        ),
      }),
    );

    const env = { NODE_SECRET_KEY: B, NODE_SECRET_KEY_PREVIOUS: A, GATEWAY_ISSUER: gateway.issuer };
    const resealed = await runAtrium(db, ['secrets', 'reseal', '--node', DOMAIN], { env });
    expect(resealed.code).toBe(0);
    expect(resealed.stdout).toMatch(/^node-keys\s+1\s+0\s+0\s+0$/m);
    expect(resealed.stdout).toContain(`Resealed 1 value of the ${DOMAIN} node with the current NODE_SECRET_KEY.`);
    const again = await runAtrium(db, ['secrets', 'reseal', '--node', DOMAIN], { env });
    expect(again.stdout).toMatch(/^node-keys\s+0\s+1\s+0\s+0$/m);

    const alone = await startTestNodeOn(gateway, DOMAIN, db, { NODE_SECRET_KEY: B });
    expect(await keysServed(alone.localUrl)).toBe(1);
    await alone.close();
    // The first-start secret is now exactly the wrong one: the words name the secret of the last reseal.
    await expect(startTestNodeOn(gateway, DOMAIN, db, { NODE_SECRET_KEY: A })).rejects.toThrow(
      `This is not the secret the ${DOMAIN} node's keys are sealed with now (set at its first start or by the last "atrium secrets reseal --node ${DOMAIN}")`,
    );
  });
});
