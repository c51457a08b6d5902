import { join } from 'node:path';
import type { AdapterPayload } from 'oidc-provider';
import type { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { defineGatewayModels, type GatewayModels } from '../../gateway/models/index.ts';
import { createAdapterClass, sweepExpiredPayloads } from '../../gateway/oidc/adapter.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

let db: TestDatabase;
let sequelize: Sequelize;
let models: GatewayModels;
let Store: ReturnType<typeof createAdapterClass>;

beforeAll(async () => {
  db = await createTestDatabase('oidc-store');
  sequelize = await openDatabase({ url: db.url, sqliteFile: join(db.dataDir, 'gateway.sqlite') });
  await migrate(sequelize, 'gateway');
  models = defineGatewayModels(sequelize);
  Store = createAdapterClass(models);
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
