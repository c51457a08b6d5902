import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findByColumn } from '../../core/find-by-column.ts';
import { registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let gateway: TestGateway;
let clientId: string;

beforeAll(async () => {
  gateway = await startTestGateway('find-by-column');
  const app = await registerTestApp(gateway, {
    name: 'Library',
    redirectUris: ['http://localhost:9/library-cb'],
    firstParty: true,
    botEnabled: true,
    visibility: { units: ['campus/eng'], roles: ['student'] },
  });
  clientId = app.clientId;
});
afterAll(async () => gateway?.stop());

describe('finding one row by a column', () => {
  it('gives every person exactly as findOne gives them', async () => {
    const { User } = gateway.models;
    await User.update({ lockedUntil: new Date('2030-01-02T03:04:05.678Z') }, { where: { username: 'bob' } });
    for (const slow of await User.findAll()) {
      const fast = await findByColumn(User, 'id', slow.id);
      expect(fast!.toJSON()).toEqual(slow.toJSON());
      expect(fast!.roles).toEqual(slow.roles);
    }
    expect((await findByColumn(User, 'username', 'bob'))!.lockedUntil).toEqual(new Date('2030-01-02T03:04:05.678Z'));
  });

  it('gives an app and a domain node exactly as findOne gives them, booleans and lists included', async () => {
    const { App, Domain } = gateway.models;
    const app = (await findByColumn(App, 'clientId', clientId))!;
    expect(app.toJSON()).toEqual((await App.findOne({ where: { clientId } }))!.toJSON());
    expect(app.firstParty).toBe(true);
    expect(app.disabled).toBe(false);
    expect(app.visibilityUnits).toEqual(['campus/eng']);
    for (const slow of await Domain.findAll()) {
      expect((await findByColumn(Domain, 'url', slow.url))!.toJSON()).toEqual(slow.toJSON());
    }
  });

  it('finds nothing for a value no row holds, and refuses an attribute the model does not have', async () => {
    expect(await findByColumn(gateway.models.User, 'id', 'no-such-id')).toBeNull();
    await expect(findByColumn(gateway.models.User, 'nickname', 'x')).rejects.toThrow(/no attribute nickname/);
  });

  it('gives an instance that saves like one read by findOne', async () => {
    const { User } = gateway.models;
    const dave = (await findByColumn(User, 'username', 'dave'))!;
    dave.displayName = 'Dave O.';
    await dave.save();
    expect((await User.findOne({ where: { username: 'dave' } }))!.displayName).toBe('Dave O.');
  });
});
