import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filledFormWithAction, submitFilled, type BrowserAgent, type Page } from '../helpers/browser-agent.ts';
import { addPeople, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { operator } from '../../gateway/context.ts';
import { accountClaims } from '../../gateway/accounts/account-claims.ts';
import { addDomain, updateDomain } from '../../gateway/domains/domains.ts';
import { HomeMoveError } from '../../gateway/domains/home-moves.ts';
import { ConflictError } from '../../core/errors.ts';
import { removeDomain } from '../../gateway/domains/remove-domain.ts';
import { allowPair, listPolicy } from '../../gateway/federation/policy.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { login } from '../helpers/node.ts';

const ENG = 'eng.campus.test';
const ARTS = 'arts.campus.test';

let gateway: TestGateway;
let admin: BrowserAgent;

const ctx = () => ({ ...gateway.context(null), actor: operator('test') });
const url = (path: string) => `${gateway.issuer}${path}`;
const open = (path: string) => admin.navigate(url(path));

async function homeOf(username: string): Promise<string | null> {
  const user = await gateway.models.User.findOne({ where: { username } });
  if (!user) throw new Error(`no user ${username}`);
  return (await accountClaims(gateway.context(null), user)).im_home_domain;
}

async function refusal(work: Promise<unknown>): Promise<HomeMoveError> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HomeMoveError);
  return error as HomeMoveError;
}

const lastAudit = async (action: string) => {
  const row = await gateway.models.AuditEvent.findOne({ where: { action }, order: [['id', 'DESC']] });
  return { target: row?.target, details: JSON.parse(row?.details ?? '{}') as Record<string, unknown> };
};

/** What a person reads on the page's main part: tags stripped, entities decoded, spaces collapsed. */
const mainText = (page: Page) =>
  (/<main[^>]*>([\s\S]*)<\/main>/.exec(page.html)?.[1] ?? page.html)
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

