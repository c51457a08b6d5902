import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrowserAgent,
  filledFormsOf,
  filledFormWithAction,
  submitFilled,
  type FilledForm,
  type Page,
} from '../helpers/browser-agent.ts';
import { ARTS_NODE, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { operator } from '../../gateway/context.ts';
import { addProxy } from '../../gateway/federation/policy.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { publishedKeys } from '../../node/federation/node-keys.ts';

let gateway: TestGateway;
let eng: TestNode;
let admin: BrowserAgent;
let engAdmin: BrowserAgent;

const url = (path: string) => `${gateway.issuer}${path}`;
const open = (agent: BrowserAgent, path: string) => agent.navigate(url(path));

function mainText(page: Page): string {
  const main = /<main[^>]*>([\s\S]*)<\/main>/.exec(page.html)?.[1] ?? page.html;
  return main
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The form posting to `action` whose hidden `field` holds `value` (one "Pin keys" button per domain). */
function formFor(page: Page, action: string, field: string, value: string): FilledForm {
  const form = filledFormsOf(page.html).find(
    (f) => f.action === action && f.entries.some(([k, v]) => k === field && v === value),
  );
  if (!form) throw new Error(`No form ${action} for ${field}=${value} on ${page.url} (status ${page.status})`);
  return form;
}

const withoutCsrf = (form: FilledForm): FilledForm => ({
  ...form,
  entries: form.entries.filter(([name]) => name !== '_csrf'),
});

const pinnedOf = async (name: string) => (await gateway.models.Domain.findOne({ where: { name } }))!.pinnedKeys;
const pairs = async () => (await gateway.models.FederationPair.findAll()).map((p) => [p.domainA, p.domainB]);

beforeAll(async () => {
  gateway = await startTestGateway('admin-federation', { LOGIN_IP_LIMIT: '1000' });
  // A running eng node (registered at its real URL) whose keys can be pinned; arts stays at a URL where nothing listens.
  eng = await startTestNode(gateway, 'eng.campus.test', {}, { pinned: false });
  await addProxy(
    { ...gateway.context(null), actor: operator('test') },
    { name: 'campus-proxy', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43), kid: 'p-test' } },
  );
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
  engAdmin = (await signInToConsole(gateway.issuer, 'eng-admin')).agent;
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('the Federation page for administrators', () => {
  it('lists the domains with their URLs and pin state, the allowed pairs and the registered proxies', async () => {
    const page = await open(admin, '/admin/federation');
    expect(page.status).toBe(200);
    expect(page.html).toContain('<a href="/admin/federation" aria-current="page">Federation</a>');
    const text = mainText(page);
    expect(text).toContain(`eng.campus.test ${eng.url} not pinned`);
    expect(text).toContain(`arts.campus.test ${ARTS_NODE} not pinned`);
    expect(text).toContain('No pair is allowed');
    expect(text).toContain('campus-proxy p-test');
    expect(filledFormsOf(page.html).filter((f) => f.action === '/admin/federation/pin')).toHaveLength(2);
  });

  it("pins a running node's keys, says so when nothing changed, and unpins them only with “I understand” ticked", async () => {
    const page = await open(admin, '/admin/federation');
    const pinned = await submitFilled(admin, page, formFor(page, '/admin/federation/pin', 'domain', 'eng.campus.test'));
    const [key] = await publishedKeys(eng.federationModels);
    expect(pinned.url).toBe(url('/admin/federation'));
    expect(mainText(pinned)).toContain(`Pinned the keys of eng.campus.test: ${key!.kid}.`);
    expect(JSON.parse((await pinnedOf('eng.campus.test'))!)).toEqual([
      { kty: 'OKP', crv: 'Ed25519', x: key!.x, kid: key!.kid },
    ]);
    expect(mainText(pinned)).toMatch(new RegExp(`eng\\.campus\\.test \\S+ ${key!.kid} since \\d{4}-`));

    const again = await submitFilled(
      admin,
      pinned,
      formFor(pinned, '/admin/federation/pin', 'domain', 'eng.campus.test'),
    );
    expect(mainText(again)).toContain('eng.campus.test serves the keys already pinned');

    // Unpinning cuts the domain off at once: the page says so beside the button, and asks first.
    const unpin = formFor(again, '/admin/federation/unpin', 'domain', 'eng.campus.test');
    expect(mainText(again)).toContain(
      'I understand: nothing eng.campus.test signs is trusted until its keys are pinned again, so its messages to and from other domains stop now.',
    );
    const unticked = await submitFilled(admin, again, unpin);
    expect(unticked.status).toBe(400);
    expect(/id="unpin-error-\d+">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to unpin eng.campus.test. Nothing was changed.',
    );
    expect(unticked.html).toMatch(/id="unpin-understood-\d+"[^>]* aria-invalid="true" [^>]*autofocus>/);
    expect(await pinnedOf('eng.campus.test')).not.toBeNull();

    const unpinned = await submitFilled(admin, unticked, unpin, { understood: 'yes' });
    expect(unpinned.url).toBe(url('/admin/federation'));
    expect(mainText(unpinned)).toContain('Unpinned eng.campus.test');
    expect(await pinnedOf('eng.campus.test')).toBeNull();
    const actions = (
      await gateway.models.AuditEvent.findAll({ where: { target: 'eng.campus.test' }, order: [['id', 'ASC']] })
    ).map((e) => e.action);
    expect(actions.filter((a) => a.startsWith('domain.'))).toEqual(
      expect.arrayContaining(['domain.pin', 'domain.unpin']),
    );
  });

  it('explains in plain words when a node cannot be reached, pins nothing, and leaves nothing for a reload to retry', async () => {
    const page = await open(admin, '/admin/federation');
    const failed = await submitFilled(
      admin,
      page,
      formFor(page, '/admin/federation/pin', 'domain', 'arts.campus.test'),
    );
    expect(failed.url).toBe(url('/admin/federation'));
    expect(mainText(failed)).toContain(
      `Could not read arts.campus.test's keys: the node at ${ARTS_NODE} did not answer ` +
        '(is it running, and is the URL right?); connect ECONNREFUSED',
    );
    expect(mainText(failed)).not.toContain('fetch failed');
    expect(failed.html).toContain('class="notice error"');
    expect(await pinnedOf('arts.campus.test')).toBeNull();
    // What a reload asks for is the page, not the pin again; the notice was said once.
    const reloaded = await open(admin, '/admin/federation');
    expect(mainText(reloaded)).not.toContain('did not answer');
  });

  it("refuses a node's keys document that never ends as soon as it passes 64 KiB, and pins nothing", async () => {
    const endless = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"domain":"arts.campus.test","keys":[');
      const more = () => {
        while (!res.destroyed && res.write(`{"kty":"OKP","crv":"Ed25519","x":"${'A'.repeat(43)}","kid":"k"},`));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    const arts = (await gateway.models.Domain.findOne({ where: { name: 'arts.campus.test' } }))!;
    arts.url = `http://127.0.0.1:${(endless.address() as { port: number }).port}`;
    await arts.save();
    try {
      const started = Date.now();
      await expect(
        pinDomainKeys({ ...gateway.context(null), actor: operator('test') }, 'arts.campus.test'),
      ).rejects.toThrow(
        `Could not read arts.campus.test's keys at ${arts.url}: the keys document is larger than 65536 bytes`,
      );
      // Refused as soon as the limit is passed, not when the five-second timeout would have ended the read.
      expect(Date.now() - started).toBeLessThan(4_000);
      expect(await pinnedOf('arts.campus.test')).toBeNull();
    } finally {
      arts.url = ARTS_NODE;
      await arts.save();
      endless.closeAllConnections();
      await new Promise((resolve) => endless.close(resolve));
    }
  });

  it('allows a pair chosen in the two selects, refuses a domain paired with itself, and denies it with “I understand” ticked', async () => {
    const page = await open(admin, '/admin/federation');
    const allowForm = filledFormWithAction(page, '/admin/federation/allow');
    // The second domain is chosen on purpose: the form does not start with a domain paired with itself.
    expect(allowForm.entries).toContainEqual(['b', '']);
    const unchosen = await submitFilled(admin, page, allowForm);
    expect(unchosen.status).toBe(400);
    expect(/id="b-error">([^<]*)</.exec(unchosen.html)?.[1]).toBe('choose a domain');
    expect(await pairs()).toEqual([]);
    const same = await submitFilled(admin, page, allowForm, { a: 'eng.campus.test', b: 'eng.campus.test' });
    expect(same.status).toBe(400);
    expect(same.html).toContain('id="b-error"');
    expect(mainText(same)).toContain('two different domains');
    expect(same.html).toContain('<option value="eng.campus.test" selected>');
    expect(await pairs()).toEqual([]);

    const allowed = await submitFilled(admin, page, allowForm, { a: 'eng.campus.test', b: 'arts.campus.test' });
    expect(allowed.url).toBe(url('/admin/federation'));
    expect(mainText(allowed)).toContain('eng.campus.test and arts.campus.test may now exchange messages.');
    expect(await pairs()).toEqual([['arts.campus.test', 'eng.campus.test']]);
    expect(mainText(allowed)).not.toContain('No pair is allowed');

    // Denying cuts messaging between the two at once, and nothing refused meanwhile is sent later: asked first.
    const deny = formFor(allowed, '/admin/federation/deny', 'a', 'arts.campus.test');
    const unticked = await submitFilled(admin, allowed, deny);
    expect(unticked.status).toBe(400);
    expect(/id="deny-error-0">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to deny arts.campus.test and eng.campus.test. Nothing was changed.',
    );
    expect(await pairs()).toEqual([['arts.campus.test', 'eng.campus.test']]);
    const denied = await submitFilled(admin, unticked, deny, { understood: 'yes' });
    expect(denied.url).toBe(url('/admin/federation'));
    expect(mainText(denied)).toContain('arts.campus.test and eng.campus.test may no longer exchange messages.');
    expect(await pairs()).toEqual([]);
    const audit = await gateway.models.AuditEvent.findAll({
      where: { action: ['federation.allow', 'federation.deny'] },
      order: [['id', 'ASC']],
    });
    expect(audit.map((e) => [e.action, e.target])).toEqual([
      ['federation.allow', 'arts.campus.test eng.campus.test'],
      ['federation.deny', 'arts.campus.test eng.campus.test'],
    ]);
  });

  it('removes a proxy only with “I understand” ticked, and records it', async () => {
    await addProxy(
      { ...gateway.context(null), actor: operator('test') },
      { name: 'old-proxy', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'B'.repeat(43), kid: 'p-old' } },
    );
    const page = await open(admin, '/admin/federation');
    expect(mainText(page)).toContain('old-proxy p-old');
    const remove = formFor(page, '/admin/federation/remove-proxy', 'name', 'old-proxy');
    const unticked = await submitFilled(admin, page, remove);
    expect(unticked.status).toBe(400);
    expect(/id="remove-proxy-error-\d+">([^<]*)</.exec(unticked.html)?.[1]).toBe(
      'Tick “I understand” to remove proxy old-proxy. Nothing was changed.',
    );
    expect(await gateway.models.FederationProxy.count({ where: { name: 'old-proxy' } })).toBe(1);

    const removed = await submitFilled(admin, unticked, remove, { understood: 'yes' });
    expect(removed.url).toBe(url('/admin/federation'));
    expect(mainText(removed)).toContain('Removed proxy old-proxy: the gateway refuses it from its next request.');
    expect(mainText(removed)).not.toContain('old-proxy p-old');
    expect(mainText(removed)).toContain('campus-proxy p-test');
    const [entry] = await gateway.models.AuditEvent.findAll({ where: { action: 'federation.proxy_removed' } });
    expect(entry).toMatchObject({ target: 'old-proxy' });

    // Pressed again from the old page (another tab): said, nothing else removed.
    const twice = await submitFilled(admin, unticked, remove, { understood: 'yes' });
    expect(mainText(twice)).toContain('No proxy old-proxy is registered');
    expect(await gateway.models.FederationProxy.count()).toBe(1);
  });

  it('changes nothing for a POST without the CSRF token', async () => {
    const page = await open(admin, '/admin/federation');
    const allow = await submitFilled(admin, page, withoutCsrf(filledFormWithAction(page, '/admin/federation/allow')), {
      a: 'arts.campus.test',
      b: 'eng.campus.test',
    });
    expect(allow.status).toBe(403);
    expect(mainText(allow)).toContain('did not come from this site');
    const pin = await submitFilled(admin, page, {
      ...withoutCsrf(formFor(page, '/admin/federation/pin', 'domain', 'eng.campus.test')),
    });
    expect(pin.status).toBe(403);
    const forged = await submitFilled(admin, page, filledFormWithAction(page, '/admin/federation/allow'), {
      _csrf: 'forged',
      a: 'arts.campus.test',
      b: 'eng.campus.test',
    });
    expect(forged.status).toBe(403);
    expect(await pairs()).toEqual([]);
    expect(await pinnedOf('eng.campus.test')).toBeNull();
  });
});

describe('the Federation page for unit administrators', () => {
  it('is not in their navigation, answers 403, and refuses their posts', async () => {
    const users = await open(engAdmin, '/admin/users');
    expect(users.status).toBe(200);
    expect(users.html).not.toContain('href="/admin/federation"');
    const page = await open(engAdmin, '/admin/federation');
    expect(page.status).toBe(403);
    expect(page.html).not.toContain('campus-proxy');
    // They administer a unit: the page is for campus administrators, and the way back is to a page of theirs.
    expect(mainText(page)).toContain('Only campus administrators may open this page.');
    expect(page.html).toContain('<a href="/admin/users">Back to users</a>');
    // A valid form token from a page they may see, on a form they may not post.
    const token = filledFormWithAction(users, '/admin/logout');
    for (const [action, fields] of [
      ['/admin/federation/allow', { a: 'arts.campus.test', b: 'eng.campus.test' }],
      ['/admin/federation/pin', { domain: 'eng.campus.test' }],
      ['/admin/federation/remove-proxy', { name: 'campus-proxy', understood: 'yes' }],
    ] as const) {
      const post = await submitFilled(engAdmin, users, { ...token, action }, fields);
      expect(post.status, action).toBe(403);
    }
    expect(await pairs()).toEqual([]);
    expect(await gateway.models.FederationProxy.count({ where: { name: 'campus-proxy' } })).toBe(1);
    expect(await pinnedOf('eng.campus.test')).toBeNull();
  });
});
