import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  filledFormWithAction,
  mainText,
  submitFilled,
  type BrowserAgent,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import type { Actor } from '../../gateway/context.ts';
import { unitPathsOf } from '../../gateway/accounts/memberships.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import type { User } from '../../gateway/models/index.ts';

let gateway: TestGateway;
let admin: BrowserAgent;

const url = (path: string) => `${gateway.issuer}${path}`;

/** The text of the units field's error, as a screen reader announces it with the field. */
const unitsError = (page: Page) => /<p class="field-error" id="units-error">([^<]*)<\/p>/.exec(page.html)?.[1];

/** The users table's row of a person, as text. */
const rowOf = (page: Page, username: string) =>
  [...page.html.matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
    .map((m) => mainText({ ...page, html: m[1]! }))
    .find((row) => row.startsWith(`${username} `));

const unitsOf = async (username: string) =>
  unitPathsOf(gateway.context(null), (await gateway.models.User.findOne({ where: { username } }))!);
const updatesOf = (username: string) =>
  gateway.models.AuditEvent.count({ where: { action: 'user.update', target: username } });

/** A local unit admin of `units`, signed in to the console. */
async function unitAdmin(username: string, units: string[]) {
  const user = await addPerson(gateway, username, { units, roles: ['unit-admin', 'staff'] });
  return { user, agent: (await signInToConsole(gateway.issuer, username)).agent };
}

/** Their own person page, saved with these units ticked (the first the primary one). */
async function saveOwnUnits(agent: BrowserAgent, user: User, units: string[]) {
  const page = await agent.navigate(url(`/admin/users/${user.id}`));
  return submitFilled(agent, page, filledFormWithAction(page, `/admin/users/${user.id}`), {
    units,
    primaryUnit: units[0]!,
  });
}

const asConsoleUser = (user: User, unitPaths: string[]): Actor => ({
  kind: 'user',
  id: user.id,
  name: user.username,
  roles: user.roles,
  unitPaths,
});

beforeAll(async () => {
  gateway = await startTestGateway('unit-admin-own-units', { LOGIN_IP_LIMIT: '1000' });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => gateway?.stop());

describe('a unit admin editing themselves', () => {
  it('cannot move themselves into a unit below their own: they would administer less, for good', async () => {
    const { user, agent } = await unitAdmin('college-admin', ['campus/eng']);
    const refused = await saveOwnUnits(agent, user, ['campus/eng/cs']);
    expect(refused.status).toBe(403);
    expect(unitsError(refused)).toBe(
      'You cannot take yourself off campus/eng, which you administer: another administrator can.',
    );
    expect(mainText(refused)).toContain('Nothing was saved.');
    expect(await unitsOf('college-admin')).toEqual(['campus/eng']);
    expect(await updatesOf('college-admin')).toBe(0);
    // Still the college's administrator: the list shows its other departments' people.
    const list = await agent.navigate(url('/admin/users?q=dave'));
    expect(rowOf(list, 'dave')).toContain('campus/eng/ee');
  });

  it('is refused the same by the use-case the admin API and the console share', async () => {
    const user = await addPerson(gateway, 'api-admin', { units: ['campus/eng'], roles: ['unit-admin', 'staff'] });
    const ctx = { ...gateway.context(null), actor: asConsoleUser(user, ['campus/eng']) };
    await expect(updateUser(ctx, 'api-admin', { units: ['campus/eng/ee'] })).rejects.toMatchObject({
      status: 403,
      field: 'units',
      message: 'You cannot take yourself off campus/eng, which you administer: another administrator can.',
    });
    expect(await unitsOf('api-admin')).toEqual(['campus/eng']);
  });

  it('may still drop a unit that another of theirs covers', async () => {
    const { user, agent } = await unitAdmin('two-unit-admin', ['campus/eng', 'campus/eng/cs']);
    const dropped = await saveOwnUnits(agent, user, ['campus/eng']);
    expect(mainText(dropped)).toContain('Saved two-unit-admin.');
    expect(await unitsOf('two-unit-admin')).toEqual(['campus/eng']);
  });

  it('leaves a campus administrator free to move a unit admin', async () => {
    const user = await addPerson(gateway, 'moved-admin', { units: ['campus/eng'], roles: ['unit-admin', 'staff'] });
    const saved = await saveOwnUnits(admin, user, ['campus/eng/cs']);
    expect(mainText(saved)).toContain('Saved moved-admin.');
    expect(await unitsOf('moved-admin')).toEqual(['campus/eng/cs']);
  });
});

describe("a unit admin's view of people of other units", () => {
  it('lists units outside theirs as "units outside yours", never by path', async () => {
    const { agent } = await unitAdmin('list-admin', ['campus/eng']);
    const list = await agent.navigate(url('/admin/users?q=carol'));
    const row = rowOf(list, 'carol');
    expect(row).toContain('campus/eng/ee');
    expect(row).toContain('units outside yours');
    expect(list.html).not.toContain('campus/arts');
    // Her page is not theirs to open, and it names no unit of hers either.
    const carol = await gateway.models.User.findOne({ where: { username: 'carol' } });
    const page = await agent.navigate(url(`/admin/users/${carol!.id}`));
    expect(page.status).toBe(403);
    expect(page.html).not.toContain('campus/arts');
    // A campus administrator still reads every unit.
    const all = await admin.navigate(url('/admin/users?q=carol'));
    expect(rowOf(all, 'carol')).toContain('campus/arts/music (primary)');
  });

  it('is told that only campus administrators grant the admin role', async () => {
    const { agent } = await unitAdmin('grant-admin', ['campus/eng']);
    const student = await addPerson(gateway, 'would-be-admin', { units: ['campus/eng/cs'] });
    const page = await agent.navigate(url(`/admin/users/${student.id}`));
    const refused = await submitFilled(agent, page, filledFormWithAction(page, `/admin/users/${student.id}`), {
      roles: ['student', 'admin'],
    });
    expect(refused.status).toBe(403);
    expect(mainText(refused)).toContain('Only campus administrators may grant the admin role');
    expect((await gateway.models.User.findOne({ where: { username: 'would-be-admin' } }))!.roles).toEqual(['student']);
  });
});
