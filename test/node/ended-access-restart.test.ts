import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { login, startTestNodeOn } from '../helpers/node.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { openRaw } from '../helpers/raw-socket.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { signOutEverywhere } from '../../gateway/accounts/end-access.ts';
import { updateDomain } from '../../gateway/domains/domains.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { createEndedAccess } from '../../node/auth/ended-access.ts';
import { createLocalBus } from '../../node/bus/local-bus.ts';
import type { DomainNode } from '../../node/main.ts';

let gateway: TestGateway;
let db: TestDatabase;
let a: DomainNode;
let b: DomainNode;
let shared: Record<string, string>;
let port: number;
const ops = () => ({ ...gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  gateway = await startTestGateway('ended-restart');
  db = await createTestDatabase('eng-ended');
  port = await freePort();
  // Two processes of one domain behind one public URL (process A's), sharing the database and Redis.
  shared = {
    NODE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `test-${randomBytes(4).toString('hex')}`,
  };
  a = await startTestNodeOn(gateway, 'eng.campus.test', db, { ...shared, NODE_PORT: String(port) });
  b = await startTestNodeOn(gateway, 'eng.campus.test', db, shared);
  await updateDomain(ops(), 'eng.campus.test', { url: shared.NODE_PUBLIC_URL! });
  await pinDomainKeys(ops(), 'eng.campus.test');
  for (const username of ['ines', 'jack']) {
    await createUser(ops(), {
      username,
      displayName: username,
      email: `${username}@campus.test`,
      password: DEMO_PASSWORD,
      roles: ['student'],
      units: ['campus/eng/cs'],
    });
  }
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
  await gateway?.stop();
});

const me = (node: DomainNode, token: string) =>
  fetch(`${node.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
const codeOf = async (response: Response) => ((await response.json()) as { error?: { code: string } }).error?.code;

describe('ended access on a domain of several processes', () => {
  it('closes the sockets on the process the gateway did not tell, and that process refuses the tokens too', async () => {
    const ines = await login(gateway, 'ines');
    const token = await ines.tokenFor(a.url);
    const onB = await openRaw(b.localUrl, ['atrium.v1', `atrium.token.${token}`]);
    await onB.next((f) => f.type === 'ready');

    await signOutEverywhere(ops(), 'ines');
    expect(await onB.closed).toEqual({ code: 4409, reason: 'session_ended' });
    const refused = await me(b, token);
    expect(refused.status).toBe(401);
    expect(await codeOf(refused)).toBe('token_revoked');
  });

  it('a node that was down when the person was disabled refuses their tokens once it is back', async () => {
    const jack = await login(gateway, 'jack');
    const token = await jack.tokenFor(a.url);
    expect((await me(a, token)).status).toBe(200);

    await a.close();
    await b.close();
    await updateUser(ops(), 'jack', { status: 'disabled' });
    // The gateway's push finds nobody listening.
    await expect
      .poll(() => gateway.models.AuditEvent.count({ where: { action: 'logout.node', outcome: 'failure' } }), {
        timeout: 5_000,
      })
      .toBeGreaterThan(0);

    a = await startTestNodeOn(gateway, 'eng.campus.test', db, { ...shared, NODE_PORT: String(port) });
    b = await startTestNodeOn(gateway, 'eng.campus.test', db, shared);
    await updateDomain(ops(), 'eng.campus.test', { url: shared.NODE_PUBLIC_URL! });
    await expect.poll(async () => codeOf(await me(a, token)), { timeout: 5_000 }).toBe('token_revoked');
    expect(await codeOf(await me(b, token))).toBe('token_revoked');
  });
});

describe("the gateway's list of ended access", () => {
  it('answers only signed requests of pinned domain nodes', async () => {
    const unsigned = await fetch(`${gateway.issuer}/federation/v1/ended-access?after=0`);
    expect(unsigned.status).toBe(401);
    expect(await unsigned.text()).not.toContain('"entries"');
  });
});

describe("a node's list of ended access", () => {
  it('is kept in the database, so a process started later refuses without asking the gateway', async () => {
    const now = Date.now();
    const first = createEndedAccess({ sequelize: a.sequelize, bus: createLocalBus() });
    await first.record([
      { kind: 'sub', subject: 'person-1', endedAt: now, keepUntil: now + 60_000 },
      { kind: 'sid', subject: 'session-1', endedAt: now, keepUntil: now + 60_000 },
      { kind: 'sub', subject: 'person-2', endedAt: now - 120_000, keepUntil: now - 60_000 },
    ]);
    const later = createEndedAccess({ sequelize: a.sequelize, bus: createLocalBus() });
    await later.load();
    expect(later.endedFor({ sub: 'person-1', sid: 'other', clientId: 'portal', issuedAt: now - 1_000 })).toMatchObject({
      kind: 'sub',
    });
    expect(
      later.endedFor({ sub: 'someone', sid: 'session-1', clientId: 'portal', issuedAt: now - 1_000 }),
    ).toMatchObject({ kind: 'sid' });
    // Tokens issued after the end, and entries past the tokens' lifetime, are not refused.
    expect(later.endedFor({ sub: 'person-1', sid: null, clientId: 'portal', issuedAt: now + 1_000 })).toBeUndefined();
    expect(later.endedFor({ sub: 'person-2', sid: null, clientId: 'portal', issuedAt: now - 130_000 })).toBeUndefined();
  });
});