beforeAll(async () => {
  gateway = await startTestGateway('domain-changes', { LOGIN_IP_LIMIT: '1000' });
  // With alice, three people of campus/eng/cs, all at home on eng.campus.test.
  await addPeople(gateway, ['cs-one', 'cs-two'], 'campus/eng/cs');
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => gateway?.stop());

describe('changing the domains that serve units', () => {
  it("refuses a new domain that would become people's home, counting who moves from where to where", async () => {
    const input = { name: 'med.campus.test', url: 'http://127.0.0.1:4290', units: ['campus/eng/cs'] };
    const error = await refusal(addDomain(ctx(), input));
    expect(error.moves).toEqual({ people: 3, moves: [{ from: ENG, to: 'med.campus.test', people: 3 }] });
    expect(error.message).toContain('IM home domain of 3 people (3 from eng.campus.test to med.campus.test)');
    expect(error.message).toContain('chat history stays on the old node');
    expect(await gateway.models.Domain.count({ where: { name: 'med.campus.test' } })).toBe(0);
    expect(await homeOf('alice')).toBe(ENG);
  });

  it('adds it when the move is confirmed: their claims name the new home, and the audit log the count', async () => {
    await addDomain(ctx(), {
      name: 'med.campus.test',
      url: 'http://127.0.0.1:4290',
      units: ['campus/eng/cs'],
      movePeople: true,
    });
    expect(await homeOf('alice')).toBe('med.campus.test');
    expect(await homeOf('cs-one')).toBe('med.campus.test');
    expect(await homeOf('dave')).toBe(ENG);
    const audited = await lastAudit('domain.create');
    expect(audited.target).toBe('med.campus.test');
    expect(audited.details).toMatchObject({ movedPeople: 3, moves: [{ from: ENG, to: 'med.campus.test', people: 3 }] });
  });

  it('adds a domain that moves nobody as before: a partner one, or one giving a home to people without any', async () => {
    await addDomain(ctx(), { name: 'partner.example.org', url: 'http://127.0.0.1:4291', units: [] });
    expect(await homeOf('admin')).toBeNull();
    await addDomain(ctx(), { name: 'campus.test', url: 'http://127.0.0.1:4292', units: ['campus'] });
    expect(await homeOf('admin')).toBe('campus.test');
    expect(await homeOf('alice')).toBe('med.campus.test');
    expect((await lastAudit('domain.create')).details).not.toHaveProperty('movedPeople');
  });

  it('refuses new units for a domain that move people either way, and changes nothing', async () => {
    const error = await refusal(updateDomain(ctx(), 'med.campus.test', { units: ['campus/eng/ee'] }));
    expect(error.moves).toEqual({
      people: 4,
      moves: [
        { from: 'med.campus.test', to: ENG, people: 3 },
        { from: ENG, to: 'med.campus.test', people: 1 },
      ],
    });
    expect(await homeOf('alice')).toBe('med.campus.test');
    expect(await homeOf('dave')).toBe(ENG);
    // The URL alone moves nobody.
    await updateDomain(ctx(), 'med.campus.test', { url: 'http://127.0.0.1:4293' });
  });

  it('removes a home domain only when the move is confirmed, and its federation pairs with it', async () => {
    await allowPair(ctx(), { a: 'med.campus.test', b: ARTS });
    const error = await refusal(removeDomain(ctx(), 'med.campus.test'));
    expect(error.moves).toEqual({ people: 3, moves: [{ from: 'med.campus.test', to: ENG, people: 3 }] });
    expect(await gateway.models.Domain.count({ where: { name: 'med.campus.test' } })).toBe(1);
    expect(await listPolicy(ctx())).toContainEqual([ARTS, 'med.campus.test']);

    const removed = await removeDomain(ctx(), 'med.campus.test', { movePeople: true });
    expect(removed.federationPairs).toEqual([[ARTS, 'med.campus.test']]);
    expect(await gateway.models.Domain.count({ where: { name: 'med.campus.test' } })).toBe(0);
    expect(await listPolicy(ctx())).not.toContainEqual([ARTS, 'med.campus.test']);
    expect(await homeOf('alice')).toBe(ENG);
    expect((await lastAudit('domain.remove')).details).toMatchObject({ movedPeople: 3 });
  });

  it('removes at once a domain that is nobody’s home, and counts people left with no home at all', async () => {
    await removeDomain(ctx(), 'partner.example.org');
    expect(await gateway.models.Domain.count({ where: { name: 'partner.example.org' } })).toBe(0);
    const error = await refusal(removeDomain(ctx(), 'campus.test'));
    expect(error.moves).toEqual({ people: 1, moves: [{ from: 'campus.test', to: null, people: 1 }] });
    expect(error.message).toContain('1 from campus.test to no domain');
    await removeDomain(ctx(), 'campus.test', { movePeople: true });
    expect(await homeOf('admin')).toBeNull();
  });
});

describe('the console', () => {
  it('will not save a domain serving no unit unless it is marked as a partner organization’s', async () => {
    const form = await open('/admin/domains/new');
    const fields = { name: 'peer.example.org', url: 'http://127.0.0.1:4294', units: [] };
    const unticked = await submitFilled(admin, form, filledFormWithAction(form, '/admin/domains'), fields);
    expect(unticked.status).toBe(400);
    expect(mainText(unticked)).toContain(
      "tick the units this node serves, or mark it as a partner organization's domain",
    );
    expect(await gateway.models.Domain.count({ where: { name: 'peer.example.org' } })).toBe(0);
    const partner = await submitFilled(admin, form, filledFormWithAction(form, '/admin/domains'), {
      ...fields,
      partner: 'on',
    });
    expect(partner.url).toBe(url('/admin/domains'));
    const edit = await open('/admin/domains/peer.example.org');
    expect(edit.html).toMatch(/name="partner" value="on" checked/);
  });

  it('shows the form again with the count and a confirmation box, and moves people once it is ticked', async () => {
    const form = await open('/admin/domains/new');
    const fields = { name: 'ee.campus.test', url: 'http://127.0.0.1:4295', units: ['campus/eng/ee'] };
    const refused = await submitFilled(admin, form, filledFormWithAction(form, '/admin/domains'), fields);
    expect(refused.status).toBe(409);
    // dave, and carol's second unit (her home is arts, by her primary unit): one person moves.
    expect(mainText(refused)).toContain('IM home domain of 1 person (1 from eng.campus.test to ee.campus.test)');
    expect(mainText(refused)).toContain('Move these people (1)');
    expect(await gateway.models.Domain.count({ where: { name: 'ee.campus.test' } })).toBe(0);

    const again = filledFormWithAction(refused, '/admin/domains');
    const added = await submitFilled(admin, refused, again, { movePeople: 'on' });
    expect(added.url).toBe(url('/admin/domains'));
    expect(await homeOf('dave')).toBe('ee.campus.test');
    expect(await homeOf('carol')).toBe(ARTS);
  });

  it('refuses new units that move people until confirmed', async () => {
    const edit = await open('/admin/domains/ee.campus.test');
    const form = filledFormWithAction(edit, '/admin/domains/ee.campus.test');
    const refused = await submitFilled(admin, edit, form, { units: ['campus/eng/ee', 'campus/eng/cs'] });
    expect(refused.status).toBe(409);
    expect(mainText(refused)).toContain('3 from eng.campus.test to ee.campus.test');
    expect(await homeOf('alice')).toBe(ENG);
    const saved = await submitFilled(admin, refused, filledFormWithAction(refused, '/admin/domains/ee.campus.test'), {
      movePeople: 'on',
    });
    expect(mainText(saved)).toContain('Saved domain ee.campus.test.');
    expect(await homeOf('alice')).toBe('ee.campus.test');
    expect((await lastAudit('domain.update')).details).toMatchObject({ movedPeople: 3 });
  });

  it('puts back no URL changed since the page was opened, and refuses to change it over that change', async () => {
    const stale = await open('/admin/domains/ee.campus.test');
    await updateDomain(ctx(), 'ee.campus.test', { url: 'http://127.0.0.1:4297' });
    const urlNow = async () => (await gateway.models.Domain.findOne({ where: { name: 'ee.campus.test' } }))!.url;
    const form = filledFormWithAction(stale, '/admin/domains/ee.campus.test');
    const unchanged = await submitFilled(admin, stale, form);
    expect(mainText(unchanged)).toContain('Nothing changed for domain ee.campus.test.');
    expect(await urlNow()).toBe('http://127.0.0.1:4297');

    const refused = await submitFilled(admin, stale, form, { url: 'http://127.0.0.1:4298' });
    expect(refused.status).toBe(409);
    expect(mainText(refused)).toContain(
      'Domain ee.campus.test was changed since you opened this page (node URL): nothing was saved.',
    );
    expect(refused.html).toContain('value="http://127.0.0.1:4297"');
    expect(await urlNow()).toBe('http://127.0.0.1:4297');
  });

  it('removes a domain from its page: CSRF-checked, refused while people live there, then confirmed', async () => {
    const page = await open('/admin/domains/ee.campus.test');
    const remove = filledFormWithAction(page, '/admin/domains/ee.campus.test/remove');
    const forged = await submitFilled(admin, page, remove, { _csrf: 'forged' });
    expect(forged.status).toBe(403);

    // The refusal is said on the domain's page after a redirect: a reload asks for the page, not the removal.
    const refused = await submitFilled(admin, page, remove);
    expect(refused.url).toBe(url('/admin/domains/ee.campus.test#remove-heading'));
    expect(refused.status).toBe(200);
    expect(mainText(refused)).toContain('IM home domain of 4 people (4 from ee.campus.test to eng.campus.test)');
    expect(mainText(refused)).toContain('Move these people (4)');
    expect(await gateway.models.Domain.count({ where: { name: 'ee.campus.test' } })).toBe(1);
    const reloaded = await open('/admin/domains/ee.campus.test');
    expect(mainText(reloaded)).not.toContain('IM home domain of 4 people');

    const again = filledFormWithAction(refused, '/admin/domains/ee.campus.test/remove');
    const removed = await submitFilled(admin, refused, again, { movePeople: 'on' });
    expect(removed.url).toBe(url('/admin/domains'));
    expect(mainText(removed)).toContain('Removed domain ee.campus.test; the IM home of 4 people moved.');
    expect(await homeOf('dave')).toBe(ENG);

    const partnerPage = await open('/admin/domains/peer.example.org');
    const gone = await submitFilled(
      admin,
      partnerPage,
      filledFormWithAction(partnerPage, '/admin/domains/peer.example.org/remove'),
    );
    expect(mainText(gone)).toContain('Removed domain peer.example.org.');
  });

  it('offers no removal to a unit administrator', async () => {
    const engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
    const page = await engAdmin.navigate(url('/admin/users'));
    const form = filledFormWithAction(page, '/admin/logout');
    const post = await submitFilled(engAdmin, page, { ...form, action: `/admin/domains/${ENG}/remove` });
    expect(post.status).toBe(403);
    expect(await gateway.models.Domain.count({ where: { name: ENG } })).toBe(1);
  });
});

describe('one unit, one domain node', () => {
  const refusedAs = async (work: Promise<unknown>) => {
    const error = await work.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConflictError);
    return (error as ConflictError).message;
  };

  it('refuses a new domain for a unit another domain serves, naming that domain, even with the move confirmed', async () => {
    const input = { name: 'eng2.campus.test', url: 'http://127.0.0.1:4297', units: ['campus/eng'], movePeople: true };
    expect(await refusedAs(addDomain(ctx(), input))).toContain('campus/eng is served by eng.campus.test');
    expect(await gateway.models.Domain.count({ where: { name: 'eng2.campus.test' } })).toBe(0);
    expect(await homeOf('alice')).toBe(ENG);
  });

  it('refuses to give a domain a unit another one serves, and changes nothing', async () => {
    const units = ['campus/arts', 'campus/eng'];
    expect(await refusedAs(updateDomain(ctx(), ARTS, { units, movePeople: true }))).toMatch(
      /^campus\/eng is served by eng\.campus\.test\. A unit is served by one domain node/,
    );
    expect(await homeOf('alice')).toBe(ENG);
    expect(await homeOf('carol')).toBe(ARTS);
  });

  it('gives the console form the refusal, naming the domain that serves the unit', async () => {
    const form = await open('/admin/domains/new');
    const fields = { name: 'eng3.campus.test', url: 'http://127.0.0.1:4298', units: ['campus/eng'] };
    const refused = await submitFilled(admin, form, filledFormWithAction(form, '/admin/domains'), fields);
    expect(refused.status).toBe(409);
    expect(mainText(refused)).toContain('campus/eng is served by eng.campus.test');
    expect(await gateway.models.Domain.count({ where: { name: 'eng3.campus.test' } })).toBe(0);
  });

  it('settles a clash already in the database by domain name, whatever the ids, and flags it', async () => {
    await addPeople(gateway, ['musician'], 'campus/arts/music');
    const music = await gateway.models.OrgUnit.findOne({ where: { path: 'campus/arts/music' } });
    // Ids sorting the other way round from the names: the old tie-break by id chose b-music.
    const { Domain, DomainUnit } = gateway.models;
    await Domain.create({
      id: 'ffffffff-0000-4000-8000-000000000001',
      name: 'a-music.campus.test',
      url: 'http://a.music',
    });
    await Domain.create({
      id: '00000000-0000-4000-8000-000000000002',
      name: 'b-music.campus.test',
      url: 'http://b.music',
    });
    await DomainUnit.bulkCreate([
      { domainId: 'ffffffff-0000-4000-8000-000000000001', unitId: music!.id },
      { domainId: '00000000-0000-4000-8000-000000000002', unitId: music!.id },
    ]);
    expect(await homeOf('musician')).toBe('a-music.campus.test');

    const warning =
      'campus/arts/music is served by a-music.campus.test and b-music.campus.test: ' +
      "its people's IM home is a-music.campus.test, the first by name.";
    expect(mainText(await open('/admin/domains'))).toContain(warning);
    expect(mainText(await open('/admin/domains/b-music.campus.test'))).toContain(warning);
    expect(mainText(await open(`/admin/domains/${ENG}`))).not.toContain(warning);

    // Editing either domain still works while it keeps the unit it had; only a new clash is refused.
    await updateDomain(ctx(), 'b-music.campus.test', { url: 'http://b2.music', units: ['campus/arts/music'] });
    await updateDomain(ctx(), 'b-music.campus.test', { units: [], partner: true });
    expect(await homeOf('musician')).toBe('a-music.campus.test');
    expect(mainText(await open('/admin/domains'))).not.toContain('is served by a-music.campus.test and');
  });
});

