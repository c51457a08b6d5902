import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
/** Process B reaches Redis through this forwarder: closing it is Redis going away for B alone. */
let redisForB: Forwarder;
const bLogs: { level: number; msg: string; [key: string]: unknown }[] = [];

type Forwarder = { port: number; cut(): Promise<void>; restore(): Promise<void> };

/** A TCP forwarder to the test Redis, which can be cut (its connections dropped, its port refusing) and restored. */
async function forwarderToRedis(): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const redis = connect(6379, '127.0.0.1');
    for (const [socket, other] of [
      [client, redis],
      [redis, client],
    ] as const) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        sockets.delete(socket);
        other.destroy();
      });
    }
    client.pipe(redis).pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const { port } = server.address() as AddressInfo;
  return {
    port,
    async cut() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    restore: () => listen(port),
  };
}

async function readiness(node: DomainNode): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.localUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

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
  redisForB = await forwarderToRedis();
  const logger = pino({ level: 'info' }, { write: (line: string) => void bLogs.push(JSON.parse(line)) });
  a = await startTestNodeOn(gateway, 'eng.campus.test', db, { ...shared, NODE_PORT: String(port) });
  b = await startTestNodeOn(
    gateway,
    'eng.campus.test',
    db,
    { ...shared, REDIS_URL: `redis://127.0.0.1:${redisForB.port}` },
    { logger },
  );
  await updateDomain({ ...gateway.context(null), actor: operator('test') }, 'eng.campus.test', {
    url: shared.NODE_PUBLIC_URL,
  });
  // The domain's processes ask the gateway's directory (signed) whether addresses exist.
  await pinDomainKeys({ ...gateway.context(null), actor: operator('test') }, 'eng.campus.test');
});
afterAll(async () => {
  await redisForB?.restore().catch(() => undefined);
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

  // Last: it cuts process B off Redis for a while.
  it('says a process that lost Redis is not ready and warns once; a device there fills a hole at the next push; once Redis is back, its sockets catch up and its cached memberships are read again', async () => {
    // ioredis prints every failed try to stderr unless someone listens to its errors.
    const stderr = vi.spyOn(console, 'error');
    const alice = await connectAs(gateway, a, 'alice');
    const dave = await connectAs(gateway, b, 'dave');
    const got: Message[] = [];
    dave.on('message', (m) => got.push(m));
    const conversation = await alice.openDirect('dave@eng.campus.test');
    const carol = await connectAs(gateway, b, 'carol');
    const lab = await alice.createGroup('Lab', ['dave@eng.campus.test']);
    // B knows the lab's members now, as a send through it read them.
    await dave.send({ conversationId: lab.id, text: 'in the lab' });
    await expect.poll(() => dave.cursors.has(lab.id)).toBe(true);
    const states: string[] = [];
    dave.on('state', (state) => states.push(state));
    const bus = (checks: Record<string, unknown>) => checks.bus;

    await redisForB.cut();
    await expect.poll(async () => (await readiness(b)).status).toBe(503);
    expect((await readiness(b)).body).toEqual({
      status: 'not_ready',
      checks: { database: true, domain: true, gateway: true, bus: false },
      reason: `Redis (redis://127.0.0.1:${redisForB.port}) does not answer: this process cannot reach the domain's other processes until it does`,
    });
    const readyA = await readiness(a);
    expect([readyA.status, bus(readyA.body.checks as Record<string, unknown>)]).toEqual([200, true]);

    // A push B never heard of leaves a hole, which the next entry pushed through B shows: Dave's device
    // there catches up on it at once, without reconnecting, and its cursor does not skip it.
    const unheard = await alice.send({ conversationId: lab.id, text: 'through A, unheard on B' });
    const daveToo = await connectAs(gateway, b, 'dave', dave.login);
    const heard = await daveToo.send({ conversationId: lab.id, text: 'through B' });
    await expect.poll(() => got.slice(-2).map((m) => m.id)).toEqual([heard.messageId, unheard.messageId]);
    expect([dave.cursors.get(lab.id), states]).toEqual([heard.seq, []]);
    daveToo.close();

    // Acknowledged, as it is stored; B cannot hear of it. Carol leaves B, and someone else still connects to it.
    const ack = await alice.send({ conversationId: conversation.id, text: 'while B cannot hear' });
    await alice.removeMember(lab.id, 'dave@eng.campus.test');
    carol.close();
    const admin = await connectAs(gateway, b, 'eng-admin');
    // B tries Redis again every few tens of milliseconds: each try fails, and none is another warning.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(got.map((m) => m.id)).not.toContain(ack.messageId);

    await redisForB.restore();
    await expect.poll(() => got.map((m) => m.id), { timeout: 10_000 }).toContain(ack.messageId);
    expect((await readiness(b)).status).toBe(200);
    // B did not hear that Dave left the lab; it forgot what it knew of memberships once Redis was back.
    await expect(dave.send({ conversationId: lab.id, text: 'still here?' })).rejects.toMatchObject({
      code: 'not_member',
    });
    // What B was told while away reaches the other processes once it is back.
    await expect.poll(async () => (await alice.presence(['carol@eng.campus.test']))[0]!.status).toBe('offline');
    const said = bLogs.filter((l) => l.msg.startsWith('Redis'));
    expect(said.map((l) => [l.level, l.msg, l.redis])).toEqual([
      [
        40,
        "Redis does not answer: this process hears nothing of the domain's other processes until it does",
        `redis://127.0.0.1:${redisForB.port}`,
      ],
      [30, 'Redis answers again', `redis://127.0.0.1:${redisForB.port}`],
    ]);
    expect(stderr.mock.calls.filter((call) => String(call[0]).includes('ioredis'))).toEqual([]);
    stderr.mockRestore();
    alice.close();
    dave.close();
    admin.close();
  });
});
