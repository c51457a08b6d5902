import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { accountClaims } from '../../gateway/accounts/account-claims.ts';

let gateway: TestGateway;

async function homeOf(username: string): Promise<string | null> {
  const user = await gateway.models.User.findOne({ where: { username } });
  if (!user) throw new Error(`no user ${username}`);
  return (await accountClaims(gateway.context(null), user)).im_home_domain;
}

const domainNamed = (name: string) => gateway.models.Domain.count({ where: { name } });

beforeAll(async () => {
  gateway = await startTestGateway('cli-domains');
});
afterAll(async () => gateway?.stop());

describe('atrium domains', () => {
  it('refuses a domain that would move people, saying how many, from where, and the flag that confirms', async () => {
    const add = ['domains', 'add', 'med.campus.test', '--url', 'http://127.0.0.1:4296', '--unit', 'campus/eng/cs'];
    const [text, json] = await Promise.all([runAtrium(gateway.db, add), runAtrium(gateway.db, [...add, '--json'])]);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain(
      'This would change the IM home domain of 1 person (1 from eng.campus.test to med.campus.test). ' +
        'Their chat history stays on the old node; run again with --move-people to move them.',
    );
    expect(jsonOf(json).error.code).toBe('moves_people');
    expect(await domainNamed('med.campus.test')).toBe(0);

    const moved = await runAtrium(gateway.db, [...add, '--move-people']);
    expect(moved.code).toBe(0);
    expect(moved.stdout).toContain('Added domain med.campus.test at http://127.0.0.1:4296, serving campus/eng/cs.');
    expect(await homeOf('alice')).toBe('med.campus.test');
  });

  it('changes the units a domain serves with update, under the same confirmation', async () => {
    const update = ['domains', 'update', 'med.campus.test', '--unit', 'campus/eng/ee'];
    const refused = await runAtrium(gateway.db, update);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      '2 people (1 from eng.campus.test to med.campus.test; 1 from med.campus.test to eng.campus.test)',
    );
    const saved = await runAtrium(gateway.db, [...update, '--move-people']);
    expect(saved.code).toBe(0);
    expect(saved.stdout).toContain('Saved domain med.campus.test at http://127.0.0.1:4296, serving campus/eng/ee.');
    expect(await homeOf('alice')).toBe('eng.campus.test');
    expect(await homeOf('dave')).toBe('med.campus.test');
  });

  it('removes a domain with its federation pairs, refusing while it is anyone’s home', async () => {
    expect((await runAtrium(gateway.db, ['domains', 'allow', 'med.campus.test', 'arts.campus.test'])).code).toBe(0);
    const refused = await runAtrium(gateway.db, ['domains', 'remove', 'med.campus.test']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('1 person (1 from med.campus.test to eng.campus.test)');
    expect(refused.stderr).toContain('--move-people');
    expect(await domainNamed('med.campus.test')).toBe(1);

    const removed = await runAtrium(gateway.db, ['domains', 'remove', 'med.campus.test', '--move-people', '--json']);
    expect(removed.code).toBe(0);
    expect(jsonOf(removed)).toEqual({
      removed: 'med.campus.test',
      movedPeople: 1,
      moves: [{ from: 'med.campus.test', to: 'eng.campus.test', people: 1 }],
      federationPairs: [['arts.campus.test', 'med.campus.test']],
    });
    expect(await domainNamed('med.campus.test')).toBe(0);
    expect(await gateway.models.FederationPair.count({ where: { domainB: 'med.campus.test' } })).toBe(0);
    expect(await homeOf('dave')).toBe('eng.campus.test');
  });

  it('names the arguments of allow and remove in its usage errors', async () => {
    const [allow, remove] = await Promise.all([
      runAtrium(gateway.db, ['domains', 'allow', 'eng.campus.test']),
      runAtrium(gateway.db, ['domains', 'remove']),
    ]);
    expect(allow.code).toBe(2);
    expect(allow.stderr).toContain('missing OTHER_DOMAIN');
    expect(remove.code).toBe(2);
    expect(remove.stderr).toContain('missing NAME');
  });

  it('refuses a domain for a unit another domain serves, naming it, and flags a clash from before in list', async () => {
    const add = ['domains', 'add', 'eng2.campus.test', '--url', 'http://127.0.0.1:4299', '--unit', 'campus/eng'];
    const [text, json] = await Promise.all([
      runAtrium(gateway.db, [...add, '--move-people']),
      runAtrium(gateway.db, [...add, '--json']),
    ]);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain('campus/eng is served by eng.campus.test. A unit is served by one domain node');
    expect(jsonOf(json).error.code).toBe('conflict');
    expect(await domainNamed('eng2.campus.test')).toBe(0);
    const update = ['domains', 'update', 'arts.campus.test', '--unit', 'campus/arts', '--unit', 'campus/eng'];
    const refused = await runAtrium(gateway.db, [...update, '--move-people']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('campus/eng is served by eng.campus.test.');
    // A unit below one that another domain serves is not a clash: the nearest unit's domain wins.
    const below = await runAtrium(gateway.db, ['domains', 'update', 'arts.campus.test', '--unit', 'campus/eng/cs']);
    expect(below.stderr).toContain('1 from eng.campus.test to arts.campus.test');

    // A database from before the rule: the old tie-break by id chose zz.campus.test; the name order chooses eng.
    const eng = await gateway.models.Domain.findOne({ where: { name: 'eng.campus.test' } });
    const unit = await gateway.models.OrgUnit.findOne({ where: { path: 'campus/eng' } });
    await gateway.models.Domain.create({
      id: '00000000-0000-4000-8000-00000000000a',
      name: 'zz.campus.test',
      url: 'http://zz',
    });
    await gateway.models.DomainUnit.create({ domainId: '00000000-0000-4000-8000-00000000000a', unitId: unit!.id });
    expect(eng!.id > '00000000-0000-4000-8000-00000000000a').toBe(true);
    expect(await homeOf('alice')).toBe('eng.campus.test');
    const [list, listJson] = await Promise.all([
      runAtrium(gateway.db, ['domains', 'list']),
      runAtrium(gateway.db, ['domains', 'list', '--json']),
    ]);
    expect(list.stdout).toContain(
      "Warning: campus/eng is served by eng.campus.test and zz.campus.test: its people's IM home is eng.campus.test, the first by name.",
    );
    expect(jsonOf(listJson).sharedUnits).toEqual([
      { unit: 'campus/eng', domains: ['eng.campus.test', 'zz.campus.test'], home: 'eng.campus.test' },
    ]);
  });
});
