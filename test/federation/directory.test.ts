import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { login } from '../helpers/node.ts';
import { refreshPins } from '../../gateway/federation/refresh-pins.ts';
import { pinnedKeysOf } from '../../gateway/federation/pin-domain.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let campus: Campus;
beforeAll(async () => {
  campus = await startCampus('fed-directory');
});
afterAll(async () => campus?.stop());

async function search(username: string, node: 'eng' | 'arts' | 'law', q: string) {
  const who = await login(campus.gateway, username);
  const token = await who.tokenFor(campus.nodes[node].url);
  const response = await request(campus.nodes[node].server)
    .get('/api/v1/directory')
    .query({ q })
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
