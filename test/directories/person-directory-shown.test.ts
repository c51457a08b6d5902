import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listUsers } from '../../gateway/accounts/list-users.ts';
import { mainText, type BrowserAgent, type Page } from '../helpers/browser-agent.ts';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { entry, inetOrgPerson, ouLdif, PEOPLE, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { asOperator, register, sync } from './fixtures.ts';

/**
 * An administrator looking at someone synced from a campus directory sees where they come from: the
 * directory, the entry's DN and id, and the name the directory gives them when it renamed them; and that
 * their password is the directory's. A local account shows none of it.
 */
let gateway: TestGateway;
let ldap: TestSlapd;
let admin: BrowserAgent;

const jon = { uid: 'jon', name: 'Jon Jansen', ous: ['Physics'] };
const lou = { uid: 'lou', name: 'Lou Lind', ous: ['Physics'] };
const eli = { uid: 'eli', name: 'Eli Ek', ous: ['Eng'] };
// An OU whose name holds characters HTML gives a meaning to (`<` and `>` are escaped in a DN's text).
const LAB_DN = `ou=R&D \\<Lab\\>,${PEOPLE}`;
const AMY_DN = `uid=amy,${LAB_DN}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const url = (path: string) => `${gateway.issuer}${path}`;
const open = (agent: BrowserAgent, path: string) => agent.navigate(url(path));
const atrium = (...args: string[]) => runAtrium(gateway.db, args);

/** The row of the console's user list that links to this person. */
function rowOf(page: Page, username: string): string {
  const row = [...page.html.matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
    .map((m) => m[1]!)
    .find((r) => r.includes(`>${username}</a>`));
  if (!row) throw new Error(`no row for ${username}`);
  return row;
}

const linkOf = async (username: string) => {
  const user = (await gateway.models.User.findOne({ where: { username } }))!;
  return (await gateway.models.DirectoryAccount.findByPk(user.id))!;
};
/** An entryUUID as reports show it: its text. */
const entryIdOf = async (username: string) => Buffer.from((await linkOf(username)).entryId!, 'hex').toString('latin1');

beforeAll(async () => {
  gateway = await startTestGateway('dir-person-shown', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Physics'], ['Eng']]),
      ...[jon, lou, eli].map((p) => inetOrgPerson(p)),
      entry(LAB_DN, { objectClass: 'organizationalUnit', ou: 'R&D <Lab>' }),
      entry(AMY_DN, { objectClass: 'inetOrgPerson', uid: 'amy', cn: 'Amy Aas', sn: 'Aas', mail: 'amy@campus.test' }),
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url);
  expect((await sync(gateway, 'campus-ldap')).added).toBe(4);
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe("a synced person's console page", () => {
  it('says which directory and entry they come from, links to the directory, and offers no password reset, unlike a local account’s', async () => {
    const page = await open(admin, '/admin/users/jon');
    expect(page.status).toBe(200);
    const text = mainText(page);
    expect(text).toContain(`Campus directory From directory campus-ldap — entry ${personDn(jon)}`);
    expect(text).not.toContain('named jon there');
    expect(text).not.toContain('renamed');
    const id = await entryIdOf('jon');
    expect(id).toMatch(UUID);
    expect(text).toContain(`Entry id ${id}`);
    expect(page.html).toContain('<a href="/admin/directories/campus-ldap">campus-ldap</a>');
    expect(text).toContain('jon signs in with the password of directory campus-ldap');
    // What to tell someone who forgot it: the directory's own reset page.
    expect(page.html).toMatch(/A forgotten one is reset at <a href="https:\/\/password\.campus\.test\/reset"/);
    expect(page.html).not.toMatch(/action="\/admin\/users\/[^"]+\/password"/);

    // A local account's page, by contrast, names no directory and keeps the password reset form.
    const alice = (await gateway.models.User.findOne({ where: { username: 'alice' } }))!;
    const local = await open(admin, '/admin/users/alice');
    expect(local.status).toBe(200);
    expect(mainText(local)).not.toContain('Campus directory');
    expect(local.html).not.toContain('/admin/directories/');
    expect(local.html).toContain(`action="/admin/users/${alice.id}/password"`);
  });

  it('gives the name the directory gives them after it renamed them, once a sync has read it', async () => {
    await ldap.moveEntry(personDn(jon), personDn({ ...jon, uid: 'jonathan' }));
    expect((await sync(gateway, 'campus-ldap')).names.renamed).toEqual(['jon (jonathan there)']);
    const text = mainText(await open(admin, '/admin/users/jon'));
    expect(text).toContain(
      `From directory campus-ldap — entry ${personDn({ ...jon, uid: 'jonathan' })} — named jonathan there (renamed; signs in with either name)`,
    );
  });

  it('escapes a DN that holds characters HTML gives a meaning to', async () => {
    // OpenLDAP hands `<` and `>` back as \3C and \3E; the `&` stays as it is.
    const amyDn = (await linkOf('amy')).dn;
    expect(amyDn).toBe(`uid=amy,ou=R&D \\3CLab\\3E,${PEOPLE}`);
    const page = await open(admin, '/admin/users/amy');
    expect(page.status).toBe(200);
    expect(page.html).toContain('<code>uid&#x3D;amy,ou&#x3D;R&amp;D \\3CLab\\3E,');
    expect(mainText(page)).toContain(`From directory campus-ldap — entry ${amyDn}`);
    const list = await open(admin, '/admin/users?q=amy');
    expect(rowOf(list, 'amy')).toContain('title="From directory campus-ldap: uid&#x3D;amy,ou&#x3D;R&amp;D ');

    // Active Directory writes them as \< and \>: a DN as AD gives it, the way a sync would keep it.
    const adDn = 'CN=Amy \\<script\\>,OU=R&D,DC=ad,DC=campus,DC=test';
    await gateway.models.DirectoryAccount.update({ dn: adDn }, { where: { userId: (await linkOf('amy')).userId } });
    try {
      const adPage = await open(admin, '/admin/users/amy');
      expect(adPage.html).not.toContain('\\<script');
      expect(adPage.html).toContain('CN&#x3D;Amy \\&lt;script\\&gt;,OU&#x3D;R&amp;D,');
      expect(mainText(adPage)).toContain(`entry ${adDn}`);
      const adList = await open(admin, '/admin/users?q=amy');
      expect(adList.html).not.toContain('\\<script');
      expect(rowOf(adList, 'amy')).toContain('CN&#x3D;Amy \\&lt;script\\&gt;');
    } finally {
      await gateway.models.DirectoryAccount.update({ dn: amyDn }, { where: { userId: (await linkOf('amy')).userId } });
    }
  });
});

describe('the console user list', () => {
  it('names the directory of each person who comes from one, and marks the others local', async () => {
    const page = await open(admin, '/admin/users?pageSize=200');
    expect(page.html).toContain('<th scope="col">Directory</th>');
    for (const name of ['jon', 'lou', 'eli', 'amy']) expect(rowOf(page, name)).toContain('>campus-ldap</span>');
    for (const name of ['alice', 'admin', 'bob']) {
      expect(rowOf(page, name)).toContain('<span class="muted">local</span>');
      expect(rowOf(page, name)).not.toContain('campus-ldap');
    }
  });

  it('reads every listed person’s directory in the same few queries however many are listed', async () => {
    const ctx = asOperator(gateway);
    const queriesFor = async (query: { q: string; pageSize?: number }) => {
      let queries = 0;
      gateway.sequelize.addHook('beforeQuery', 'count', () => {
        queries += 1;
      });
      try {
        const page = await listUsers(ctx, query);
        return { queries, directories: page.users.map((u) => u.directory?.name ?? null) };
      } finally {
        gateway.sequelize.removeHook('beforeQuery', 'count');
      }
    };
    const one = await queriesFor({ q: 'jon' });
    const all = await queriesFor({ q: 'campus.test', pageSize: 200 });
    expect(one.directories).toEqual(['campus-ldap']);
    expect(all.directories.filter((d) => d === 'campus-ldap')).toHaveLength(4);
    expect(all.directories).toContain(null);
    expect(all.queries).toBe(one.queries);
  });
});

describe('a unit admin', () => {
  it("sees the directory of a person of their units, without a link to the administrators' directory page", async () => {
    const engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
    const page = await open(engAdmin, '/admin/users/eli');
    expect(page.status).toBe(200);
    expect(mainText(page)).toContain(`From directory campus-ldap — entry ${personDn(eli)}`);
    expect(page.html).not.toContain('/admin/directories/');

    const list = await open(engAdmin, '/admin/users?pageSize=200');
    expect(rowOf(list, 'eli')).toContain('campus-ldap');
    // Someone outside their units is not there, nor anything of their entry.
    expect(list.html).not.toContain('>jon</a>');
    expect(list.html).not.toContain('ou&#x3D;Physics');
    expect((await open(engAdmin, '/admin/users/jon')).status).toBe(404);
  });
});

describe('atrium users', () => {
  it('show gives the directory, the entry and the name there of a synced person, and none for a local one', async () => {
    const [jonShown, aliceShown] = await Promise.all([
      atrium('users', 'show', 'jon'),
      atrium('users', 'show', 'alice'),
    ]);
    expect(jonShown.code, jonShown.stderr).toBe(0);
    expect(jonShown.stdout).toContain(
      [
        '  directory: campus-ldap',
        `    entry:   ${personDn({ ...jon, uid: 'jonathan' })}`,
        `    id:      ${await entryIdOf('jon')}`,
        '    named:   jonathan there (renamed; signs in with either name)',
      ].join('\n'),
    );
    expect(jonShown.stdout).toContain("password: the directory's: it is checked and changed in campus-ldap");
    expect(aliceShown.code, aliceShown.stderr).toBe(0);
    expect(aliceShown.stdout).toContain('  directory: none (a local account)');
    expect(aliceShown.stdout).toContain('  password: set');
  });

  it('list shows the directory of each person, or - for a local account', async () => {
    const listed = await atrium('users', 'list', '--q', 'campus.test');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(
      /^USERNAME\s+NAME\s+EMAIL\s+UNITS \(\* primary\)\s+ROLES\s+STATUS\s+DIRECTORY\s+2ND FACTOR\n/,
    );
    expect(listed.stdout).toMatch(/^jon\s.*\sactive\s+campus-ldap\s+none$/m);
    expect(listed.stdout).toMatch(/^alice\s.*\sactive\s+-\s+none$/m);
  });

  it('--json carries the directory field: the entry as reports show it, null for a local account', async () => {
    const [jonJson, aliceJson, listed] = await Promise.all([
      atrium('users', 'show', 'jon', '--json'),
      atrium('users', 'show', 'alice', '--json'),
      atrium('users', 'list', '--q', 'campus.test', '--json'),
    ]);
    const expected = {
      name: 'campus-ldap',
      dn: personDn({ ...jon, uid: 'jonathan' }),
      entryId: await entryIdOf('jon'),
      directoryUsername: 'jonathan',
      disabledByDirectory: false,
    };
    expect(jsonOf(jonJson)).toMatchObject({ username: 'jon', directory: expected });
    expect(jsonOf(aliceJson)).toMatchObject({ username: 'alice', directory: null });
    const users = jsonOf<{ users: { username: string; directory: unknown }[] }>(listed).users;
    expect(users.find((u) => u.username === 'jon')!.directory).toEqual(expected);
    expect(users.find((u) => u.username === 'amy')!.directory).toMatchObject({ dn: (await linkOf('amy')).dn });
    expect(users.find((u) => u.username === 'alice')!.directory).toBeNull();
  });
});
