import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/federation.ts';
import { registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNodeOn } from '../helpers/node.ts';
import { openRaw } from '../helpers/raw-socket.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { loadProxyConfig } from '../../proxy/config.ts';
import { startProxy, type Proxy } from '../../proxy/main.ts';
import { operator } from '../../gateway/context.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { addDomain, updateDomain } from '../../gateway/domains/domains.ts';
import { addProxy, allowPair, denyPair } from '../../gateway/federation/policy.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import type { DomainNode } from '../../node/main.ts';
import { createTestClock, type TestClock } from '../../core/clock.ts';
import { AtriumClient, type Message } from '../../sdk/client.ts';
import { signedGatewayRequest } from '../../protocol/signature.ts';

/**
 * A university (gateway U: eng.campus.test behind proxy U) and a company (gateway C: sales.acme.test behind
 * proxy C), each registering the other's domain at the other's proxy and keeping its own policy.
 */
let university: TestGateway;
let company: TestGateway;
let proxyU: Proxy;
let proxyC: Proxy;
let eng: DomainNode & { clock: TestClock };
let sales: DomainNode & { clock: TestClock };
const dbs: TestDatabase[] = [];
const proxyClocks: TestClock[] = [];

/** Moves the nodes' and proxies' clocks past their registry caches (REGISTRY_TTL_SECONDS, 1 s here) rather than waiting. */
function advanceClocks(ms: number): void {
  for (const clock of [eng.clock, sales.clock, ...proxyClocks]) clock.advance(ms);
}

async function proxyFor(gateway: TestGateway, name: string): Promise<Proxy> {
  const db = await createTestDatabase(name);
  dbs.push(db);
  const clock = createTestClock();
  proxyClocks.push(clock);
  const proxy = await startProxy(
    loadProxyConfig({
      PROXY_PORT: '0',
      PROXY_HOST: '127.0.0.1',
      PROXY_NAME: name,
      GATEWAY_ISSUER: gateway.issuer,
      ATRIUM_DATA_DIR: db.dataDir,
      LOG_LEVEL: 'silent',
      REGISTRY_TTL_SECONDS: '1',
    }),
    { clock },
  );
  await addProxy({ ...gateway.context(null), actor: operator('test') }, { name, publicJwk: proxy.publicKey });
  return proxy;
}

beforeAll(async () => {
  university = await startTestGateway('org-u');
  company = await startTestGateway('org-c');
  const u = { ...university.context(null), actor: operator('test') };
  const c = { ...company.context(null), actor: operator('test') };
  await createUnit(c, { path: 'acme', name: 'Acme Corp' });
  await createUnit(c, { path: 'acme/sales', name: 'Sales' });
  await createUser(c, {
    username: 'sam',
    displayName: 'Sam Seller',
    email: 'sam@acme.test',
    password: DEMO_PASSWORD,
    roles: ['staff'],
    units: ['acme/sales'],
  });

  proxyU = await proxyFor(university, 'uni-proxy');
  proxyC = await proxyFor(company, 'acme-proxy');

  const engDb = await createTestDatabase('org-eng');
  const salesDb = await createTestDatabase('org-sales');
  dbs.push(engDb, salesDb);
  const engPort = await freePort();
  const salesPort = await freePort();
  await updateDomain(u, 'eng.campus.test', { url: `http://127.0.0.1:${engPort}` });
  await addDomain(c, { name: 'sales.acme.test', url: `http://127.0.0.1:${salesPort}`, units: ['acme/sales'] });
  eng = await startTestNodeOn(university, 'eng.campus.test', engDb, {
    NODE_PORT: String(engPort),
    NODE_PUBLIC_URL: `http://127.0.0.1:${engPort}`,
    FEDERATION_PROXY_URL: proxyU.url,
    REGISTRY_TTL_SECONDS: '1',
    FEDERATION_POLICY_RETRIES: '1',
  });
  sales = await startTestNodeOn(company, 'sales.acme.test', salesDb, {
    NODE_PORT: String(salesPort),
    NODE_PUBLIC_URL: `http://127.0.0.1:${salesPort}`,
    FEDERATION_PROXY_URL: proxyC.url,
    REGISTRY_TTL_SECONDS: '1',
  });
  await pinDomainKeys(u, 'eng.campus.test');
  await pinDomainKeys(c, 'sales.acme.test');

  // Each organization registers the partner's domain at the partner's proxy and pins its keys through it.
  await addDomain(u, { name: 'sales.acme.test', url: proxyC.url, units: [] });
  // (The company's test gateway was seeded with the demo campus; its eng entry becomes the partner domain.)
  // Its demo people of campus/eng are left with no IM home there, which the change is told to do.
  await updateDomain(c, 'eng.campus.test', { url: proxyU.url, units: [], movePeople: true });
  await pinDomainKeys(u, 'sales.acme.test');
  await pinDomainKeys(c, 'eng.campus.test');
  await allowPair(u, { a: 'eng.campus.test', b: 'sales.acme.test' });
  await allowPair(c, { a: 'eng.campus.test', b: 'sales.acme.test' });
  // Policy changes take effect within the registry's TTL (1 s here) at the proxies and nodes; the first
  // test opens a conversation at once, and its address check goes through both proxies.
  advanceClocks(1_100);
});

