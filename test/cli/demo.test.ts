import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort, freePorts } from '../helpers/ports.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { inspectDatabase, jsonOf, runAtrium, startAtrium, type LongRunning } from '../helpers/cli.ts';
import { slapdInstalled } from '../../cli/private-slapd.ts';
import { setupNote } from '../../cli/demo.ts';

/** With slapd installed the demo also runs its library directory (test/directories/demo.test.ts), first up and last down. */
const withDirectory = <T>(items: T[]) => (slapdInstalled() ? items : []);

const REDIRECT = 'http://localhost:9/portal-cb';

/** This machine's first IPv4 address that is not loopback: where another machine on the network reaches it. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && !a.internal && a.family === 'IPv4')?.address;

let db: TestDatabase;
let ports: { gateway: number; proxy: number; eng: number; arts: number; leave: number };
let env: Record<string, string>;
let portal: { clientId: string; clientSecret: string };
const running: LongRunning[] = [];

const issuer = () => `http://localhost:${ports.gateway}`;
const engUrl = () => `http://localhost:${ports.eng}`;
const artsUrl = () => `http://localhost:${ports.arts}`;

/** Rows of a demo node's SQLite file (the demo keeps its nodes in its data directory, whatever the gateway uses). */
async function nodeRows(domain: string, sql: string): Promise<Record<string, unknown>[]> {
  const sequelize = await openDatabase({ url: undefined, sqliteFile: join(db.dataDir, `node-${domain}.sqlite`) });
  try {
    return (await sequelize.query(sql, { type: 'SELECT' })) as Record<string, unknown>[];
  } finally {
    await sequelize.close();
  }
}
const messagesOf = (domain: string) =>
  nodeRows(domain, 'SELECT sender, kind, body FROM messages ORDER BY conversation_id, seq');

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** An access token for a demo user on one node: the gateway's real login form (a first-party portal), then a refresh for the node. */
async function tokenFor(username: string, nodeUrl: string): Promise<string> {
  const config = await discover(issuer(), portal.clientId, portal.clientSecret);
  const { tokens } = await codeFlow(config, REDIRECT, username, {
    scope: 'openid profile atrium im offline_access',
    resource: nodeUrl,
  });
  return (await client.refreshTokenGrant(config, tokens.refresh_token!, { resource: nodeUrl })).access_token;
}

