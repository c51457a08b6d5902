import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDurableStore, type DurableStore } from '../../bench/gateway/durable-store.ts';
import { createTestDatabase, testDialect, type TestDatabase } from '../helpers/database.ts';

describe(`bench:gateway's durable stand-in store (${testDialect})`, () => {
  let database: TestDatabase;
  let store: DurableStore;

  beforeAll(async () => {
    database = await createTestDatabase('standin-store');
    store = await openDurableStore(
      database.url ? { url: database.url } : { file: join(database.dataDir, 'standin.sqlite') },
    );
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('hands back what it stored, and the latest version after a second upsert', async () => {
    const sessions = store.adapter('Session');
    await sessions.upsert('s1', { jti: 's1', uid: 'u1', accountId: 'ada', exp: 1 }, 3600);
    await sessions.upsert('s1', { jti: 's1', uid: 'u1', accountId: 'ada', exp: 2 }, 3600);
    expect(await sessions.find('s1')).toEqual({ jti: 's1', uid: 'u1', accountId: 'ada', exp: 2 });
    expect(await sessions.findByUid('u1')).toEqual({ jti: 's1', uid: 'u1', accountId: 'ada', exp: 2 });
    expect(await store.adapter('Grant').find('s1')).toBeUndefined();
  });

  it('finds nothing once an artefact has expired', async () => {
    const codes = store.adapter('AuthorizationCode');
    await codes.upsert('short', { jti: 'short' }, 1);
    await codes.upsert('long', { jti: 'long' }, 60);
    expect(await codes.find('short')).toEqual({ jti: 'short' });
    await sleep(1100);
    expect(await codes.find('short')).toBeUndefined();
    expect(await codes.find('long')).toEqual({ jti: 'long' });
  });

  it('marks a consumed artefact, and an upsert afterwards keeps the mark', async () => {
    const tokens = store.adapter('RefreshToken');
    await tokens.upsert('r1', { jti: 'r1', grantId: 'g9' }, 60);
    const before = Math.floor(Date.now() / 1000);
    await tokens.consume('r1');
    const consumed = (await tokens.find('r1'))?.consumed as number;
    expect(consumed).toBeGreaterThanOrEqual(before);
    expect(consumed).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    await tokens.upsert('r1', { jti: 'r1', grantId: 'g9', scope: 'openid' }, 60);
    expect(await tokens.find('r1')).toMatchObject({ scope: 'openid', consumed });
  });

  it('finds a device code by its user code', async () => {
    const device = store.adapter('DeviceCode');
    await device.upsert('d1', { jti: 'd1', userCode: 'ABCD-EFGH' }, 60);
    expect(await device.findByUserCode('ABCD-EFGH')).toEqual({ jti: 'd1', userCode: 'ABCD-EFGH' });
  });

  it("revokes a grant: every artefact issued under it is gone, another grant's stay", async () => {
    const access = store.adapter('AccessToken');
    const refresh = store.adapter('RefreshToken');
    await access.upsert('a1', { jti: 'a1', grantId: 'g1' }, 60);
    await refresh.upsert('r2', { jti: 'r2', grantId: 'g1' }, 60);
    await refresh.upsert('r3', { jti: 'r3', grantId: 'g2' }, 60);
    await access.revokeByGrantId('g1');
    expect(await access.find('a1')).toBeUndefined();
    expect(await refresh.find('r2')).toBeUndefined();
    expect(await refresh.find('r3')).toEqual({ jti: 'r3', grantId: 'g2' });
  });

  it('destroys one artefact', async () => {
    const interactions = store.adapter('Interaction');
    await interactions.upsert('i1', { jti: 'i1' }, 60);
    await interactions.destroy('i1');
    expect(await interactions.find('i1')).toBeUndefined();
  });

  it('keeps what it stored in the database: a store opened afterwards on it finds it', async () => {
    await store.adapter('Grant').upsert('g5', { jti: 'g5', accountId: 'ada' }, 60);
    await store.close();
    store = await openDurableStore(
      database.url ? { url: database.url } : { file: join(database.dataDir, 'standin.sqlite') },
    );
    expect(await store.adapter('Grant').find('g5')).toEqual({ jti: 'g5', accountId: 'ada' });
  });
});
