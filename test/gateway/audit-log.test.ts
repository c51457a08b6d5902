import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../gateway/audit.ts';
import { operator, type Actor } from '../../gateway/context.ts';
import { resetPassword, updateUser } from '../../gateway/accounts/update-user.ts';
import { updateDomain } from '../../gateway/domains/domains.ts';
import { htmlText, type BrowserAgent, type Page } from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import type { User } from '../../gateway/models/index.ts';

let gateway: TestGateway;
let admin: BrowserAgent;
/** Stands in for the eng node: takes every back-channel logout. */
let node: Server;

const url = (path: string) => `${gateway.issuer}${path}`;
const open = (path: string) => admin.navigate(url(path));
const operatorCtx = () => ({ ...gateway.context(null), actor: operator('test') });

/** The log's rows as a person reads them, each without the recorded JSON behind its toggle. */
const rows = (page: Page) =>
  [...page.html.matchAll(/<tr>\s*<td>([\s\S]*?)<\/tr>/g)].map((m) =>
    htmlText(m[1]!.replace(/<details>[\s\S]*?<\/details>/g, '')),
  );

beforeAll(async () => {
  gateway = await startTestGateway('audit-log', { LOGIN_IP_LIMIT: '1000' });
  node = createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end()));
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
  const { port } = node.address() as AddressInfo;
  await updateDomain(operatorCtx(), 'eng.campus.test', { url: `http://127.0.0.1:${port}` });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => {
  await gateway?.stop();
  await new Promise((resolve) => node?.close(resolve));
});

describe('the audit log as people read it', () => {
  it('names a disable made by an edit, and finds it by the disable action', async () => {
    await addPerson(gateway, 'pia');
    await updateUser({ ...gateway.context(null), actor: operator('ops') }, 'pia', { status: 'disabled' });
    // Saving a disabled person again changes nothing about their status: not a disable.
    await updateUser(operatorCtx(), 'pia', { status: 'disabled', displayName: 'Pia P' });

    const disables = rows(await open('/admin/audit?action=user.disable'));
    expect(disables).toHaveLength(1);
    expect(disables[0]).toMatch(/^\S+ \S+ UTC ops Disabled user\.update pia success status: active → disabled$/);
    expect(disables[0]).toContain('status: active → disabled');
    expect(disables[0]).not.toContain('{');

    await updateUser(operatorCtx(), 'pia', { status: 'active' });
    const enables = rows(await open('/admin/audit?action=user.enable'));
    expect(enables).toHaveLength(1);
    expect(enables[0]).toContain('test Enabled user.update pia');
    expect(enables[0]).toContain('status: disabled → active');

    const edits = rows(await open('/admin/audit?action=user.update&actor=test'));
    expect(edits.find((row) => row.includes('Pia P'))).toContain('display name: Test pia → Pia P');
    const choices = await open('/admin/audit');
    expect(choices.html).toContain('<option value="user.disable">');
  });

  it('says which units a move left, as well as those it joined', async () => {
    await addPerson(gateway, 'rho');
    await updateUser(operatorCtx(), 'rho', { units: ['campus/eng/ee'] });
    const [row] = rows(await open('/admin/audit?action=user.update&target=rho'));
    expect(row).toContain('units: campus/eng/cs → campus/eng/ee');
  });

  it("shows the nodes' logouts a disable brings as the gateway's, naming whose sessions ended", async () => {
    const quill = await addPerson(gateway, 'quill');
    await updateUser({ ...gateway.context(null), actor: operator('cli') }, 'quill', { status: 'disabled' });
    const told = () =>
      gateway.models.AuditEvent.findAll({ where: { action: 'logout.node', target: 'eng.campus.test' } });
    await expect
      .poll(async () => (await told()).some((e) => e.details?.includes(quill.id)), { timeout: 10_000 })
      .toBe(true);
    const [event] = (await told()).filter((e) => e.details?.includes(quill.id));
    expect(event!.actorName).toBe('gateway');

    const logouts = rows(await open('/admin/audit?action=logout.node&actor=gateway'));
    const row = logouts.find((r) => r.includes('all sessions of quill'));
    expect(row).toMatch(/ UTC gateway \(system\) logout\.node eng\.campus\.test success /);
    expect(row).not.toContain(quill.id);
  });

  it('reads entries written before: no actor on a node logout, a user id as target, markup in details', async () => {
    const rae = await addPerson(gateway, 'rae');
    const at = new Date();
    await gateway.models.AuditEvent.bulkCreate([
      {
        at,
        actorId: null,
        actorName: null,
        action: 'logout.node',
        target: 'arts.campus.test',
        outcome: 'success',
        ip: null,
        details: JSON.stringify({ ended: [`sub:${rae.id}`, 'sid:WJmzCoy5iLVmGiC6tvHtEU'] }),
      },
      {
        at,
        actorId: null,
        actorName: null,
        action: 'logout',
        target: rae.id,
        outcome: 'success',
        ip: '127.0.0.1',
        details: JSON.stringify({ client: 'atrium-admin' }),
      },
      {
        at,
        actorId: null,
        actorName: 'test',
        action: 'app.register',
        target: 'odd-app',
        outcome: 'success',
        ip: null,
        details: JSON.stringify({
          name: '<script>alert(1)</script>',
          redirectUris: ['https://a.example/cb', 'https://b.example/cb'],
          visibility: { units: ['campus/eng'], roles: [] },
          ownerUnit: null,
        }),
      },
    ]);
    const page = await open('/admin/audit?pageSize=3');
    const [app, logout, nodeLogout] = rows(page);
    expect(nodeLogout).toContain('gateway (system) logout.node arts.campus.test');
    expect(nodeLogout).toContain('ended: all sessions of rae, session WJmzCoy5…');
    expect(logout).toContain('anonymous logout rae success 127.0.0.1 client: atrium-admin');
    expect(app).toContain('name: <script>alert(1)</script>');
    expect(app).toContain('redirect URIs: https://a.example/cb, https://b.example/cb');
    expect(app).toContain('visibility: units=[campus/eng], roles=[]');
    expect(app).toContain('owner unit: none');
    expect(page.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.html).not.toContain('<script>');
  });
});