async function api<T = Record<string, any>>(nodeUrl: string, token: string, path: string): Promise<T> {
  const response = await fetch(`${nodeUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status, `${path}: ${response.status === 200 ? '' : await response.clone().text()}`).toBe(200);
  return (await response.json()) as T;
}

beforeAll(async () => {
  db = await createTestDatabase('cli-demo');
  // All different: ports taken one after another may repeat, and the demo would find one in use.
  const [gateway, proxy, eng, arts, leave] = (await freePorts(5)) as [number, number, number, number, number];
  ports = { gateway, proxy, eng, arts, leave };
  env = {
    // No GATEWAY_HOST, as `npm start` runs it: the demo keeps itself on this machine.
    GATEWAY_PORT: String(ports.gateway),
    DEMO_PROXY_PORT: String(ports.proxy),
    DEMO_ENG_PORT: String(ports.eng),
    DEMO_ARTS_PORT: String(ports.arts),
    DEMO_LEAVE_PORT: String(ports.leave),
  };
  // A portal app registered before the first demo start, as an operator would, to sign people in with.
  expect((await runAtrium(db, ['migrate'])).code).toBe(0);
  portal = jsonOf(
    await runAtrium(db, ['apps', 'add', '--name', 'Portal', '--redirect-uri', REDIRECT, '--first-party', '--json']),
  );
});
// A failed test must not leave its demo holding the ports for the next one.
afterEach(async () => {
  for (const child of running.splice(0)) await child.stop('SIGKILL');
});
afterAll(async () => db?.drop());

describe('atrium demo', () => {
  it('refuses a gateway port chosen at start, since the nodes are configured with the gateway URL', async () => {
    const result = await runAtrium(db, ['demo'], { env: { ...env, GATEWAY_PORT: '0' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the demo needs a fixed GATEWAY_PORT');
  });

  it('starts the gateway, the proxy and both nodes, linked and seeded; alice and bob read the seeded conversations over the HTTP API', {
    timeout: 90_000,
  }, async () => {
    const demo = startAtrium(db, ['demo'], env);
    running.push(demo);
    await demo.printed('Press Ctrl+C to stop.', 60_000);
    const banner = demo.output();
    expect(banner).toMatch(
      /\(First start: applied \d+ migration\(s\), seeded the demo campus, seeded its conversations\.\)/,
    );
    // Nothing to warn about on a first start: the nodes' keys are pinned before they first ask the gateway.
    expect(banner.split('\n').filter((line) => /"level":(40|50|60)/.test(line))).toEqual([]);
    expect(banner).toContain(`  web portal (chat and apps)  ${issuer()}\n`);
    expect(banner).toContain(`  admin console               ${issuer()}/admin\n`);
    expect(banner).toContain(`  federation proxy            http://localhost:${ports.proxy}\n`);
    expect(banner).toContain(`  chat eng.campus.test        ws://localhost:${ports.eng}/ws\n`);
    expect(banner).toContain(`  chat arts.campus.test       ws://localhost:${ports.arts}/ws\n`);
    expect(banner).toContain(`  leave approval app          http://localhost:${ports.leave}\n`);
    expect(banner).toMatch(/carol\s+atrium-demo\s+staff, Music \(arts\) and Electrical Engineering \(eng\)/);
    expect(banner).toContain('the group "Campus Orchestra" on arts.campus.test');
    for (const url of [issuer(), `http://localhost:${ports.proxy}`, engUrl(), artsUrl()]) {
      expect((await fetch(`${url}/healthz`)).status, url).toBe(200);
    }
    // The proxy is registered at the gateway, so it can read the registry.
    expect((await fetch(`http://localhost:${ports.proxy}/readyz`)).status).toBe(200);

    const alice = await tokenFor('alice', engUrl());
    const { conversations } = await api<{
      conversations: {
        id: string;
        kind: string;
        title: string | null;
        homeDomain: string;
        members: { address: string; role: string }[];
      }[];
    }>(engUrl(), alice, '/conversations');
    const byPeer = (peer: string) =>
      conversations.find((c) => c.kind === 'direct' && c.members.some((m) => m.address === peer))!;
    expect(conversations).toHaveLength(3);
    const orchestra = conversations.find((c) => c.kind === 'group')!;
    expect(orchestra).toMatchObject({ title: 'Campus Orchestra', homeDomain: 'arts.campus.test' });
    expect(orchestra.members.map((m) => [m.address, m.role]).sort()).toEqual([
      ['alice@eng.campus.test', 'member'],
      ['bob@arts.campus.test', 'member'],
      ['carol@arts.campus.test', 'owner'],
      ['dave@eng.campus.test', 'member'],
    ]);
    const texts = async (token: string, nodeUrl: string, id: string) =>
      (
        await api<{ messages: { seq: number; sender: string; kind: string }[] }>(
          nodeUrl,
          token,
          `/conversations/${id}/messages`,
        )
      ).messages
        .filter((m) => m.kind === 'text')
        .sort((a, b) => a.seq - b.seq)
        .map((m) => m.sender.split('@')[0]);
    expect(await texts(alice, engUrl(), byPeer('dave@eng.campus.test').id)).toEqual(['alice', 'dave', 'alice']);
    // Whoever wrote has read what came before: Alice has nothing unread where she wrote last.
    const unread = async () =>
      (await api<{ conversations: { id: string; unread: number }[] }>(engUrl(), alice, '/conversations')).conversations;
    const seen = await eventually(unread, (list) => list.find((c) => c.id === orchestra.id)?.unread === 1);
    expect(seen.find((c) => c.id === byPeer('dave@eng.campus.test').id)?.unread).toBe(0);
    expect(seen.find((c) => c.id === byPeer('bob@arts.campus.test').id)?.unread).toBe(1);
    const withBob = byPeer('bob@arts.campus.test');
    expect(await texts(alice, engUrl(), withBob.id)).toEqual(['alice', 'bob', 'alice', 'bob']);
    // The group is ordered on arts; Engineering's copy arrives through the proxy.
    expect(
      await eventually(
        () => texts(alice, engUrl(), orchestra.id),
        (t) => t.length === 4,
      ),
    ).toEqual(['carol', 'bob', 'alice', 'dave']);

    // Bob, on his own node, has the conversation with Alice (through federation) and the group, not Alice's talk with Dave.
    const bob = await tokenFor('bob', artsUrl());
    const bobs = (await api<{ conversations: { id: string }[] }>(artsUrl(), bob, '/conversations')).conversations;
    expect(bobs.map((c) => c.id).sort()).toEqual([withBob.id, orchestra.id].sort());
    expect(
      await eventually(
        () => texts(bob, artsUrl(), withBob.id),
        (t) => t.length === 4,
      ),
    ).toEqual(['alice', 'bob', 'alice', 'bob']);

    expect(await demo.stop('SIGINT')).toBe(0);
    const stopped = demo
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"stopped"'))
      .map((line) => JSON.parse(line).unit);
    expect(stopped).toEqual([
      'leave-approval',
      'node arts.campus.test',
      'node eng.campus.test',
      'proxy',
      'gateway',
      // Without slapd the directory unit runs nothing, and stops all the same.
      'directory',
    ]);
  });

  it('keeps its messages at home: the arts node holds only conversations with Arts people', async () => {
    const [eng, arts] = await Promise.all([messagesOf('eng.campus.test'), messagesOf('arts.campus.test')]);
    expect(eng).toHaveLength(3 + 4 + 5);
    expect(arts).toHaveLength(4 + 5);
    expect(arts.some((m) => String(m.body).includes('robotics lab'))).toBe(false);
  });

  it('starts again on the same data without seeding twice or changing the pins, and follows a moved node port', {
    timeout: 90_000,
  }, async () => {
    const inspect = await inspectDatabase(db);
    const pins = async () =>
      (await inspect.ctx.models.Domain.findAll({ order: [['name', 'ASC']] })).map((d) => [d.name, d.url, d.pinnedKeys]);
    const audits = () =>
      inspect.ctx.models.AuditEvent.count({
        where: { action: ['domain.pin', 'federation.allow', 'federation.proxy'] },
      });
    const before = { pins: await pins(), audits: await audits() };
    expect(before.audits).toBe(4);
    const counts = async () => [
      (await messagesOf('eng.campus.test')).length,
      (await messagesOf('arts.campus.test')).length,
    ];
    const messages = await counts();

    const again = startAtrium(db, ['demo', '--json'], { ...env, LOG_LEVEL: 'silent' });
    running.push(again);
    await again.printed('\n}\n', 60_000);
    const shown = JSON.parse(again.output());
    expect(shown).toMatchObject({ applied: [], seeded: false, conversationsSeeded: false, moved: [] });
    expect(Object.keys(shown.endpoints)).toEqual([
      ...withDirectory(['demo directory (OpenLDAP)']),
      'web portal (chat and apps)',
      'admin console',
      'discovery',
      'federation proxy',
      'chat eng.campus.test',
      'chat arts.campus.test',
      'leave approval app',
    ]);
    expect(await again.stop('SIGTERM')).toBe(0);

    expect({ pins: await pins(), audits: await audits() }).toEqual(before);
    expect(await counts()).toEqual(messages);

    // Started on another port, the eng node's registered URL follows (tokens name it); its pinned keys stay.
    const moved = await freePort();
    const third = startAtrium(db, ['demo', '--json'], { ...env, DEMO_ENG_PORT: String(moved), LOG_LEVEL: 'silent' });
    running.push(third);
    await third.printed('\n}\n', 60_000);
    expect(JSON.parse(third.output())).toMatchObject({ moved: ['eng.campus.test'], conversationsSeeded: false });
    expect((await fetch(`http://localhost:${moved}/healthz`)).status).toBe(200);
    expect(await third.stop('SIGTERM')).toBe(0);
    const after = await pins();
    expect(after.map(([name, url, keys]) => [name, url === before.pins.find((p) => p[0] === name)![1], keys])).toEqual(
      before.pins.map(([name, , keys]) => [name, name !== 'eng.campus.test', keys]),
    );
    expect(after.find(([name]) => name === 'eng.campus.test')![1]).toBe(`http://localhost:${moved}`);
    await inspect.close();
  });

  it('keeps every unit, and the demo logins with their printed password, on this machine unless GATEWAY_HOST says otherwise, and then warns', {
    timeout: 150_000,
  }, async () => {
    const units = [
      ['gateway', ports.gateway, '/healthz'],
      ['proxy', ports.proxy, '/healthz'],
      ['eng', ports.eng, '/healthz'],
      ['arts', ports.arts, '/healthz'],
      ['leave approval', ports.leave, '/'],
    ] as const;
    const answering = async (host: string) => {
      const answered = await Promise.all(
        units.map(([, port, path]) =>
          fetch(`http://${host}:${port}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(5_000) }).then(
            () => true,
            () => false,
          ),
        ),
      );
      return units.filter((_, i) => answered[i]).map(([unit]) => unit);
    };
    const everyUnit = units.map(([unit]) => unit);
    const warning = 'anyone\nthere can sign in as any demo account, admin included, with the password atrium-demo';

    const local = startAtrium(db, ['demo'], { ...env, LOG_LEVEL: 'silent' });
    running.push(local);
    await local.printed('Press Ctrl+C to stop.', 60_000);
    expect(local.output()).not.toContain('WARNING');
    expect(await answering('127.0.0.1')).toEqual(everyUnit);
    if (external) expect(await answering(external)).toEqual([]);
    expect(await local.stop('SIGTERM')).toBe(0);

    const open = startAtrium(db, ['demo'], { ...env, GATEWAY_HOST: '0.0.0.0', LOG_LEVEL: 'silent' });
    running.push(open);
    await open.printed('Press Ctrl+C to stop.', 60_000);
    expect(open.output()).toContain('WARNING: every unit listens on 0.0.0.0 (GATEWAY_HOST)');
    expect(open.output()).toContain(warning);
    // What the warning says is so: the same units now answer at this machine's network address.
    if (external) expect(await answering(external)).toEqual(everyUnit);
    expect(await open.stop('SIGTERM')).toBe(0);
  });

  it('stops gracefully when SIGTERM arrives while it is still starting', { timeout: 90_000 }, async () => {
    const starting = startAtrium(db, ['demo'], env);
    running.push(starting);
    // The first log line comes from the gateway unit; the nodes and the banner are still to come.
    await starting.printed('"msg":', 60_000);
    expect(starting.output()).not.toContain('Atrium demo campus');
    expect(await starting.stop('SIGTERM')).toBe(0);
    expect(starting.output()).toContain('"msg":"shutting down"');
    expect(starting.output()).toContain('"msg":"stopped"');
  });
});

describe("the demo's banner", () => {
  it('calls a start that migrates data already there an update, not a first start', () => {
    expect(setupNote({ applied: ['gateway/0024-search-text.ts'], seeded: false, conversationsSeeded: false })).toBe(
      "(Updated the demo's data: applied 1 migration(s).)",
    );
    expect(
      setupNote({ applied: ['gateway/0001-accounts-and-units.ts'], seeded: true, conversationsSeeded: true }),
    ).toBe('(First start: applied 1 migration(s), seeded the demo campus, seeded its conversations.)');
    expect(setupNote({ applied: [], seeded: false, conversationsSeeded: false })).toBeNull();
  });
});