describe('a removed domain', () => {
  it('gets no token for its node from the next refresh, which costs the app none of its others', async () => {
    const lab = { name: 'lab.campus.test', url: 'http://127.0.0.1:4296' };
    const studio = { name: 'studio.campus.test', url: 'http://127.0.0.1:4295' };
    await createUnit(ctx(), { path: 'campus/lab', name: 'Media Lab' });
    await createUnit(ctx(), { path: 'campus/studio', name: 'Studio' });
    await addDomain(ctx(), { ...lab, units: ['campus/lab'] });
    await addDomain(ctx(), { ...studio, units: ['campus/studio'] });
    await createUser(ctx(), {
      username: 'two-places',
      displayName: 'Two Places',
      email: 'two-places@campus.test',
      password: DEMO_PASSWORD,
      roles: ['student'],
      units: ['campus/studio', 'campus/lab'],
    });
    const who = await login(gateway, 'two-places');
    expect(await who.tokenFor(lab.url)).toBeTruthy();

    await removeDomain(ctx(), lab.name);
    await expect(who.tokenFor(lab.url)).rejects.toMatchObject({ error: 'invalid_target' });
    // The refusal left the refresh token as it was: used up, its next use would revoke the whole grant.
    expect(await who.tokenFor(studio.url)).toBeTruthy();
  });
});
