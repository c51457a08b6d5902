import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { resetPassword, updateUser } from '../../gateway/accounts/update-user.ts';
import { operator } from '../../gateway/context.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { WEBHOOK_POSTS_PER_MINUTE } from '../../node/bots/apps-services.ts';
import type { EndedAccess } from '../../node/auth/ended-access.ts';
import { endingCreatorsWebhooks } from '../../node/webhooks/ended-creators.ts';
import type { Message } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
type Device = Awaited<ReturnType<typeof device>>;
let alice: Device;
let dave: Device;
let carol: Device;

async function device(username: string) {
  const sdk = await connectAs(gateway, eng, username);
  const d = Object.assign(sdk, { messages: [] as Message[] });
  d.on('message', (m) => d.messages.push(m));
  return d;
}

/** The URL as the node printed it, reached at the test node's local address. */
const local = (url: string) => url.replace(eng.url, eng.localUrl);

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(local(url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, any>,
    retryAfter: response.headers.get('retry-after'),
  };
}

beforeAll(async () => {
  gateway = await startTestGateway('webhooks', { LOGIN_IP_LIMIT: '1000' });
  eng = await startTestNode(gateway, 'eng.campus.test');
  [alice, dave, carol] = await Promise.all([device('alice'), device('dave'), device('carol')]);
});
afterAll(async () => {
  alice?.close();
  dave?.close();
  carol?.close();
  await eng?.stop();
  await gateway?.stop();
});

