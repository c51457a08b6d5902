import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { migrate } from '../../core/migrator.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { inspectDatabase, jsonOf, runAtrium, startAtrium, type LongRunning } from '../helpers/cli.ts';
import { unusedUrl } from '../helpers/ports.ts';

/** The node the seeded campus names; nothing listens there (the demo's own eng node may be on 4201). */
const ENG = await unusedUrl('localhost');

let db: TestDatabase;
let gateway: LongRunning | undefined;

beforeAll(async () => {
  db = await createTestDatabase('cli-gateway');
  const inspect = await inspectDatabase(db);
  await migrate(inspect.sequelize, 'gateway');
  await seedDemo(inspect.ctx, { eng: ENG, arts: await unusedUrl('localhost') });
  await inspect.close();
});
afterAll(async () => {
  await gateway?.stop('SIGKILL');
  await db?.drop();
});

describe('atrium apps, keys and gateway', () => {
  it('registers an app whose client id and secret work for client credentials at the running gateway, and rotates keys live', async () => {
    const text = await runAtrium(db, ['apps', 'add', '--name', 'Library', '--redirect-uri', 'http://localhost:9/cb']);
    const json = await runAtrium(db, [
      'apps',
      'add',
      '--name',
      'Timetable',
      '--redirect-uri',
      'https://timetable.campus.test/cb',
      '--client-id',
      'timetable',
      '--first-party',
      '--bot',
      '--json',
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /\n {2}client id: {7}app-[0-9a-f]{8}\n {2}client secret: {3}[\w-]{43}\n {2}callback secret: [\w-]{43}\n {2}slug: {12}\S+\n/,
    );
    expect(text.stdout).toContain('Both secrets are shown only this once');
    const app = jsonOf(json);
    expect(app).toEqual({
      id: expect.any(String),
      slug: 'timetable',
      clientId: 'timetable',
      clientSecret: expect.stringMatching(/^[\w-]{43}$/),
      callbackSecret: expect.stringMatching(/^[\w-]{43}$/),
      name: 'Timetable',
      slugTaken: null,
      app: expect.objectContaining({ slug: 'timetable', firstParty: true, botEnabled: true }),
    });

    gateway = startAtrium(db, ['gateway'], { GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', KEYS_RELOAD_SECONDS: '1' });
    const { port } = await gateway.log('gateway listening');
    const issuer = `http://localhost:${port}`;
    const rp = await client.discovery(new URL(issuer), app.clientId, app.clientSecret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`), { cooldownDuration: 0 });
    const token = async () => (await client.clientCredentialsGrant(rp, { resource: ENG, scope: 'im' })).access_token;

    const first = await token();
    const { payload } = await jwtVerify(first, jwks, { issuer, audience: ENG });
    expect(payload.client_id).toBe('timetable');
    const oldKid = decodeProtectedHeader(first).kid!;

    const rotated = await runAtrium(db, ['keys', 'rotate', '--json']);
    expect(rotated.code).toBe(0);
    const { kid: newKid, retired, reloadWithinSeconds } = jsonOf(rotated);
    expect({ retired, reloadWithinSeconds }).toEqual({ retired: [], reloadWithinSeconds: 30 });
    expect(newKid).not.toBe(oldKid);

    const listed = jsonOf(await runAtrium(db, ['keys', 'list', '--json'])).keys;
    expect(listed.map((k: { kid: string; state: string; signing: boolean }) => [k.kid, k.state, k.signing])).toEqual([
      [newKid, 'active', true],
      [oldKid, 'active', false],
    ]);

    // The running gateway notices the rotation by itself within KEYS_RELOAD_SECONDS.
    await gateway.log('signing keys reloaded');
    const second = await token();
    expect(decodeProtectedHeader(second).kid).toBe(newKid);
    await expect(jwtVerify(second, jwks, { issuer, audience: ENG })).resolves.toBeTruthy();
    await expect(jwtVerify(first, jwks, { issuer, audience: ENG })).resolves.toBeTruthy();

    const [current, retire] = await Promise.all([
      runAtrium(db, ['keys', 'retire', newKid]),
      runAtrium(db, ['keys', 'retire', oldKid]),
    ]);
    expect(current.code).toBe(2);
    expect(current.stderr).toContain('The current signing key cannot be retired; rotate first');
    expect(retire).toMatchObject({ code: 0, stdout: `Retired signing key ${oldKid}.\n` });
    const look = await inspectDatabase(db);
    const audited = await look.ctx.models.AuditEvent.findAll({
      where: { action: ['keys.rotate', 'keys.retire'] },
      order: [['id', 'ASC']],
    });
    expect(audited.map((e) => [e.action, e.target, e.actorName])).toEqual([
      ['keys.rotate', newKid, 'cli'],
      ['keys.retire', oldKid, 'cli'],
    ]);
    await look.close();

    expect(await gateway.stop('SIGTERM')).toBe(0);
    expect(gateway.output()).toContain('"msg":"shutting down"');
    expect(gateway.output()).toContain('"msg":"stopped"');
  });

  it('refuses to start the gateway with a secret that does not open its signing keys, as a configuration problem', async () => {
    const refused = await runAtrium(db, ['gateway'], {
      env: { GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', ATRIUM_SECRET_KEY: 'x'.repeat(40) },
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'atrium: Cannot open a sealed value: the configured secret (ATRIUM_SECRET_KEY for the gateway, NODE_SECRET_KEY for a node) differs from the one it was sealed with\n',
    );
  });

  it('refuses an app with an insecure redirect URI and registers nothing', async () => {
    const result = await runAtrium(db, [
      'apps',
      'add',
      '--name',
      'Evil',
      '--redirect-uri',
      'http://evil.example/cb',
      '--json',
    ]);
    expect(result.code).toBe(2);
    expect(jsonOf(result).error.fields).toEqual({
      'redirectUris.0': 'must use https (http is allowed only for localhost)',
    });
    const inspect = await inspectDatabase(db);
    expect(await inspect.ctx.models.App.count({ where: { name: 'Evil' } })).toBe(0);
    await inspect.close();
  });

  it('refuses a --retire-after that is empty or not a plain number, so a script with an unset variable retires no key', {
    timeout: 60_000,
  }, async () => {
    type Key = { kid: string; state: string };
    const keys = async () => jsonOf<{ keys: Key[] }>(await runAtrium(db, ['keys', 'list', '--json'])).keys;
    // The newest of these keys is superseded by the next rotation just before the refused ones.
    expect((await runAtrium(db, ['keys', 'rotate'])).code).toBe(0);
    expect((await runAtrium(db, ['keys', 'rotate'])).code).toBe(0);
    const before = await keys();

    // '' is what `--retire-after "$HOURS"` passes with HOURS unset; Number() would read it, and ' ', as 0 hours.
    const unset = await runAtrium(db, ['keys', 'rotate', '--retire-after', '']);
    expect({ code: unset.code, stderr: unset.stderr }).toEqual({
      code: 2,
      stderr: expect.stringContaining('--retire-after expects a number of hours, such as 24 (got "")'),
    });
    const others = [' ', 'soon', '-1', '1e3', '0x10', 'Infinity'];
    // A value starting with "-" is only taken in the --option=value form.
    const refused = await Promise.all(
      others.map((value) => runAtrium(db, ['keys', 'rotate', `--retire-after=${value}`])),
    );
    expect(refused.map((r, i) => [others[i], r.code, r.stderr.split('\n')[0]])).toEqual(
      others.map((value) => [
        value,
        2,
        `atrium: --retire-after expects a number of hours, such as 24 (got ${JSON.stringify(value)})`,
      ]),
    );
    expect(await keys()).toEqual(before);

    const rotated = await runAtrium(db, ['keys', 'rotate', '--retire-after', ' 0.5 ', '--json']);
    expect(rotated.code).toBe(0);
    expect(jsonOf(rotated).retired).toEqual([]);
    expect((await keys()).filter((k) => k.state === 'active')).toHaveLength(
      before.filter((k) => k.state === 'active').length + 1,
    );
  });
});
