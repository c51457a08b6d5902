import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { createAppDirectory } from '../../node/bots/app-directory.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import type { Message } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { actingAs, asOperator, botToken, register } from './helpers.ts';

let gateway: TestGateway;
let eng: TestNode;
let arts: TestNode;
/** The apps' callback endpoint: counts the clicks that reach it and answers each with nothing. */
let app: Server;
let appUrl: string;
let clicks = 0;

beforeAll(async () => {
  gateway = await startTestGateway('apps-known-to-nodes', { LOGIN_IP_LIMIT: '1000' });
  eng = await startTestNode(gateway, 'eng.campus.test');
  // A short app cache, so that a change of the app's owner reaches the node within the test.
  arts = await startTestNode(gateway, 'arts.campus.test', { REGISTRY_TTL_SECONDS: '1' });
  app = createServer((req, res) => {
    clicks += 1;
    req.resume().on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/atrium/callback`;
});
afterAll(async () => {
  await arts?.stop();
  await eng?.stop();
  await gateway?.stop();
  await new Promise((r) => app?.close(r));
});

/** What the gateway answers `node` about `slug`, asked over the node's own signed request. */
function askedBy(node: TestNode, domain: string, slug: string) {
  return createAppDirectory({
    gatewayIssuer: gateway.issuer,
    origin: domain,
    signingKey: node.federation.keys.signingKey,
    ttlMs: 0,
    logger: createLogger('apps-known-to-nodes', 'silent'),
  }).get(slug);
}

describe("an app's callback secret", () => {
  it('is given to the nodes its bot may post on, and an Engineering app is unknown to the Arts node', async () => {
    const approvals = await register(
      gateway,
      {
        name: 'Eng Approvals',
        slug: 'eng-approvals',
        ownerUnit: 'campus/eng',
        redirectUris: ['http://localhost:9/cb'],
        interactionCallbackUrl: 'https://approvals.eng.campus.example/atrium/callback',
        botEnabled: true,
      },
      await actingAs(gateway, 'eng-admin'),
    );
    expect(await askedBy(eng, 'eng.campus.test', 'eng-approvals')).toMatchObject({
      clientId: approvals.clientId,
      callbackSecret: approvals.callbackSecret,
    });
    // The gateway keeps the bot off the Arts node, and the Arts node learns nothing that signs its clicks.
    await expect(
      botToken(gateway, { clientId: approvals.clientId, clientSecret: approvals.clientSecret }, arts.url),
    ).rejects.toMatchObject({
      error: 'invalid_target',
      error_description: "arts.campus.test serves no unit within campus/eng, this app's owner unit",
    });
    expect(await askedBy(arts, 'arts.campus.test', 'eng-approvals')).toBeNull();
  });

  it("is given for a campus-wide app to every campus node, and never to a partner organization's domain, which its bot gets no token for either", async () => {
    const desk = await register(gateway, {
      name: 'Campus Desk',
      slug: 'campus-desk',
      redirectUris: ['http://localhost:9/cb'],
      interactionCallbackUrl: 'https://desk.campus.example/atrium/callback',
      botEnabled: true,
    });
    for (const [node, domain] of [
      [eng, 'eng.campus.test'],
      [arts, 'arts.campus.test'],
    ] as const)
      expect((await askedBy(node, domain, 'campus-desk'))?.callbackSecret).toBe(desk.callbackSecret);
    // A partner organization's node, pinned here so that its people can talk with the campus's.
    await addDomain(asOperator(gateway), { name: 'sales.acme.test', url: 'http://acme-proxy.example', units: [] });
    const acme = await startTestNode(gateway, 'sales.acme.test');
    try {
      // The gateway answers a partner's node nothing about the campus's apps: it is refused outright.
      await expect(askedBy(acme, 'sales.acme.test', 'campus-desk')).rejects.toThrow(/HTTP 403/);
      // Nor does the gateway give the bot a token for that domain; it does for every campus node.
      await expect(botToken(gateway, desk, acme.url)).rejects.toMatchObject({
        error: 'invalid_target',
        error_description:
          "sales.acme.test serves no unit of the campus, and a campus-wide app's bot reaches only the nodes that do",
      });
      for (const node of [eng, arts]) expect(await botToken(gateway, desk, node.url)).toEqual(expect.any(String));
    } finally {
      await acme.stop();
    }
  });
});

describe('a card of an app whose bot may no longer post on the node', () => {
  it('tells the person who clicks that the app is unavailable, and sends the app nothing', async () => {
    const leave = await register(gateway, {
      name: 'Leave Desk',
      slug: 'leave-desk',
      redirectUris: ['http://localhost:9/cb'],
      interactionCallbackUrl: appUrl,
      botEnabled: true,
    });
    const token = await botToken(gateway, leave, arts.url);
    const bot = new AtriumBot({ nodeUrl: arts.localUrl, token: () => token });
    const bob = Object.assign(await connectAs(gateway, arts, 'bob'), { messages: [] as Message[] });
    bob.on('message', (m) => bob.messages.push(m));
    try {
      const card = { title: 'Leave request', actions: [{ id: 'approve', label: 'Approve' }] };
      const { messageId } = await bot.sendCard({ to: 'bob@arts.campus.test' }, card);
      await expect.poll(() => bob.messages.some((m) => m.id === messageId)).toBe(true);
      expect(await bob.cardAction(messageId, 'approve')).toMatchObject({ updated: false });
      expect(clicks).toBe(1);

      // Engineering takes the app over: its bot belongs on Engineering's node from now on.
      await updateApp(asOperator(gateway), 'leave-desk', { ownerUnit: 'campus/eng' });
      await new Promise((r) => setTimeout(r, 1_100));
      await expect(bob.cardAction(messageId, 'approve')).rejects.toMatchObject({ code: 'app_unavailable' });
      expect(clicks).toBe(1);
    } finally {
      bob.close();
    }
  });
});

describe("an app's name", () => {
  it('is refused to webhooks on the nodes its bot may post on, and left to webhooks elsewhere, which are not told of it', async () => {
    await register(
      gateway,
      {
        name: 'Eng Timetable',
        slug: 'eng-timetable',
        ownerUnit: 'campus/eng',
        redirectUris: ['http://localhost:9/cb'],
      },
      await actingAs(gateway, 'eng-admin'),
    );
    const alice = await connectAs(gateway, eng, 'alice');
    const bob = await connectAs(gateway, arts, 'bob');
    try {
      const onEng = await alice.createGroup('Lab 3', []);
      await expect(alice.createWebhook(onEng.id, 'eng timetable')).rejects.toMatchObject({
        code: 'invalid_input',
        fields: { name: expect.stringMatching(/^Eng Timetable is the name of an app/) },
      });
      const onArts = await bob.createGroup('Studio', []);
      expect((await bob.createWebhook(onArts.id, 'Eng Timetable')).webhook.name).toBe('Eng Timetable');
    } finally {
      alice.close();
      bob.close();
    }
  });
});