describe('incoming webhooks', () => {
  it('post into their group as the webhook, until revoked; then the URL is refused', async () => {
    const group = await alice.createGroup('CI results', [DAVE]);
    const { webhook, url } = await alice.createWebhook(group.id, 'Build server');
    expect(url).toMatch(new RegExp(`^${eng.url}/hooks/${webhook.id}/[\\w-]{43}$`));
    expect(webhook).toMatchObject({
      name: 'Build server',
      sender: `hook-${webhook.id}@eng.campus.test`,
      createdBy: 'alice@eng.campus.test',
      revokedAt: null,
    });

    const posted = await post(url, { text: 'Build #42 passed' });
    expect(posted).toMatchObject({ status: 201, body: { conversationId: group.id, duplicate: false } });
    await expect
      .poll(() => dave.messages.find((m) => m.id === posted.body.messageId))
      .toMatchObject({
        sender: webhook.sender,
        senderName: 'Build server',
        senderKind: 'webhook',
        text: 'Build #42 passed',
      });

    // An Idempotency-Key makes a retried post land once.
    const once = await post(url, { text: 'Build #43 passed' }, { 'idempotency-key': 'build-43-result' });
    const again = await post(url, { text: 'Build #43 passed' }, { 'idempotency-key': 'build-43-result' });
    expect(again).toMatchObject({ status: 200, body: { messageId: once.body.messageId, duplicate: true } });

    const [listed] = await alice.webhooks(group.id);
    expect(JSON.stringify(listed)).not.toContain(url.split('/').at(-1)!);
    const stored = await eng.services.apps.Webhook.findByPk(webhook.id);
    expect(stored!.secretHash).not.toContain(url.split('/').at(-1)!);

    const revoked = await alice.revokeWebhook(webhook.id);
    expect(revoked.revokedAt).not.toBeNull();
    expect(await post(url, { text: 'Build #44 passed' })).toMatchObject({
      status: 410,
      body: { error: { code: 'webhook_revoked' } },
    });
    expect(dave.messages.filter((m) => m.text === 'Build #44 passed')).toEqual([]);
  });

  it('refuse a wrong secret, an unknown id and bad bodies, and change nothing', async () => {
    const group = await alice.createGroup('Alerts', [DAVE]);
    const { url } = await alice.createWebhook(group.id, 'Monitor');
    const before = (await alice.history(group.id)).messages.length;
    const wrongSecret = url.replace(/[\w-]{43}$/, 'x'.repeat(43));
    expect((await post(wrongSecret, { text: 'forged' })).status).toBe(404);
    expect(
      (await post(url.replace(/\/hooks\/[a-f0-9]{16}\//, '/hooks/0123456789abcdef/'), { text: 'forged' })).status,
    ).toBe(404);
    expect(await post(url, { text: '   ' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: { text: 'a message needs text' } } },
    });
    // A form, as `curl -d text=…` sends, is told to be JSON.
    expect(await post(url, 'text=disk+full', { 'content-type': 'application/x-www-form-urlencoded' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_body', message: expect.stringContaining('not a JSON object') } },
    });
    // Valid JSON that is not an object is told the same.
    expect(await post(url, '"disk full"')).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_body', message: expect.stringContaining('not a JSON object') } },
    });
    // A retry key not of the form would let every retry post again: refused, not ignored.
    for (const key of ['summary:2026-12-07', '2026-12-07 summary', 'abc'])
      expect(await post(url, { text: 'daily summary' }, { 'idempotency-key': key })).toMatchObject({
        status: 400,
        body: { error: { code: 'invalid_input', fields: { 'Idempotency-Key': expect.stringContaining('8 to 64') } } },
      });
    // A field a post does not have is named, as on a socket, not dropped while the text is posted.
    expect(await post(url, { text: 'disk full', extra: 1 })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: { extra: 'unknown field' } } },
    });
    expect(await post(url, { text: 'x'.repeat(20_000) })).toMatchObject({ status: 413 });
    expect((await alice.history(group.id)).messages.length).toBe(before);
  });

  it('are limited per webhook, and a refused post says when to try again', async () => {
    const group = await alice.createGroup('Noisy', [DAVE]);
    const { url } = await alice.createWebhook(group.id, 'Chatty sensor');
    const answers: Awaited<ReturnType<typeof post>>[] = [];
    for (let i = 0; i <= WEBHOOK_POSTS_PER_MINUTE; i++) answers.push(await post(url, { text: `reading ${i}` }));
    expect(answers.slice(0, WEBHOOK_POSTS_PER_MINUTE).every((a) => a.status === 201)).toBe(true);
    const refused = answers.at(-1)!;
    expect(refused).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    // Within the minute the webhook's allowance runs for.
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
    // Another webhook of the same group is not held back by it.
    const other = await alice.createWebhook(group.id, 'Quiet sensor');
    expect((await post(other.url, { text: 'one reading' })).status).toBe(201);
  });

  it("are created, listed and revoked by the group's owner or admins only, also over HTTP", async () => {
    const group = await alice.createGroup('Staff room', [DAVE, CAROL]);
    await expect(dave.createWebhook(group.id, 'Mine')).rejects.toMatchObject({ code: 'forbidden' });
    await expect(dave.webhooks(group.id)).rejects.toMatchObject({ code: 'forbidden' });
    await alice.setRole(group.id, DAVE, 'admin');
    const { webhook } = await dave.createWebhook(group.id, "Dave's hook");

    const aliceToken = await alice.login.tokenFor(eng.url);
    const http = (path: string, method = 'GET', body?: unknown) =>
      fetch(`${eng.localUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));
    expect(await http(`/conversations/${group.id}/webhooks`, 'POST', { name: 'Typo', nmae: 'Typo' })).toEqual({
      status: 400,
      body: { error: { code: 'invalid_input', message: 'Unknown field: nmae', fields: { nmae: 'unknown field' } } },
    });
    const created = await http(`/conversations/${group.id}/webhooks`, 'POST', { name: 'Over HTTP' });
    expect(created).toMatchObject({
      status: 201,
      body: { webhook: { name: 'Over HTTP' }, url: expect.stringContaining('/hooks/') },
    });
    const listed = await http(`/conversations/${group.id}/webhooks`);
    expect(listed.body.webhooks.map((w: { name: string }) => w.name)).toEqual(["Dave's hook", 'Over HTTP']);
    expect((await http(`/webhooks/${webhook.id}`, 'DELETE')).body.webhook.revokedAt).not.toBeNull();

    // Direct conversations have no webhooks.
    const direct = await alice.openDirect(DAVE);
    await expect(alice.createWebhook(direct.id, 'Nope')).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('stop for good when their creator leaves the group, is removed from it or is made a plain member', async () => {
    const group = await dave.createGroup('Course staff', [ALICE, CAROL]);
    await dave.setRole(group.id, ALICE, 'admin');
    await dave.setRole(group.id, CAROL, 'admin');
    const removed = await alice.createWebhook(group.id, "Alice's bot");
    const demoted = await carol.createWebhook(group.id, "Carol's bot");
    const kept = await dave.createWebhook(group.id, "Dave's bot");
    expect((await post(removed.url, { text: 'before' })).status).toBe(201);

    await dave.removeMember(group.id, ALICE);
    // Revoked with the removal itself, not at its next post.
    const revokedAt = async (id: string) => (await dave.webhooks(group.id)).find((w) => w.id === id)!.revokedAt;
    expect(await revokedAt(removed.webhook.id)).not.toBeNull();
    expect(await post(removed.url, { text: 'after removal' })).toMatchObject({
      status: 410,
      body: { error: { code: 'webhook_revoked' } },
    });
    await dave.setRole(group.id, CAROL, 'member');
    expect(await revokedAt(demoted.webhook.id)).not.toBeNull();
    expect((await post(demoted.url, { text: 'after demotion' })).status).toBe(410);

    // Coming back, even as an admin, does not bring a webhook back: the group's admins make a new one.
    await dave.invite(group.id, [ALICE]);
    await dave.setRole(group.id, ALICE, 'admin');
    expect((await post(removed.url, { text: 'after coming back' })).status).toBe(410);
    const again = await alice.createWebhook(group.id, "Alice's new bot");
    expect((await post(again.url, { text: 'new hook' })).status).toBe(201);
    await alice.leave(group.id);
    expect((await post(again.url, { text: 'after leaving' })).status).toBe(410);

    expect((await post(kept.url, { text: 'still posting' })).status).toBe(201);
    const texts = (await dave.history(group.id)).messages.map((m) => m.text);
    expect(texts).toEqual(expect.arrayContaining(['before', 'new hook', 'still posting']));
    expect(texts.filter((t) => t?.startsWith('after '))).toEqual([]);
  });

  it('made before the node revoked them so are revoked at their next post, once their creator is not an admin', async () => {
    const group = await dave.createGroup('Older hooks', [ALICE]);
    await dave.setRole(group.id, ALICE, 'admin');
    const { webhook, url } = await alice.createWebhook(group.id, 'Old bot');
    // As a removal before this node revoked webhooks with it left them.
    await eng.models.Member.update({ state: 'removed' }, { where: { conversationId: group.id, address: ALICE } });
    expect(await post(url, { text: 'from an old hook' })).toMatchObject({
      status: 410,
      body: { error: { code: 'webhook_revoked' } },
    });
    expect((await eng.services.apps.Webhook.findByPk(webhook.id))!.revokedAt).not.toBeNull();
    expect((await dave.history(group.id)).messages.map((m) => m.text)).not.toContain('from an old hook');
  });
});

describe("webhooks and their creator's access at the gateway", () => {
  const ops = () => ({ ...gateway.context(null), actor: operator('test') });
  const newcomer = (username: string, units: string[]) =>
    createUser(ops(), {
      username,
      displayName: username,
      email: `${username}@campus.test`,
      password: DEMO_PASSWORD,
      roles: ['staff'],
      units,
    });

  /** A webhook of a group of Dave's, made by `username`, one of its admins. */
  async function hookOf(username: string) {
    const who = await device(username);
    const group = await dave.createGroup(`${username}'s group`, [`${username}@eng.campus.test`]);
    await dave.setRole(group.id, `${username}@eng.campus.test`, 'admin');
    const made = await who.createWebhook(group.id, `${username}'s bot`);
    const token = await who.login.tokenFor(eng.url);
    who.close();
    expect((await post(made.url, { text: 'first' })).status).toBe(201);
    return { ...made, token };
  }

  it('stop when their creator is disabled, even once enabled again', async () => {
    await newcomer('wendy', ['campus/eng/cs']);
    const { webhook, url } = await hookOf('wendy');
    await updateUser(ops(), 'wendy', { status: 'disabled' });
    // The gateway tells the node at once; the node revokes the webhooks of whoever is no longer active.
    await expect.poll(async () => (await post(url, { text: 'disabled' })).status, { timeout: 10_000 }).toBe(410);
    expect((await eng.services.apps.Webhook.findByPk(webhook.id))!.revokedAt).not.toBeNull();
    await updateUser(ops(), 'wendy', { status: 'active' });
    expect((await post(url, { text: 'enabled again' })).status).toBe(410);
  });

  it('stop when their creator is moved off the domain', async () => {
    await newcomer('xavi', ['campus/eng/cs', 'campus/arts/music']);
    const { url } = await hookOf('xavi');
    await updateUser(ops(), 'xavi', { units: ['campus/arts/music'], moveChat: true });
    await expect.poll(async () => (await post(url, { text: 'moved' })).status, { timeout: 10_000 }).toBe(410);
  });

  it('go on when their creator has their password reset', async () => {
    const person = await newcomer('yann', ['campus/eng/cs']);
    const { url, token } = await hookOf('yann');
    await resetPassword(ops(), 'yann', 'another long passphrase 42');
    const me = () => fetch(`${eng.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    await expect.poll(async () => (await me()).status, { timeout: 10_000 }).toBe(401);
    // What the node does with the entry, awaited here: the gateway still has yann as active.
    const told = endingCreatorsWebhooks({ record: async () => {} } as unknown as EndedAccess, {
      Webhook: eng.services.apps.Webhook,
      directory: { domain: eng.domain, gatewayIssuer: gateway.issuer, signingKey: eng.federation.keys.signingKey },
      apps: eng.services.apps.directory,
      logger: eng.logger,
    });
    const now = Date.now();
    await told.record([{ kind: 'sub', subject: person.id, endedAt: now, keepUntil: now + 60_000 }]);
    expect((await post(url, { text: 'after the reset' })).status).toBe(201);
  });
});
