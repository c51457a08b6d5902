import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../gateway/audit.ts';
import { operator } from '../../gateway/context.ts';
import type { User } from '../../gateway/models/index.ts';
import { htmlText, type BrowserAgent, type Page } from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let gateway: TestGateway;
let admin: BrowserAgent;
let engAdmin: BrowserAgent;
let dave: User;

const url = (path: string) => `${gateway.issuer}${path}`;
const open = (agent: BrowserAgent, path: string) => agent.navigate(url(path));
const decodeAttr = (value: string) => value.replace(/&amp;/g, '&').replace(/&#x3D;/g, '=');
const pagerLink = (page: Page, rel: 'next' | 'prev') => {
  const href = new RegExp(`<a href="([^"]+)" rel="${rel}">`).exec(page.html)?.[1];
  return href === undefined ? undefined : decodeAttr(href);
};
const mainText = (page: Page) => htmlText(/<main[^>]*>([\s\S]*)<\/main>/.exec(page.html)?.[1] ?? page.html);

/** Each row of the log as its cells: when, actor, action, target, outcome, address, details. */
const rows = (page: Page) =>
  [...page.html.matchAll(/<tr>\s*(<td>[\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) =>
      htmlText(cell[1]!.replace(/<details>[\s\S]*?<\/details>/g, '')),
    ),
  );
const actionOf = (cells: string[]) => cells[2]!.split(' ').at(-1);
const targetOf = (cells: string[]) => cells[3];

beforeAll(async () => {
  gateway = await startTestGateway('audit-target', { LOGIN_IP_LIMIT: '1000' });
  // dave is one of the demo campus's people.
  dave = (await gateway.models.User.findOne({ where: { username: 'dave' } }))!;
  await addPerson(gateway, 'ulla');
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
  engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
  // What concerns dave: unlocks by two operators, and a sign-out the provider recorded under his id.
  // What concerns ulla and an app, by the same operators, must stay out of his history.
  const by = (name: string) => ({ ...gateway.context(null), actor: operator(name) });
  for (let i = 0; i < 3; i++) await audit(by('ops'), { action: 'user.unlock', target: 'dave' });
  await audit(by('helpdesk'), { action: 'user.unlock', target: 'dave' });
  await audit(by('ops'), { action: 'user.reset_factors', target: 'dave' });
  await audit(by('ops'), { action: 'user.unlock', target: 'ulla' });
  await audit(by('ops'), { action: 'app.update', target: 'dave-app' });
  await audit({ ...gateway.context(null), actor: { kind: 'anonymous' } }, { action: 'logout', target: dave.id });
});
afterAll(async () => gateway?.stop());

describe('the audit log filtered by whom an entry concerns', () => {
  it('shows only the entries concerning that target, those recorded under his id too', async () => {
    const page = await open(admin, '/admin/audit?target=dave');
    expect(page.status).toBe(200);
    const shown = rows(page);
    const recorded = await gateway.models.AuditEvent.count({ where: { target: ['dave', dave.id] } });
    // The five entries above and the sign-out, and whatever the demo seed recorded.
    expect(recorded).toBeGreaterThanOrEqual(6);
    expect(shown).toHaveLength(recorded);
    expect(shown.map(targetOf)).toEqual(shown.map(() => 'dave'));
    expect(shown.map(actionOf)).toContain('logout');
    expect(mainText(page)).not.toMatch(/ulla|dave-app/);
    expect(page.html).toContain('<input id="target" name="target" type="text" value="dave"');
    // Anything else an entry concerns is found as recorded: an app's slug.
    const app = rows(await open(admin, '/admin/audit?target=dave-app'));
    expect(app.map((cells) => `${actionOf(cells)} ${targetOf(cells)}`)).toEqual(['app.update dave-app']);
  });

  it('combines with the action and the actor', async () => {
    const unlocks = rows(await open(admin, '/admin/audit?target=dave&action=user.unlock'));
    expect(unlocks).toHaveLength(4);
    const byOps = rows(await open(admin, '/admin/audit?target=dave&action=user.unlock&actor=ops'));
    expect(byOps).toHaveLength(3);
    expect(byOps.every((cells) => cells[1] === 'ops' && actionOf(cells) === 'user.unlock')).toBe(true);
    expect(rows(await open(admin, '/admin/audit?target=ulla&actor=helpdesk'))).toHaveLength(0);
  });

  it('keeps the filter on every page', async () => {
    const first = await open(admin, '/admin/audit?target=dave&action=user.unlock&actor=ops&pageSize=2');
    expect(mainText(first)).toContain('3 events · page 1 of 2');
    const next = pagerLink(first, 'next');
    expect(next).toBe('/admin/audit?action=user.unlock&actor=ops&target=dave&pageSize=2&page=2');
    const second = await open(admin, next!);
    expect(rows(second).map(targetOf)).toEqual(['dave']);
    expect(pagerLink(second, 'prev')).toBe('/admin/audit?action=user.unlock&actor=ops&target=dave&pageSize=2&page=1');
  });

  it('says a target too long to be one filters nothing, and shows every entry', async () => {
    const everything = await gateway.models.AuditEvent.count();
    const page = await open(admin, `/admin/audit?target=${'d'.repeat(256)}`);
    expect(page.status).toBe(200);
    expect(mainText(page)).toContain(
      'A target has at most 255 characters, so “dddddddddddddddddddd…” filters nothing: every target is shown.',
    );
    expect(Number(/(\d+) events/.exec(mainText(page))?.[1])).toBeGreaterThanOrEqual(everything);
    expect(page.html).toContain('<input id="target" name="target" type="text" value=""');
  });

  it('shows what was typed as text, never as markup', async () => {
    const typed = '<img src=x onerror="alert(1)">';
    const page = await open(admin, `/admin/audit?target=${encodeURIComponent(typed)}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('<img src=x');
    expect(page.html).toContain('value="&lt;img src&#x3D;x onerror&#x3D;&quot;alert(1)&quot;&gt;"');
    expect(mainText(page)).toContain('No events match.');
  });

  it("links a person's console page to their full history in the audit log", async () => {
    const person = await open(admin, `/admin/users/${dave.id}`);
    const href = /<a href="([^"]+)">Their full history in the audit log<\/a>/.exec(person.html)?.[1];
    expect(href && decodeAttr(href)).toBe('/admin/audit?target=dave');
    const history = rows(await open(admin, decodeAttr(href!)));
    expect(history.map(actionOf)).toEqual(expect.arrayContaining(['user.unlock', 'user.reset_factors', 'logout']));
  });

  it("shows a unit admin dave's entries in words, those under his id too, and nothing of his app", async () => {
    const page = await open(engAdmin, '/admin/audit?target=dave');
    expect(page.status).toBe(200);
    const text = mainText(page);
    expect(text).toContain('Lockout lifted');
    expect(text).toContain('Second factor reset');
    expect(text).toContain('Signed out');
    expect(text).not.toContain('dave-app');
    expect(page.html).not.toContain('<details>');
    // Operators are "the operator" to a unit admin, so an actor filter takes only people they manage.
    const byOps = await open(engAdmin, '/admin/audit?target=dave&action=user.unlock&actor=ops');
    expect(mainText(byOps)).toContain('No one you manage is called “ops”');
    expect(byOps.html).not.toContain('Lockout lifted');
  });
});
