import { AsyncLocalStorage } from 'node:async_hooks';
import { join } from 'node:path';
import type { AdapterPayload } from 'oidc-provider';
import type { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { defineGatewayModels, type GatewayModels } from '../../gateway/models/index.ts';
import { createAdapterClass, sweepExpiredPayloads } from '../../gateway/oidc/adapter.ts';
import { createTestDatabase, testDialect, type TestDatabase } from '../helpers/database.ts';

let db: TestDatabase;
let sequelize: Sequelize;
let models: GatewayModels;
let Store: ReturnType<typeof createAdapterClass>;
// The store as the provider runs it, each call inside a request (rotation needs one).
const requests = new AsyncLocalStorage<object>();
let RequestStore: ReturnType<typeof createAdapterClass>;

beforeAll(async () => {
  db = await createTestDatabase('oidc-store');
  sequelize = await openDatabase({ url: db.url, sqliteFile: join(db.dataDir, 'gateway.sqlite') });
  await migrate(sequelize, 'gateway');
  models = defineGatewayModels(sequelize);
  Store = createAdapterClass(models);
  RequestStore = createAdapterClass(models, () => requests.getStore());
});
afterAll(async () => {
  await sequelize?.close();
  await db?.drop();
});

const token = (jti: string, extra: Partial<AdapterPayload> = {}): AdapterPayload => ({
  jti,
  kind: 'RefreshToken',
  grantId: 'grant-1',
  accountId: 'person-1',
  scope: 'openid offline_access',
  ...extra,
});

describe("the provider's store", () => {
  it('gives back what was stored, per model, and nothing for an unknown id', async () => {
    const tokens = new Store('RefreshToken');
    await tokens.upsert('rt-1', token('rt-1'), 3600);
    expect(await tokens.find('rt-1')).toEqual(token('rt-1'));
    expect(await new Store('AccessToken').find('rt-1')).toBeUndefined();
    expect(await tokens.find('rt-unknown')).toBeUndefined();
    const row = await models.OidcPayload.findOne({ where: { model: 'RefreshToken', id: 'rt-1' } });
    expect(row).toMatchObject({ grantId: 'grant-1', accountId: 'person-1' });
  });

  it('marks a token consumed, and an upsert of it later keeps the mark', async () => {
    const tokens = new Store('RefreshToken');
    await tokens.upsert('rt-2', token('rt-2'), 3600);
    const before = Math.floor(Date.now() / 1000);
    await tokens.consume('rt-2');
    const consumed = (await tokens.find('rt-2'))!.consumed as number;
    expect(consumed).toBeGreaterThanOrEqual(before - 1);
    expect(consumed).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    await tokens.upsert('rt-2', token('rt-2', { scope: 'openid' }), 3600);
    expect(await tokens.find('rt-2')).toMatchObject({ scope: 'openid', consumed });
  });

  it('finds nothing expired, and the sweep removes it', async () => {
    const sessions = new Store('Session');
    await sessions.upsert('s-old', { uid: 'uid-old', accountId: 'person-1' }, 3600);
    await models.OidcPayload.update(
      { expiresAt: new Date(Date.now() - 1000) },
      { where: { model: 'Session', id: 's-old' } },
    );
    expect(await sessions.find('s-old')).toBeUndefined();
    expect(await sessions.findByUid('uid-old')).toBeUndefined();
    expect(await sweepExpiredPayloads(models)).toBeGreaterThanOrEqual(1);
    expect(await models.OidcPayload.count({ where: { model: 'Session', id: 's-old' } })).toBe(0);
  });

  it('finds a session by its uid and a device code by its user code; without a lifetime a row never expires', async () => {
    await new Store('Session').upsert('s-1', { uid: 'uid-1', accountId: 'person-1' }, 3600);
    expect(await new Store('Session').findByUid('uid-1')).toMatchObject({ accountId: 'person-1' });
    await new Store('DeviceCode').upsert('dc-1', { userCode: 'ABCD-EFGH', grantId: 'g' }, 0);
    expect(await new Store('DeviceCode').findByUserCode('ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });
    expect((await models.OidcPayload.findOne({ where: { model: 'DeviceCode', id: 'dc-1' } }))!.expiresAt).toBeNull();
  });

  it('destroys one row, and revoking a grant removes everything issued under it', async () => {
    const tokens = new Store('RefreshToken');
    const access = new Store('AccessToken');
    await tokens.upsert('rt-g1', token('rt-g1', { grantId: 'grant-9' }), 3600);
    await access.upsert('at-g1', token('at-g1', { grantId: 'grant-9', kind: 'AccessToken' }), 3600);
    await tokens.upsert('rt-other', token('rt-other', { grantId: 'grant-8' }), 3600);
    await tokens.destroy('rt-other');
    expect(await tokens.find('rt-other')).toBeUndefined();
    await tokens.revokeByGrantId('grant-9');
    expect(await tokens.find('rt-g1')).toBeUndefined();
    expect(await access.find('at-g1')).toBeUndefined();
  });
});

/** Runs `check` with the process in another time zone (Node reads TZ anew whenever it is set). */
async function inTimeZone(zone: string, check: () => Promise<void>): Promise<void> {
  const was = process.env.TZ;
  process.env.TZ = zone;
  try {
    await check();
  } finally {
    if (was === undefined) delete process.env.TZ;
    else process.env.TZ = was;
  }
}

// Ahead of UTC and behind it: a date stored or compared in local time would be hours off either way.
const ZONES = ['UTC', 'Asia/Kolkata', 'America/Sao_Paulo'];

describe("the store's dates", () => {
  for (const zone of ZONES) {
    it(`are the instants they name, as Sequelize's models read and write them (process in ${zone})`, async () => {
      await inTimeZone(zone, async () => {
        const sessions = new Store('Session');
        const id = `s-tz-${zone}`;
        const where = { model: 'Session', id };
        const before = Date.now();
        await sessions.upsert(id, { uid: `uid-tz-${zone}`, accountId: 'person-1' }, 3600);
        const after = Date.now();
        const expiresAt = (await models.OidcPayload.findOne({ where }))!.expiresAt!.getTime();
        expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
        expect(expiresAt).toBeLessThanOrEqual(after + 3_600_000);

        await models.OidcPayload.update({ expiresAt: new Date(Date.now() + 3000) }, { where });
        expect(await sessions.find(id)).toMatchObject({ accountId: 'person-1' });
        expect(await sessions.findByUid(`uid-tz-${zone}`)).toMatchObject({ accountId: 'person-1' });
        await models.OidcPayload.update({ expiresAt: new Date(Date.now() - 1000) }, { where });
        expect(await sessions.find(id)).toBeUndefined();
        expect(await sessions.findByUid(`uid-tz-${zone}`)).toBeUndefined();
      });
    });

    it(`read a consumed mark as the instant it was set (process in ${zone})`, async () => {
      await inTimeZone(zone, async () => {
        const codes = new Store('AuthorizationCode');
        const id = `code-tz-${zone}`;
        const where = { model: 'AuthorizationCode', id };
        await codes.upsert(id, token(id, { kind: 'AuthorizationCode' }), 60);
        const before = Date.now();
        await codes.consume(id);
        const after = Date.now();
        const consumedAt = (await models.OidcPayload.findOne({ where }))!.consumedAt!.getTime();
        expect(consumedAt).toBeGreaterThanOrEqual(before);
        expect(consumedAt).toBeLessThanOrEqual(after);
        expect((await codes.find(id))!.consumed).toBe(Math.floor(consumedAt / 1000));

        const marked = new Date('2026-03-01T23:30:00.250Z');
        await models.OidcPayload.update({ consumedAt: marked }, { where });
        expect((await codes.find(id))!.consumed).toBe(Math.floor(marked.getTime() / 1000));
      });
    });
  }
});

describe('a refresh token rotated by two requests at once', () => {
  it('is spent by one of them; the other is refused and the successor it stored is dropped', async () => {
    const tokens = new RequestStore('RefreshToken');
    for (let round = 0; round < 10; round++) {
      const id = `rt-race-${round}`;
      await tokens.upsert(id, token(id), 3600);
      const rotations = ['a', 'b'].map((side) =>
        requests.run({}, async () => {
          await tokens.consume(id);
          await tokens.upsert(`${id}-${side}`, token(`${id}-${side}`), 3600);
        }),
      );
      const outcomes = await Promise.allSettled(rotations);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ error: 'invalid_grant' });
      const successors = await Promise.all(['a', 'b'].map((side) => tokens.find(`${id}-${side}`)));
      expect(successors.filter(Boolean)).toHaveLength(1);
      expect((await tokens.find(id))!.consumed).toBeTypeOf('number');
    }
  });
});
