import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { login } from '../helpers/node.ts';
import { refreshPins } from '../../gateway/federation/refresh-pins.ts';
import { pinnedKeysOf } from '../../gateway/federation/pin-domain.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { renameUnit } from '../../gateway/accounts/units.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let campus: Campus;
beforeAll(async () => {
  campus = await startCampus('fed-directory');
});
afterAll(async () => campus?.stop());

async function search(username: string, node: 'eng' | 'arts' | 'law', q: string, limit?: number) {
  const who = await login(campus.gateway, username);
  const token = await who.tokenFor(campus.nodes[node].url);
  const response = await request(campus.nodes[node].server)
    .get('/api/v1/directory')
    .query(limit === undefined ? { q } : { q, limit })
    .set('authorization', `Bearer ${token}`);
  expect(response.status).toBe(200);
  return response.body.people as { username: string; address: string; addresses: string[] }[];
}

describe('people search across colleges', () => {
  it('finds people on domains the policy lets the searcher see, at their home address', async () => {
    const found = await search('alice', 'eng', 'bob');
    expect(found.map((p) => p.address)).toEqual(['bob@arts.campus.test']);
    expect((await search('alice', 'eng', 'lena')).map((p) => p.address)).toEqual(['lena@law.campus.test']);
  });

  it('matches "_" and "%" in a search as themselves, not as wildcards', async () => {
    const ctx = { ...campus.gateway.context(null), actor: operator('test') };
    const probe = (username: string, displayName: string) =>
      createUser(ctx, {
        username,
        displayName,
        email: `${username}@probe.test`,
        password: DEMO_PASSWORD,
        units: ['campus/arts'],
        roles: ['student'],
      });
    await probe('dir_probe', 'Directory 100% probe');
    await probe('dirxprobe', 'Directory 1000 probe');
    const usernames = async (q: string) => (await search('alice', 'eng', q)).map((p) => p.username).sort();
    expect(await usernames('dir_probe')).toEqual(['dir_probe']);
    expect(await usernames('r_p')).toEqual(['dir_probe']);
    expect(await usernames('100%')).toEqual(['dir_probe']);
    expect(await usernames('dir')).toEqual(['dir_probe', 'dirxprobe']);
  });

  it("finds a unit's own people by the unit's name, after those found by their own name", async () => {
    const ctx = { ...campus.gateway.context(null), actor: operator('test') };
    await createUser(ctx, {
      username: 'zed',
      displayName: 'Zed Musicant',
      email: 'zed@probe.test',
      password: DEMO_PASSWORD,
      units: ['campus/law'],
      roles: ['student'],
    });
    const usernames = async (who: string, node: 'eng' | 'arts', q: string, limit?: number) =>
      (await search(who, node, q, limit)).map((p) => p.username);
    // Alice is the Department of Computer Science's; Dave and Carol are Electrical Engineering's.
    expect(await usernames('bob', 'arts', 'Computer')).toEqual(['alice']);
    // Folded as names are: case and accents aside. Zed's own name comes first, then the department's.
    expect(await usernames('alice', 'eng', 'MÚSIC')).toEqual(['zed', 'carol']);
    expect(await usernames('alice', 'eng', 'music', 1)).toEqual(['zed']);
    // Arts may not see law: the Music department's Carol is found, Zed of Law is not.
    expect(await usernames('bob', 'arts', 'music')).toEqual(['carol']);
    expect(await usernames('bob', 'arts', 'school of law')).toEqual([]);
    expect(await usernames('alice', 'eng', 'school of law')).toEqual(['lena', 'zed']);
    // A unit's own members only: the College of Engineering's is Enzo, not its departments' people.
    expect(await usernames('alice', 'eng', 'college of engineering')).toEqual(['eng-admin']);
    expect(await usernames('alice', 'eng', 'engineering')).toEqual(['carol', 'dave', 'eng-admin']);
  });

  it('finds a renamed unit by its new name at once', async () => {
    const ctx = { ...campus.gateway.context(null), actor: operator('test') };
    expect(await search('alice', 'eng', 'classics')).toEqual([]);
    await renameUnit(ctx, { path: 'campus/arts/history', name: 'Department of History and Classics' });
    expect((await search('alice', 'eng', 'classics')).map((p) => p.username)).toEqual(['bob']);
  });

  it("does not find everyone by their mail's domain, but does by its local part or the whole address", async () => {
    // Every demo address is at campus.test; nobody is named so, and no unit is.
    expect(await search('alice', 'eng', 'campus')).toEqual([]);
    expect((await search('alice', 'eng', 'bob@campus.test')).map((p) => p.username)).toEqual(['bob']);
    expect((await search('alice', 'eng', 'probe.test')).map((p) => p.username)).toEqual([]);
  });

  it('hides people of domains the policy keeps apart', async () => {
    expect(await search('bob', 'arts', 'lena')).toEqual([]);
  });

  it('lists every address of someone in several colleges', async () => {
    const [carol] = await search('bob', 'arts', 'carol');
    expect(carol!.addresses.sort()).toEqual(['carol@arts.campus.test', 'carol@eng.campus.test']);
  });

  it('looks up many people by username in one request, for their names, within the same policy', async () => {
    const who = await login(campus.gateway, 'alice');
    const token = await who.tokenFor(campus.nodes.eng.url);
    const lookup = (usernames: string) =>
      request(campus.nodes.eng.server)
        .get('/api/v1/directory')
        .query({ usernames })
        .set('authorization', `Bearer ${token}`);
    const found = await lookup('bob,carol,lena,nobody-here,Dave');
    expect(found.status).toBe(200);
    const names = Object.fromEntries(
      (found.body.people as { username: string; name: string }[]).map((p) => [p.username, p.name]),
    );
    expect(Object.keys(names).sort()).toEqual(['bob', 'carol', 'dave', 'lena']);
    expect(names.dave).toBe('Dave Okafor');
    // Arts may not see law: the same lookup from arts leaves lena out.
    const bob = await login(campus.gateway, 'bob');
    const fromArts = await request(campus.nodes.arts.server)
      .get('/api/v1/directory')
      .query({ usernames: 'lena,alice' })
      .set('authorization', `Bearer ${await bob.tokenFor(campus.nodes.arts.url)}`);
    expect((fromArts.body.people as { username: string }[]).map((p) => p.username)).toEqual(['alice']);

    const tooMany = await lookup(Array.from({ length: 101 }, (_, i) => `user${i}`).join(','));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.code).toBe('invalid_input');
    const bad = await lookup('bob,<script>');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_input');
  });

  it('requires a token for the node', async () => {
    await request(campus.nodes.eng.server).get('/api/v1/directory').query({ q: 'bob' }).expect(401);
  });
});

describe("following a node's key rotation", () => {
  it('re-pins the new key because the old one vouches for it', async () => {
    const before = pinnedKeysOf((await campus.gateway.models.Domain.findOne({ where: { name: 'law.campus.test' } }))!);
    const rotated = await campus.nodes.law.federation.keys.rotate();
    await refreshPins(campus.gateway.context(null), campus.gateway.logger);
    const after = pinnedKeysOf((await campus.gateway.models.Domain.findOne({ where: { name: 'law.campus.test' } }))!);
    expect(after.map((k) => k.kid)).toEqual([rotated.kid, ...before.map((k) => k.kid)]);
  });
});