afterAll(async () => {
  for (const node of [eng, sales]) await node?.close();
  for (const proxy of [proxyU, proxyC]) await proxy?.close();
  for (const db of dbs) await db.drop();
  await university?.stop();
  await company?.stop();
});

describe('two organizations with linked proxies', () => {
  it('lets a student and a company contact talk both ways through both proxies', async () => {
    const alice = await connectAs(university, eng, 'alice');
    const sam = await connectAs(company, sales, 'sam');
    const samInbox: Message[] = [];
    const aliceInbox: Message[] = [];
    sam.on('message', (m) => samInbox.push(m));
    alice.on('message', (m) => aliceInbox.push(m));

    const hello = await alice.send({ to: 'sam@sales.acme.test', text: 'internship question' });
    await expect.poll(() => samInbox.map((m) => m.text), { timeout: 15_000 }).toEqual(['internship question']);
    const reply = await sam.send({ conversationId: hello.conversationId, text: 'happy to help' });
    expect(reply.seq).toBe(2);
    await expect.poll(() => aliceInbox.map((m) => m.text), { timeout: 15_000 }).toContain('happy to help');
    alice.close();
    sam.close();
  });

  it("asks the partner's node, under the partner's own gateway, whether an address exists", async () => {
    const alice = await connectAs(university, eng, 'alice');
    const before = await eng.models.Conversation.count();
    await expect(alice.send({ to: 'nobody@sales.acme.test', text: 'internship question' })).rejects.toMatchObject({
      code: 'unknown_address',
      fields: { to: expect.stringContaining('nobody@sales.acme.test') },
    });
    expect(await eng.models.Conversation.count()).toBe(before);
    alice.close();
  });

  it("enforces each side's own policy: when the company withdraws, the student is told the message was refused", async () => {
    await denyPair(
      { ...company.context(null), actor: operator('test') },
      { a: 'eng.campus.test', b: 'sales.acme.test' },
    );
    advanceClocks(1_200);
    const who = await login(university, 'alice');
    const raw = await openRaw(eng.localUrl, ['atrium.v1', `atrium.token.${await who.tokenFor(eng.url)}`]);
    await raw.next((f) => f.type === 'ready');
    raw.send({
      v: 1,
      id: 's1',
      type: 'send',
      clientMsgId: 'withdrawn-0001',
      to: 'sam@sales.acme.test',
      text: 'are you still there?',
    });
    const ack = await raw.next((f) => f.re === 's1');
    expect(ack.type).toBe('ack');
    const refused = await raw.next((f) => f.type === 'delivery.failed', 15_000);
    expect(refused).toMatchObject({ messageId: ack.messageId, domain: 'sales.acme.test' });
    expect(String(refused.reason)).toContain('policy_denied');
    expect(await sales.models.Message.count({ where: { id: String(ack.messageId) } })).toBe(0);
    raw.socket.close();
  });

  it("keeps the company's copy gap-free across a withdrawal and a return, and a device that was offline learns what did not arrive", async () => {
    const c = { ...company.context(null), actor: operator('test') };
    const pair = { a: 'eng.campus.test', b: 'sales.acme.test' };
    await denyPair(c, pair);
    advanceClocks(1_200);
    const phone = await connectAs(university, eng, 'alice');
    const refused = await phone.send({ to: 'sam@sales.acme.test', text: 'sent while acme had withdrawn' });
    phone.close();
    // The refusal is stored in the conversation, so a device that was not online then still learns of it.
    await expect
      .poll(
        async () =>
          (
            await eng.models.Message.findAll({
              where: { conversationId: refused.conversationId, kind: 'delivery.failed' },
            })
          ).some((m) => m.body.includes(refused.messageId)),
        { timeout: 20_000 },
      )
      .toBe(true);
    const who = await login(university, 'alice');
    const laptop = new AtriumClient({
      url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`,
      token: () => who.tokenFor(eng.url),
    });
    const synced: Message[] = [];
    laptop.on('message', (m) => synced.push(m));
    await laptop.connect();
    const failure = () =>
      synced.find(
        (m) =>
          m.kind === 'delivery.failed' &&
          ((m as Record<string, unknown>).messageIds as string[]).includes(refused.messageId),
      );
    await expect
      .poll(failure)
      .toMatchObject({ conversationId: refused.conversationId, domain: 'sales.acme.test', reason: 'policy_denied' });

    // The company opens again; what alice sends now reaches sam, and sam's copy has every seq: the refused
    // message is a placeholder without its content.
    await allowPair(c, pair);
    advanceClocks(1_200);
    // Eng's next attempt comes now rather than at the end of its backoff (at most a minute).
    await eng.federationModels.OutboxPeer.update(
      { nextAttemptAt: null },
      { where: { destination: 'sales.acme.test' } },
    );
    const back = await laptop.send({ conversationId: refused.conversationId, text: 'glad you are back' });
    await expect
      .poll(async () => sales.models.Message.count({ where: { id: back.messageId } }), { timeout: 20_000 })
      .toBe(1);
    const copy = await sales.models.Message.findAll({
      where: { conversationId: refused.conversationId },
      order: [['seq', 'ASC']],
    });
    expect(copy.map((m) => m.seq)).toEqual(Array.from({ length: back.seq }, (_, i) => i + 1));
    const placeholder = copy.find((m) => m.id === refused.messageId);
    expect(placeholder).toMatchObject({ kind: 'withheld', sender: 'system@eng.campus.test', body: '{}' });
    laptop.close();
  });
});

describe("a partner organization's node at the university's gateway", () => {
  it("learns nothing of the campus's ended sessions, apps or clients, which the campus's own node is told", async () => {
    const desk = await registerTestApp(university, {
      name: 'Campus Desk',
      slug: 'campus-desk',
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    const ask = async (node: DomainNode, origin: string, path: string) =>
      fetch(
        await signedGatewayRequest(
          { gatewayIssuer: university.issuer, origin, signingKey: node.federation.keys.signingKey },
          'GET',
          path,
        ),
      );
    for (const path of [
      '/federation/v1/ended-access?after=0',
      `/federation/v1/clients/${desk.clientId}`,
      '/federation/v1/apps/campus-desk',
      '/federation/v1/apps/campus-desk/people/alice',
    ]) {
      const refused = await ask(sales, 'sales.acme.test', path);
      expect({ path, status: refused.status, body: await refused.json() }).toEqual({
        path,
        status: 403,
        body: { error: { code: 'forbidden', message: expect.stringContaining('sales.acme.test is not one of them') } },
      });
      expect({ path, status: (await ask(eng, 'eng.campus.test', path)).status }).toEqual({ path, status: 200 });
    }
  });
});
