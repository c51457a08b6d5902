import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, portalClient, startTestNodeOn } from '../helpers/node.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { formWithAction } from '../helpers/browser-agent.ts';
import { freePort } from '../helpers/federation.ts';
import { updateDomain } from '../../gateway/domains/domains.ts';
import { operator } from '../../gateway/context.ts';
import type { DomainNode } from '../../node/main.ts';
import { WEBHOOK_POSTS_PER_MINUTE } from '../../node/bots/apps-services.ts';
import type { Message, Presence } from '../../sdk/client.ts';

let gateway: TestGateway;
let db: TestDatabase;
let a: DomainNode;
let b: DomainNode;

beforeAll(async () => {
  gateway = await startTestGateway('im-multi');
  db = await createTestDatabase('eng-multi');
  const port = await freePort();
  // Two processes of one domain behind one public URL (here: process A's address), sharing the
  // database and a Redis bus; a prefix of its own keeps this run apart from anything else on Redis.
  const shared = {
    NODE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `test-${randomBytes(4).toString('hex')}`,
  };
  a = await startTestNodeOn(gateway, 'eng.campus.test', db, { ...shared, NODE_PORT: String(port) });
  b = await startTestNodeOn(gateway, 'eng.campus.test', db, shared);
  await updateDomain({ ...gateway.context(null), actor: operator('test') }, 'eng.campus.test', {
    url: shared.NODE_PUBLIC_URL,
  });
  // The domain's processes ask the gateway's directory (signed) whether addresses exist.
  await pinDomainKeys({ ...gateway.context(null), actor: operator('test') }, 'eng.campus.test');
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
  await gateway?.stop();
});

describe('one domain as two processes over Redis', () => {
  it('delivers a message sent through one process to devices on the other, and receipts back', async () => {
    const alice = await connectAs(gateway, a, 'alice');
    const dave = await connectAs(gateway, b, 'dave');
    const got: Message[] = [];
    dave.on('message', (m) => got.push(m));
    const ack = await alice.send({ to: 'dave@eng.campus.test', text: 'across processes' });
    await expect.poll(() => got.map((m) => m.id)).toEqual([ack.messageId]);

    const receipts: number[] = [];
    alice.on('receipt', (r) => r.address === 'dave@eng.campus.test' && receipts.push(r.readSeq));
    await dave.markRead(ack.conversationId, ack.seq);
    await expect.poll(() => receipts).toContain(ack.seq);
    alice.close();
    dave.close();
  });

  it('keeps one gap-free sequence when both processes write to the same conversation at once', async () => {
    const alice = await connectAs(gateway, a, 'alice');
    const dave = await connectAs(gateway, b, 'dave');
    const conversation = await alice.openDirect('dave@eng.campus.test');
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? alice : dave).send({ conversationId: conversation.id, text: `both ${i}` }),
      ),
    );
    const seqs = (
      await a.models.Message.findAll({ where: { conversationId: conversation.id }, order: [['seq', 'ASC']] })
    ).map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    alice.close();
    dave.close();
  });

  it('shows the same presence from either process', async () => {
    const watcher = await connectAs(gateway, a, 'alice');
    const updates: Presence[] = [];
    watcher.on('presence', (p) => updates.push(p));
    expect((await watcher.presence(['carol@eng.campus.test']))[0]!.status).toBe('offline');

    const carol = await connectAs(gateway, b, 'carol');
    await expect.poll(() => updates.at(-1)?.status).toBe('online');
    expect((await watcher.presence(['carol@eng.campus.test']))[0]!.status).toBe('online');
    await carol.setPresence('away');
    await expect.poll(() => updates.at(-1)?.status).toBe('away');
    carol.close();
    await expect.poll(() => updates.at(-1)?.status).toBe('offline');
    expect(updates.at(-1)!.lastSeen).toBeTruthy();
    watcher.close();
  });

  it("closes a signed-out session's sockets on both processes", async () => {
    const portal = await portalClient(gateway);
    const who = await login(gateway, 'dave');
    const onA = await connectAs(gateway, a, 'dave', who);
    const onB = await connectAs(gateway, b, 'dave', who);
    const ended: string[] = [];
    onA.on('ended', () => ended.push('a'));
    onB.on('ended', () => ended.push('b'));
    // Sign out in the browser that signed in.
    const end = await who.agent.navigate(client.buildEndSessionUrl(portal, { id_token_hint: who.idToken }).toString());
    await who.agent.submit(end, formWithAction(end, '/session/end/confirm'), { logout: 'yes' });
    await expect.poll(() => ended.sort()).toEqual(['a', 'b']);
  });

  it("counts a webhook's posts together on both processes", async () => {
    const alice = await connectAs(gateway, a, 'alice');
    const group = await alice.createGroup('Sensor readings', ['dave@eng.campus.test']);
    const { url } = await alice.createWebhook(group.id, 'Thermometer');
    const path = new URL(url).pathname;
    const statuses: number[] = [];
    for (let i = 0; i <= WEBHOOK_POSTS_PER_MINUTE; i++) {
      const process = i % 2 === 0 ? a : b;
      const response = await fetch(`${process.localUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `reading ${i}` }),
      });
      statuses.push(response.status);
    }
    // Each process alone saw about half of them, well within the limit; together they used it up.
    expect(statuses.slice(0, WEBHOOK_POSTS_PER_MINUTE).every((s) => s === 201)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    alice.close();
  });
});
