import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { filledFormWithAction, submitFilled, type BrowserAgent, type Page } from '../helpers/browser-agent.ts';
import {
  addPeople,
  addPerson,
  registerTestApp,
  signInToConsole,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { chromiumMissing, launchChromium } from '../portal/browser.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator, type GatewayContext } from '../../gateway/context.ts';
import { accountClaims } from '../../gateway/accounts/account-claims.ts';
import { unitPathsOf } from '../../gateway/accounts/memberships.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { removeUnit } from '../../gateway/accounts/remove-unit.ts';
import { createUnit, listUnits, renameUnit } from '../../gateway/accounts/units.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { requireSecondFactor } from '../../gateway/factors/policy.ts';

let gateway: TestGateway;
let admin: BrowserAgent;
let engAdmin: BrowserAgent;
let ctx: GatewayContext;

const url = (path: string) => `${gateway.issuer}${path}`;
const open = (agent: BrowserAgent, path: string) => agent.navigate(url(path));
const unitNamed = (path: string) => gateway.models.OrgUnit.findOne({ where: { path } });
const auditOf = (action: string, target: string) => gateway.models.AuditEvent.findAll({ where: { action, target } });

/** What a person reads on the page: tags stripped, entities decoded, spaces collapsed. */
const readable = (page: Page) =>
  page.html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&#x3D;/g, '=')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

/** Units that exist only to be used by one thing each (made by the operator, as the CLI would). */
async function units(...paths: string[]) {
  for (const path of paths) await createUnit(ctx, { path, name: `Unit ${path}` });
}

/** The removal's refusal, as the operator gets it. */
async function refusal(path: string): Promise<string> {
  const error = await removeUnit(ctx, path).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  expect(error?.code, path).toBe('conflict');
  expect(await unitNamed(path), path).not.toBeNull();
  return error!.message;
}

beforeAll(async () => {
  gateway = await startTestGateway('unit-changes', { LOGIN_IP_LIMIT: '1000' });
  ctx = { ...gateway.context(null), actor: operator('test') };
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
  engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
});
afterAll(async () => gateway?.stop());

describe('renaming a unit', () => {
  it('changes the name everywhere it is listed and keeps the path in the claims', async () => {
    const renamed = await renameUnit(ctx, { path: 'campus/arts/history', name: 'Department of History and Classics' });
    expect(renamed.path).toBe('campus/arts/history');
    const listed = (await listUnits(ctx)).find((u) => u.path === 'campus/arts/history');
    expect(listed?.name).toBe('Department of History and Classics');
    const bob = await gateway.models.User.findOne({ where: { username: 'bob' } });
    expect((await accountClaims(gateway.context(null), bob!)).org_units).toEqual(['campus/arts/history']);
    const [row] = await auditOf('unit.rename', 'campus/arts/history');
    expect(JSON.parse(row!.details!)).toEqual({
      from: 'Department of History',
      to: 'Department of History and Classics',
    });
    const page = await open(admin, '/admin/units');
    expect(page.html).toContain('<strong>Department of History and Classics</strong> <code>campus/arts/history</code>');
  });
});

describe('units side by side', () => {
  it('may not share a name (case and accents aside), which pickers could not tell apart; cousins may', async () => {
    const refused = async (change: Promise<unknown>) =>
      change.then(
        () => 'done',
        (e: Error & { fields?: Record<string, string> }) => `${e.message} | ${e.fields?.name}`,
      );
    expect(await refused(createUnit(ctx, { path: 'campus/eng/cs2', name: 'department of computer SCIENCE' }))).toBe(
      'campus/eng/cs is already called "Department of Computer Science": give campus/eng/cs2 another name | already the name of campus/eng/cs, beside it',
    );
    expect(await unitNamed('campus/eng/cs2')).toBeNull();
    expect(await refused(renameUnit(ctx, { path: 'campus/eng/ee', name: 'Department of Computer Science' }))).toMatch(
      /^campus\/eng\/cs is already called/,
    );
    expect((await unitNamed('campus/eng/ee'))!.name).toBe('Department of Electrical Engineering');
    // The same name under another college is no clash: a picker shows where each one is.
    await createUnit(ctx, { path: 'campus/arts/cs', name: 'Department of Computer Science' });
    expect((await unitNamed('campus/arts/cs'))!.name).toBe('Department of Computer Science');
    await removeUnit(ctx, 'campus/arts/cs');
  });
});

describe('removing a unit', () => {
  it('removes an unused unit, audited', async () => {
    await units('campus/tpyo');
    expect(await removeUnit(ctx, 'campus/tpyo')).toEqual({ path: 'campus/tpyo', name: 'Unit campus/tpyo' });
    expect(await unitNamed('campus/tpyo')).toBeNull();
    expect(await auditOf('unit.remove', 'campus/tpyo')).toHaveLength(1);
  });

  it('refuses a unit with units below it, naming them', async () => {
    await units('campus/lab', 'campus/lab/bio');
    expect(await refusal('campus/lab')).toContain('child units campus/lab/bio');
    await removeUnit(ctx, 'campus/lab/bio');
    await removeUnit(ctx, 'campus/lab');
    expect(await unitNamed('campus/lab')).toBeNull();
  });

  it('refuses a unit people belong to, as their primary unit or another, or administer', async () => {
    await units('campus/primary', 'campus/second', 'campus/admined');
    await addPeople(gateway, ['pat'], 'campus/primary');
    const create = (username: string, unitPaths: string[], roles: string[]) =>
      createUser(ctx, {
        username,
        displayName: username,
        email: `${username}@campus.test`,
        password: DEMO_PASSWORD,
        units: unitPaths,
        roles,
      });
    await create('quinn', ['campus/eng/cs', 'campus/second'], ['student']);
    await create('rita', ['campus/admined'], ['unit-admin']);
    expect(await refusal('campus/primary')).toContain('1 member: pat (primary unit)');
    const second = await refusal('campus/second');
    expect(second).toContain('1 member: quinn');
    expect(second).not.toContain('primary');
    expect(await refusal('campus/admined')).toContain('unit admins who administer it: rita');
    expect(await refusal('campus/eng/ee')).toContain('2 members: carol, dave (primary unit)');
  });

  it('refuses a unit a domain serves, an app is owned by or shown to, the second-factor policy or a directory names', async () => {
    await units('campus/served', 'campus/owner', 'campus/shown', 'campus/mfa', 'campus/root', 'campus/groups');
    await addDomain(ctx, { name: 'served.campus.test', url: 'http://127.0.0.1:4299', units: ['campus/served'] });
    const app = { redirectUris: ['http://localhost:5999/cb'] };
    await registerTestApp(gateway, { ...app, name: 'Owned App', slug: 'owned-app', ownerUnit: 'campus/owner' });
    await registerTestApp(gateway, {
      ...app,
      name: 'Shown App',
      slug: 'shown-app',
      visibility: { units: ['campus/shown'], roles: [] },
    });
    await requireSecondFactor(ctx, { kind: 'unit', value: 'campus/mfa' });
    await gateway.models.Directory.create({
      id: randomUUID(),
      name: 'ldap-main',
      url: 'ldap://127.0.0.1:3899',
      caFile: null,
      bindDn: 'cn=reader,dc=campus,dc=test',
      bindPasswordSealed: 'x',
      resetUrl: null,
      settings: JSON.stringify({
        unitRoot: 'campus/root',
        roleGroups: [{ group: 'cn=g,dc=campus,dc=test', role: 'unit-admin', unit: 'campus/groups' }],
      }),
    });

    expect(await refusal('campus/served')).toContain('served by domain served.campus.test');
    expect(await refusal('campus/owner')).toContain('owner unit of app owned-app');
    expect(await refusal('campus/shown')).toContain('in the visibility of app shown-app');
    expect(await refusal('campus/mfa')).toContain('second-factor policy requires it');
    expect(await refusal('campus/root')).toContain('unit root of directory ldap-main');
    expect(await refusal('campus/groups')).toContain('a unit-admin group of directory ldap-main');
    expect(await refusal('campus/eng')).toMatch(/child units campus\/eng\/cs, campus\/eng\/ee.*eng\.campus\.test/);
  });

  it('lets a unit admin remove units below their own, not their own unit nor one outside it', async () => {
    await units('campus/eng/spare', 'campus/arts/spare');
    const engAdminUser = await gateway.models.User.findOne({ where: { username: 'eng-admin' } });
    const asEngAdmin: GatewayContext = {
      ...ctx,
      actor: {
        kind: 'user',
        id: engAdminUser!.id,
        name: 'eng-admin',
        roles: ['unit-admin'],
        unitPaths: ['campus/eng'],
      },
    } as GatewayContext;
    await expect(removeUnit(asEngAdmin, 'campus/arts/spare')).rejects.toMatchObject({ code: 'forbidden' });
    await expect(removeUnit(asEngAdmin, 'campus/eng')).rejects.toMatchObject({ code: 'forbidden' });
    await expect(renameUnit(asEngAdmin, { path: 'campus/arts/spare', name: 'Mine' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    expect(await unitNamed('campus/arts/spare')).not.toBeNull();
    await removeUnit(asEngAdmin, 'campus/eng/spare');
    expect(await unitNamed('campus/eng/spare')).toBeNull();
  });
});

describe('the console units page', () => {
  it('renames and removes a unit through its forms, asking before it removes', async () => {
    await units('campus/console-typo');
    const page = await open(admin, '/admin/units');
    expect(page.html).toContain('href="/admin/units?unit=campus/console-typo#change-unit"');
    const chosen = await open(admin, '/admin/units?unit=campus/console-typo');
    const renamed = await submitFilled(admin, chosen, filledFormWithAction(chosen, '/admin/units/rename'), {
      newName: 'Console Lab',
    });
    expect(renamed.url).toBe(url('/admin/units'));
    expect(readable(renamed)).toContain('Renamed campus/console-typo to Console Lab.');
    expect(renamed.html).toContain('<strong>Console Lab</strong> <code>campus/console-typo</code>');

    const again = await open(admin, '/admin/units?unit=campus/console-typo');
    // Removing is for good: the page says what it does and asks first; unticked, nothing is removed.
    expect(readable(again)).toContain(
      'Removing Console Lab deletes campus/console-typo from the tree for good. Only a unit nothing uses can go',
    );
    const remove = filledFormWithAction(again, '/admin/units/remove');
    const unticked = await submitFilled(admin, again, remove);
    expect(unticked.status).toBe(400);
    expect(/id="remove-error">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to remove campus/console-typo. Nothing was removed.',
    );
    expect(unticked.html).toMatch(/id="remove-understood"[^>]* aria-invalid="true" autofocus>/);
    expect(await unitNamed('campus/console-typo')).not.toBeNull();
    const removed = await submitFilled(admin, unticked, remove, { understood: 'yes' });
    expect(readable(removed)).toContain('Removed Console Lab (campus/console-typo).');
    expect(removed.html).not.toContain('<code>campus/console-typo</code>');
    expect(await unitNamed('campus/console-typo')).toBeNull();
  });

  it('keeps a blank new name as typed, says both blank fields of a new unit, and says a unit gone, to change or to add below', async () => {
    await units('campus/console-blank');
    const chosen = await open(admin, '/admin/units?unit=campus/console-blank');
    const blank = await submitFilled(admin, chosen, filledFormWithAction(chosen, '/admin/units/rename'), {
      newName: '',
    });
    expect(blank.status).toBe(400);
    expect(/id="newName-error">([^<]*)</.exec(blank.html)?.[1]).toBe('required');
    expect(blank.html).toMatch(/<input id="newName" name="newName" type="text" value="" /);

    const form = filledFormWithAction(chosen, '/admin/units');
    const bothBlank = await submitFilled(admin, chosen, form, { segment: '', name: '' });
    expect(bothBlank.status).toBe(400);
    expect(bothBlank.html).toContain('id="segment-error"');
    expect(/id="name-error">([^<]*)</.exec(bothBlank.html)?.[1]).toBe('required');

    // Nor a name a control character would turn around, nor one that shows nothing: said beside the field.
    for (const [newName, why] of [
      ['Physics \u202Eevil', 'cannot contain control characters'],
      ['\u200B', 'needs a visible character'],
    ] as const) {
      const refused = await submitFilled(admin, chosen, filledFormWithAction(chosen, '/admin/units/rename'), {
        newName,
      });
      expect(refused.status).toBe(400);
      expect(/id="newName-error">([^<]*)</.exec(refused.html)?.[1]).toContain(why);
    }
    expect((await unitNamed('campus/console-blank'))?.name).toBe('Unit campus/console-blank');

    await removeUnit(ctx, 'campus/console-blank');
    const gone = await open(admin, '/admin/units?unit=campus/console-blank');
    expect(readable(gone)).toContain('No unit campus/console-blank (it may have been removed).');
    expect(gone.html).not.toContain('id="change-unit"');
    // Asked to add a unit below it, the same; the form then chooses no parent for the person.
    const noParent = await open(admin, '/admin/units?parent=campus/console-blank');
    expect(/id="parent-missing">([^<]*)</.exec(noParent.html)?.[1]).toBe(
      'No unit campus/console-blank (it may have been removed).',
    );
    expect(noParent.html).toMatch(/<select id="parent" name="parent" aria-describedby="parent-missing">/);
    expect(noParent.html).not.toMatch(/<option [^>]*selected/);
    expect((await open(admin, '/admin/units?parent=campus/arts')).html).not.toContain('parent-missing');
  });

  it('says what still uses a unit and keeps it', async () => {
    const page = await open(admin, '/admin/units?unit=campus/arts/music');
    const refused = await submitFilled(admin, page, filledFormWithAction(page, '/admin/units/remove'), {
      understood: 'yes',
    });
    expect(refused.status).toBe(409);
    expect(readable(refused)).toContain('Unit campus/arts/music is still in use: 1 member: carol (primary unit)');
    expect(await unitNamed('campus/arts/music')).not.toBeNull();
  });

  it('refuses a remove without the form token', async () => {
    await units('campus/no-token');
    const response = await admin.request(url('/admin/units/remove'), {
      method: 'POST',
      body: new URLSearchParams({ unit: 'campus/no-token' }),
    });
    expect(response.status).toBe(403);
    expect(await unitNamed('campus/no-token')).not.toBeNull();
  });

  it('offers a unit admin only the units below their own, and refuses one outside', async () => {
    await units('campus/eng/console-spare', 'campus/arts/console-spare');
    const page = await open(engAdmin, '/admin/units');
    expect(page.html).toContain('href="/admin/units?unit=campus/eng/console-spare#change-unit"');
    expect(page.html).not.toContain('href="/admin/units?unit=campus/eng#change-unit"');
    const chosen = await open(engAdmin, '/admin/units?unit=campus/eng/console-spare');
    const form = filledFormWithAction(chosen, '/admin/units/remove');
    form.entries.push(['understood', 'yes']);
    const outside = await submitFilled(engAdmin, chosen, form, { unit: 'campus/arts/console-spare' });
    expect(outside.status).toBe(403);
    expect(await unitNamed('campus/arts/console-spare')).not.toBeNull();
    const own = await submitFilled(engAdmin, chosen, form, { unit: 'campus/eng' });
    expect(own.status).toBe(403);
    const below = await submitFilled(engAdmin, chosen, form);
    expect(readable(below)).toContain('Removed Unit campus/eng/console-spare (campus/eng/console-spare).');
  });

  it('tells a unit admin who renames their own top unit whose that is, on its page and when they try', async () => {
    const page = await open(engAdmin, '/admin/units?unit=campus/eng');
    expect(readable(page)).toContain(
      'College of Engineering is renamed and removed by the administrators of campus, the unit above it, or campus administrators.',
    );
    const token = filledFormWithAction(page, '/admin/units');
    const rename = await submitFilled(
      engAdmin,
      page,
      { ...token, action: '/admin/units/rename' },
      {
        unit: 'campus/eng',
        newName: 'Engineering',
      },
    );
    expect(rename.status).toBe(403);
    expect(readable(rename)).toContain(
      'You may not rename campus/eng: it is renamed by the administrators of campus, the unit above it, or campus administrators.',
    );
    expect(readable(rename)).not.toContain('You may not manage unit campus');
    expect((await unitNamed('campus/eng'))!.name).toBe('College of Engineering');
  });

  it('explains a bad short name as one part of the path', async () => {
    const page = await open(admin, '/admin/units?parent=campus/arts');
    const bad = await submitFilled(admin, page, filledFormWithAction(page, '/admin/units'), {
      segment: 'film/studies',
      name: 'Film',
    });
    expect(bad.status).toBe(400);
    const error = /<p class="field-error" id="segment-error">([^<]*)<\/p>/.exec(bad.html)?.[1];
    expect(error).toContain('one short name of lowercase letters, digits and dashes');
    expect(error).not.toContain('separated by');
    expect(await unitNamed('campus/arts/film/studies')).toBeNull();
  });

  it.skipIf(chromiumMissing)('shows the tree indented, each level further in', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(url('/admin/login'));
      await page.fill('#username', 'admin');
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForURL((u) => u.pathname.startsWith('/admin') && !u.pathname.startsWith('/admin/login'));
      await page.goto(url('/admin/units'));
      const indent = (name: string) =>
        page
          .locator('li', { has: page.locator(`strong:text-is("${name}")`) })
          .evaluate((li) => li.getBoundingClientRect().left + Number.parseFloat(getComputedStyle(li).paddingLeft));
      const university = await indent('Atrium University');
      const college = await indent('College of Engineering');
      const department = await indent('Department of Computer Science');
      expect(college).toBeGreaterThan(university);
      expect(department).toBeGreaterThan(college);
    } finally {
      await browser.close();
    }
  });
});

describe("changing a person's units", () => {
  const claimsOf = async (username: string) =>
    accountClaims(ctx, (await gateway.models.User.findOne({ where: { username } }))!);
  const edit = (username: string) => gateway.models.User.findOne({ where: { username } }).then((u) => u!.id);

  it('refuses to take someone off a domain they chat on until it is confirmed, and then moves them', async () => {
    await addPeople(gateway, ['mover-api'], 'campus/eng/cs');
    const refused = await updateUser(ctx, 'mover-api', { units: ['campus/arts/history'] }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(refused?.code).toBe('moves_chat');
    expect(refused?.message).toContain('off eng.campus.test: their direct conversations there stay on its node');
    expect(refused?.message).toContain('Their chat home becomes arts.campus.test.');
    expect((await claimsOf('mover-api')).im_domains).toEqual(['eng.campus.test']);

    await updateUser(ctx, 'mover-api', { units: ['campus/arts/history'], moveChat: true });
    expect((await claimsOf('mover-api')).im_domains).toEqual(['arts.campus.test']);
    const [event] = await auditOf('user.update', 'mover-api');
    const details = typeof event!.details === 'string' ? JSON.parse(event!.details) : event!.details;
    expect(details).toMatchObject({ chatMove: { leaves: ['eng.campus.test'], to: 'arts.campus.test' } });
  });

  it('lets a new primary unit move only the chat home while the old domain stays theirs', async () => {
    await addPeople(gateway, ['mover-primary'], 'campus/eng/cs');
    await updateUser(ctx, 'mover-primary', { units: ['campus/arts/history', 'campus/eng/cs'] });
    const claims = await claimsOf('mover-primary');
    expect(claims.im_home_domain).toBe('arts.campus.test');
    expect(claims.im_domains).toEqual(['arts.campus.test', 'eng.campus.test']);
  });

  it('asks in the console with a box to tick, keeping the units until it is ticked', async () => {
    await addPeople(gateway, ['mover-console'], 'campus/eng/cs');
    const id = await edit('mover-console');
    const page = await open(admin, `/admin/users/${id}`);
    const form = filledFormWithAction(page, `/admin/users/${id}`);
    const refused = await submitFilled(admin, page, form, { units: ['campus/arts/history'], primaryUnit: '' });
    expect(refused.status).toBe(409);
    expect(readable(refused)).toContain(
      'leaves eng.campus.test: their direct conversations there stay on its node; their groups follow them. Their chat home becomes arts.campus.test.',
    );
    expect(readable(refused)).toContain('tick "Move their chat" and save again');
    expect((await claimsOf('mover-console')).im_domains).toEqual(['eng.campus.test']);

    const ticked = await submitFilled(admin, refused, filledFormWithAction(refused, `/admin/users/${id}`), {
      moveChat: 'on',
    });
    expect(readable(ticked)).toContain('Saved mover-console.');
    expect((await claimsOf('mover-console')).im_domains).toEqual(['arts.campus.test']);
  });
});

describe("moving a person between units in the console's user form", () => {
  const edit = (username: string) => gateway.models.User.findOne({ where: { username } }).then((u) => u!);
  const unitsOf = async (username: string) => unitPathsOf(gateway.context(null), await edit(username));
  const formOf = async (username: string) => {
    const id = (await edit(username)).id;
    const page = await open(admin, `/admin/users/${id}`);
    return { id, page, form: filledFormWithAction(page, `/admin/users/${id}`) };
  };

  it('takes them out of the primary unit unticked, and says which ticked unit is their primary now', async () => {
    await addPeople(gateway, ['move-within'], 'campus/arts/history');
    const { id, page, form } = await formOf('move-within');
    // As a browser sends it: "Primary unit" still shows the one stored.
    expect(form.entries).toContainEqual(['primaryUnit', 'campus/arts/history']);
    const saved = await submitFilled(admin, page, form, { units: ['campus/arts/music'] });
    expect(saved.url).toBe(url(`/admin/users/${id}`));
    expect(readable(saved)).toContain(
      'Saved move-within. Their primary unit is now campus/arts/music, the first unit ticked, since campus/arts/history was unticked.',
    );
    expect(await unitsOf('move-within')).toEqual(['campus/arts/music']);
    expect(filledFormWithAction(saved, `/admin/users/${id}`).entries).toContainEqual([
      'primaryUnit',
      'campus/arts/music',
    ]);
  });

  it('asks before a move takes them off the domain they chat on, and moves them only then', async () => {
    await addPeople(gateway, ['move-across'], 'campus/eng/ee');
    const { page, form, id } = await formOf('move-across');
    const asked = await submitFilled(admin, page, form, { units: ['campus/arts/music'] });
    expect(asked.status).toBe(409);
    expect(readable(asked)).toContain(
      'leaves eng.campus.test: their direct conversations there stay on its node; their groups follow them. Their chat home becomes arts.campus.test.',
    );
    // The form asked about shows the primary unit the move would give them.
    expect(filledFormWithAction(asked, `/admin/users/${id}`).entries).toContainEqual([
      'primaryUnit',
      'campus/arts/music',
    ]);
    expect(await unitsOf('move-across')).toEqual(['campus/eng/ee']);

    const moved = await submitFilled(admin, asked, filledFormWithAction(asked, `/admin/users/${id}`), {
      moveChat: 'on',
    });
    // Saved as asked, the move still says which unit took the unticked primary's place.
    expect(readable(moved)).toContain(
      'Saved move-across. Their primary unit is now campus/arts/music, the first unit ticked, since campus/eng/ee was unticked.',
    );
    expect(await unitsOf('move-across')).toEqual(['campus/arts/music']);
    const claims = await accountClaims(ctx, await edit('move-across'));
    expect(claims.im_domains).toEqual(['arts.campus.test']);
  });

  it('tells of an unticked primary only when it was theirs, whatever a form claims', async () => {
    await addPeople(gateway, ['move-claimed'], 'campus/eng/cs');
    const { page, form } = await formOf('move-claimed');
    const saved = await submitFilled(admin, page, form, {
      units: ['campus/eng/ee'],
      primaryUnit: 'campus/eng/ee',
      droppedPrimary: 'campus/eng/ai',
    });
    expect(readable(saved)).toContain('Saved move-claimed.');
    expect(readable(saved)).not.toContain('Their primary unit is now');
    expect(await unitsOf('move-claimed')).toEqual(['campus/eng/ee']);
  });

  it('refuses a primary unit chosen that is not ticked, beside the choice, and saves nothing', async () => {
    await addPeople(gateway, ['move-unticked'], 'campus/eng/cs');
    const { page, form } = await formOf('move-unticked');
    const refused = await submitFilled(admin, page, form, {
      units: ['campus/eng/cs'],
      primaryUnit: 'campus/eng/ee',
    });
    expect(refused.status).toBe(400);
    expect(readable(refused)).toContain(
      'The primary unit campus/eng/ee is not one of the units ticked; nothing was saved',
    );
    expect(/id="primaryUnit-error">([^<]*)</.exec(refused.html)?.[1]).toBe(
      'tick campus/eng/ee above, or choose the primary unit among the units ticked',
    );
    expect(refused.html).toMatch(/<select id="primaryUnit"[^>]* aria-invalid="true" autofocus>/);
    expect(await unitsOf('move-unticked')).toEqual(['campus/eng/cs']);
  });
});

describe("moving a unit's people in the console", () => {
  const from = 'campus/eng/move-src';
  const unitsOf = async (username: string) =>
    unitPathsOf(gateway.context(null), (await gateway.models.User.findOne({ where: { username } }))!);
  const moves = () => auditOf('unit.move_members', from);
  const moveForm = (page: Page) => filledFormWithAction(page, '/admin/units/move-members');
  const notice = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1]?.replace(/&quot;/g, '"');

  beforeAll(async () => {
    await units(from, 'campus/eng/move-dst', 'campus/eng/move-gone');
    await addPerson(gateway, 'mv-alice', { units: [from] });
    await addPerson(gateway, 'mv-eadmin', { units: [from], roles: ['admin', 'staff'] });
    await addPerson(gateway, 'mv-xadm', { units: [from, 'campus/arts/history'], roles: ['staff'] });
  });

  it('answers a unit admin removing a unit with members with the action on the page, naming whom only a campus administrator can move', async () => {
    const page = await open(engAdmin, `/admin/units?unit=${from}`);
    const refused = await submitFilled(engAdmin, page, filledFormWithAction(page, '/admin/units/remove'), {
      understood: 'yes',
    });
    expect(refused.status).toBe(409);
    expect(notice(refused)).toBe(
      `Unit ${from} is still in use: 3 members: mv-alice (primary unit), mv-eadmin (primary unit), mv-xadm (primary unit). Move or remove those first.` +
        ' To move its members: all at once with "Move its people" on this page, or one person at a time on their page (Users).' +
        ' Only a campus administrator can move mv-eadmin, mv-xadm: they are campus administrators or belong to units outside yours.',
    );
    expect(readable(refused)).toContain(`Unit ${from} has 3 members: mv-alice, mv-eadmin, mv-xadm.`);
    expect(moveForm(refused).entries).toContainEqual(['members', '["mv-alice","mv-eadmin","mv-xadm"]']);
    // A campus administrator is told the same way, with nobody beyond them.
    const asAdmin = await open(admin, `/admin/units?unit=${from}`);
    const adminRefused = await submitFilled(admin, asAdmin, filledFormWithAction(asAdmin, '/admin/units/remove'), {
      understood: 'yes',
    });
    expect(notice(adminRefused)).toMatch(
      /Move its people" on this page, or one person at a time on their page \(Users\)\.$/,
    );
    expect(await unitNamed(from)).not.toBeNull();
  });

  it('refuses a move with no target, a target outside their units, the unit itself, a target gone or a stale page, moving nobody', async () => {
    const page = await open(engAdmin, `/admin/units?unit=${from}`);
    // The targets offered are the unit admin's units, but the unit itself.
    const targets = /<select id="to"[^]*?<\/select>/.exec(page.html)?.[0] ?? '';
    expect(targets).toContain('<option value="campus/eng/move-dst">');
    expect(targets).not.toContain(`<option value="${from}">`);
    expect(targets).not.toContain('<option value="campus/arts/history">');
    const form = moveForm(page);
    const none = await submitFilled(engAdmin, page, form, { to: '' });
    expect(none.status).toBe(400);
    expect(/id="to-error">([^<]*)</.exec(none.html)?.[1]).toBe('choose the unit to move them to');
    const outside = await submitFilled(engAdmin, page, form, { to: 'campus/arts/history' });
    expect(outside.status).toBe(403);
    expect(notice(outside)).toBe('You may not manage unit campus/arts/history');
    const itself = await submitFilled(engAdmin, page, form, { to: from });
    expect(itself.status).toBe(400);
    expect(notice(itself)).toContain(`${from} is the unit they would leave; choose another unit to move them to`);
    await removeUnit(ctx, 'campus/eng/move-gone');
    const gone = await submitFilled(engAdmin, page, form, { to: 'campus/eng/move-gone' });
    expect(gone.status).toBe(404);
    expect(notice(gone)).toBe('No unit campus/eng/move-gone');
    const unsaid = await submitFilled(engAdmin, page, form, { to: 'campus/eng/move-dst', members: 'x' });
    expect(unsaid.status).toBe(400);
    // Someone joined since the page was shown: the move would take them along unseen.
    await addPerson(gateway, 'mv-late', { units: [from] });
    const stale = await submitFilled(engAdmin, page, form, { to: 'campus/eng/move-dst' });
    expect(stale.status).toBe(409);
    expect(notice(stale)).toBe(
      `The members of ${from} changed since this page showed them (4 now: mv-alice, mv-eadmin, mv-late, mv-xadm). Nobody was moved; check them and move again.`,
    );
    expect(await unitsOf('mv-alice')).toEqual([from]);
    expect(await unitsOf('mv-late')).toEqual([from]);
    expect(await moves()).toHaveLength(0);
  });

  it('moves the people a unit admin may manage into a unit of theirs, audited, and leaves the others, named', async () => {
    const page = await open(engAdmin, `/admin/units?unit=${from}`);
    expect(readable(page)).toContain('Only a campus administrator can move mv-eadmin, mv-xadm: they stay.');
    const moved = await submitFilled(engAdmin, page, moveForm(page), { to: 'campus/eng/move-dst' });
    expect(moved.url).toBe(url(`/admin/units?unit=${from}#change-unit`));
    expect(readable(moved)).toContain(
      `Moved 2 members of ${from} to campus/eng/move-dst: mv-alice, mv-late. Left in ${from}: mv-eadmin, mv-xadm, whom only a campus administrator can move (campus administrators, or people of units outside yours).`,
    );
    expect(await unitsOf('mv-alice')).toEqual(['campus/eng/move-dst']);
    expect(await unitsOf('mv-late')).toEqual(['campus/eng/move-dst']);
    expect(await unitsOf('mv-eadmin')).toEqual([from]);
    const [event] = await moves();
    expect(event!.actorName).toBe('eng-admin');
    expect(JSON.parse(event!.details!)).toMatchObject({ to: 'campus/eng/move-dst', moved: 2, leftToCampusAdmins: 2 });
    expect(await auditOf('user.update', 'mv-alice')).toHaveLength(1);
  });

  it('asks a campus administrator to tick "Move their chat" before moving people to another college, then moves them', async () => {
    const page = await open(admin, `/admin/units?unit=${from}`);
    const asked = await submitFilled(admin, page, moveForm(page), { to: 'campus/arts/music' });
    expect(asked.status).toBe(409);
    expect(notice(asked)).toBe(
      'This takes 2 people off eng.campus.test (mv-eadmin, mv-xadm): their direct conversations there stay on its node, out of their reach; their groups follow them where they chat now. Nobody was moved. To go ahead, tick "Move their chat" and move again.',
    );
    expect(readable(asked)).toContain(
      '2 people leave eng.campus.test: their direct conversations there stay on its node; their groups follow them where they chat now.',
    );
    expect(await unitsOf('mv-eadmin')).toEqual([from]);
    const form = moveForm(asked);
    expect(form.entries).toContainEqual(['to', 'campus/arts/music']);
    const moved = await submitFilled(admin, asked, form, { moveChat: 'on' });
    expect(readable(moved)).toContain(
      `Moved 2 members of ${from} to campus/arts/music: mv-eadmin, mv-xadm. Took 2 people off eng.campus.test: their direct conversations there stay on its node; their groups follow them where they chat now. ${from} has no members now; remove it below once nothing else uses it.`,
    );
    expect(await unitsOf('mv-xadm')).toEqual(['campus/arts/music', 'campus/arts/history']);
    expect(moved.html).not.toContain('action="/admin/units/move-members"');
    const removed = await submitFilled(admin, moved, filledFormWithAction(moved, '/admin/units/remove'), {
      understood: 'yes',
    });
    expect(readable(removed)).toContain(`Removed Unit ${from} (${from}).`);
  });
});