describe("a unit admin's audit log: what happened to their people's accounts", () => {
  let engAdmin: BrowserAgent;
  let lena: User;
  const engOpen = (path: string) => engAdmin.navigate(url(path));
  /** An administrator acting as the console would make them, by username. */
  const as = async (username: string, unitPaths: string[]) => {
    const user = (await gateway.models.User.findOne({ where: { username } }))!;
    const actor: Actor = { kind: 'user', id: user.id, name: user.username, roles: user.roles, unitPaths };
    return { ...gateway.context(null), actor };
  };
  const anonymous = () => ({ ...gateway.context(null), actor: { kind: 'anonymous' } as const });
  const locked = (target: string) =>
    audit(anonymous(), {
      action: 'account.locked',
      target,
      details: { until: new Date(Date.now() + 600_000).toISOString() },
    });

  beforeAll(async () => {
    // A sign-in refused under a name before anyone had it was nobody's (as in account history).
    await audit(anonymous(), {
      action: 'login',
      target: 'nina',
      outcome: 'failure',
      details: { reason: 'wrong_password' },
    });
    await addPerson(gateway, 'nina');
    lena = await addPerson(gateway, 'lena');
    await addPerson(gateway, 'mika', { units: ['campus/eng/ee'] });
    await addPerson(gateway, 'otto', { units: ['campus/arts/history'] });
    await addPerson(gateway, 'split', { units: ['campus/eng/cs', 'campus/arts/music'] });
    await locked('lena');
    await locked('otto');
    await locked('split');
    await resetPassword(await as('admin', []), 'mika', 'a helpdesk password 51');
    await resetPassword(await as('eng-admin', ['campus/eng']), 'lena', 'a helpdesk password 52');
    await resetPassword(await as('admin', []), 'otto', 'a helpdesk password 53');
    // An app whose slug is a person's username: not about the person (nor is the domain change above).
    await audit({ ...gateway.context(null), actor: operator('ops') }, { action: 'app.register', target: 'lena' });
    engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
  });

  it("lists their people's lockouts and resets in account history's words, and nobody else's", async () => {
    const page = await engOpen('/admin/audit');
    const list = rows(page);
    expect(list.find((r) => r.includes('lena Test lena Locked'))).toContain(
      'Locked after too many wrong passwords, until',
    );
    expect(list.find((r) => r.includes('mika Test mika'))).toContain('Password reset (their sessions ended)');
    // Actors as account history names them: a campus administrator is "an administrator".
    expect(list.find((r) => r.includes('mika Test mika'))).toContain('an administrator');
    expect(list.find((r) => r.includes('lena Test lena Password reset'))).toContain('eng-admin');
    expect(list.join('\n')).not.toMatch(/otto|split|app\.register|eng\.campus\.test|domain/);
    expect(page.html).toContain(`href="/admin/users/${lena.id}"`);
    expect(page.html).not.toMatch(/<details>|&quot;until&quot;|"until"/);
    expect(rows(await engOpen('/admin/audit?action=account.locked'))).toHaveLength(1);
  });

  it('shows nothing of someone outside their people when a filter names them', async () => {
    for (const outsider of ['otto', 'split', 'admin', 'nobody-at-all']) {
      const page = await engOpen(`/admin/audit?target=${outsider}`);
      expect(rows(page)).toEqual([]);
      expect(page.html).toContain('No events match.');
      expect(page.html).toContain(`No one you manage is called “${outsider}”`);
    }
    const byAdmin = await engOpen('/admin/audit?actor=admin');
    expect(rows(byAdmin)).toEqual([]);
    expect(byAdmin.html).toContain('show as “an administrator”');
    const lenas = rows(await engOpen('/admin/audit?target=lena'));
    expect(lenas.length).toBeGreaterThanOrEqual(3);
    expect(lenas.every((r) => r.includes('lena Test lena'))).toBe(true);
    expect(rows(await engOpen('/admin/audit?target=nina'))).toEqual([expect.stringContaining('Account created')]);
    const mine = rows(await engOpen('/admin/audit?actor=eng-admin&action=user.reset_password'));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toContain('lena Test lena Password reset');
  });

  it("leaves the campus administrator's log as it was: every entry, with its details", async () => {
    const page = await open('/admin/audit?target=otto&action=account.locked');
    const [row] = rows(page);
    expect(row).toMatch(/ UTC anonymous account\.locked otto success /);
    expect(page.html).not.toContain('id="unit-activity"');
    expect(rows(await open('/admin/audit?action=app.register&target=lena'))).toHaveLength(1);
  });
});
