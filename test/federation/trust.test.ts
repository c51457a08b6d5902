import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { createSeenRequests } from '../../node/federation/seen-requests.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import { HEADERS, MAX_SKEW_MS, signRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';
import { pinnedKeysOf } from '../../gateway/federation/pin-domain.ts';
import type { DomainNode } from '../../node/main.ts';

let campus: Campus;
let conversationId: string;
let as: ReturnType<typeof campusPeople>;

/** A server-to-server POST straight at a node, signed as `origin` with `key` (or tampered after signing). */
async function post(
  to: DomainNode,
  path: string,
  payload: unknown,
  sign: { origin: string; key: PrivateKeyJwk; now?: number; tamper?: boolean },
) {
  const body = JSON.stringify(payload);
  const headers = signRequest(
    sign.key,
    { method: 'POST', path, origin: sign.origin, destination: to.domain, body },
    sign.now,
  );
  const sent = sign.tamper ? body.replace('"readSeq":1', '"readSeq":9') : body;
  const response = await fetch(`${to.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: sent,
  });
  return {
    status: response.status,
    body: (await response.json().catch(() => ({}))) as {
      error?: { code: string };
      duplicate?: boolean;
      applied?: number;
    },
  };
}

/** A server-to-server POST signed once as eng, sent as often as a test likes: the very same bytes each time. */
async function signedOnce(to: DomainNode, path: string, payload: unknown) {
  const body = JSON.stringify(payload);
  const signed = signRequest(await engKey(), {
    method: 'POST',
    path,
    origin: 'eng.campus.test',
    destination: to.domain,
    body,
  });
  const signature = signed[HEADERS.signature]!;
  const send = async (asWritten = signature) => {
    const response = await fetch(`${to.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signed, [HEADERS.signature]: asWritten },
      body,
    });
    return { status: response.status, body: (await response.json().catch(() => ({}))) as { error?: { code: string } } };
  };
  return { send, signature };
}

const replayed = { status: 401, body: { error: expect.objectContaining({ code: 'replayed_request' }) } };

const engKey = () => campus.nodes.eng.federation.keys.documentSigner();
const receiptFromEng = () => ({
  events: [{ type: 'receipt', conversationId, address: 'alice@eng.campus.test', readSeq: 1, deliveredSeq: 1 }],
});

beforeAll(async () => {
  campus = await startCampus('fed-trust');
  as = campusPeople(campus);
  const alice = await as('alice', 'eng');
  const ack = await alice.send({ to: 'bob@arts.campus.test', text: 'a conversation to point at' });
  conversationId = ack.conversationId;
  for (
    let i = 0;
    i < 100 && (await campus.nodes.arts.models.Message.count({ where: { id: ack.messageId } })) === 0;
    i++
  )
    await new Promise((r) => setTimeout(r, 50));
  alice.close();
});
afterAll(async () => campus?.stop());

describe('what a node accepts from another', () => {
  it('applies a correctly signed transaction once, and a replay of it not again', async () => {
    const first = await post(campus.nodes.arts, '/federation/v1/transactions/replay-0001', receiptFromEng(), {
      origin: 'eng.campus.test',
      key: await engKey(),
    });
    expect(first).toEqual({ status: 200, body: { applied: 1 } });
    const replay = await post(campus.nodes.arts, '/federation/v1/transactions/replay-0001', receiptFromEng(), {
      origin: 'eng.campus.test',
      key: await engKey(),
    });
    expect(replay).toEqual({ status: 200, body: { duplicate: true } });
  });

  it('rejects a body altered after signing', async () => {
    const result = await post(campus.nodes.arts, '/federation/v1/transactions/forged-0001', receiptFromEng(), {
      origin: 'eng.campus.test',
      key: await engKey(),
      tamper: true,
    });
    expect(result.status).toBe(401);
    expect(result.body.error?.code).toBe('bad_signature');
  });

  it('rejects a key the gateway has not pinned', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' }) as { x: string; d: string };
    const stranger: PrivateKeyJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: 'k-stranger' };
    const result = await post(campus.nodes.arts, '/federation/v1/transactions/unknown-0001', receiptFromEng(), {
      origin: 'eng.campus.test',
      key: stranger,
    });
    expect(result.status).toBe(401);
    expect(result.body.error?.code).toBe('unknown_key');
  });

  it('rejects a stale timestamp', async () => {
    const result = await post(campus.nodes.arts, '/federation/v1/transactions/stale-0001', receiptFromEng(), {
      origin: 'eng.campus.test',
      key: await engKey(),
      now: Date.now() - 5 * 60_000,
    });
    expect(result.status).toBe(401);
    expect(result.body.error?.code).toBe('stale_request');
  });

  it('rejects events whose author is not of the origin domain', async () => {
    const spoofed = {
      events: [{ type: 'receipt', conversationId, address: 'bob@arts.campus.test', readSeq: 1, deliveredSeq: 1 }],
    };
    const receipt = await post(campus.nodes.arts, '/federation/v1/transactions/spoof-0001', spoofed, {
      origin: 'eng.campus.test',
      key: await engKey(),
    });
    expect(receipt.status).toBe(403);
    expect(receipt.body.error?.code).toBe('sender_not_of_origin');

    const submit = await post(
      campus.nodes.eng,
      '/federation/v1/submit',
      {
        conversationId,
        sender: 'bob@arts.campus.test',
        clientMsgId: 'spoofed-0001',
        kind: 'text',
        body: '{"text":"not really bob"}',
      },
      { origin: 'law.campus.test', key: await campus.nodes.law.federation.keys.documentSigner() },
    );
    expect(submit.status).toBe(403);
    expect(await campus.nodes.eng.models.Message.count({ where: { clientMsgId: 'spoofed-0001' } })).toBe(0);
  });

  it('accepts entries of a conversation only from its home domain', async () => {
    const entry = {
      type: 'entry',
      conversationId,
      message: {
        id: '22222222-2222-4222-8222-222222222222',
        seq: 100,
        sender: 'bob@arts.campus.test',
        clientMsgId: 'fake-entry-01',
        kind: 'text',
        body: '{"text":"injected"}',
        refId: null,
        createdAt: new Date().toISOString(),
        editedAt: null,
        recalledAt: null,
      },
    };
    // The conversation of alice@eng and bob@arts is ordered by eng; arts (a member domain, allowed to talk to
    // eng) may not push entries into it, even ones its own member wrote.
    const fromArts = await post(
      campus.nodes.eng,
      '/federation/v1/transactions/fake-entry-2',
      { events: [entry] },
      { origin: 'arts.campus.test', key: await campus.nodes.arts.federation.keys.documentSigner() },
    );
    expect(fromArts.status).toBe(403);
    expect(fromArts.body.error?.code).toBe('sender_not_of_origin');
    expect(await campus.nodes.eng.models.Message.count({ where: { id: entry.message.id } })).toBe(0);
  });
});

describe('a signed request sent again', () => {
  it('is refused where it would act a second time, and a retry its sender signed again is taken', async () => {
    const presence = { presence: [{ address: 'alice@eng.campus.test', status: 'online', lastSeen: null }] };
    const { send } = await signedOnce(campus.nodes.arts, '/federation/v1/presence/changed', presence);
    expect((await send()).status).toBe(202);
    expect(await send()).toEqual(replayed);
    // The same change, sent again as eng's node sends it (signed anew): taken.
    const retried = await signedOnce(campus.nodes.arts, '/federation/v1/presence/changed', presence);
    expect((await retried.send()).status).toBe(202);
  });

  it('is refused also when its signature is written another way that decodes to the same bytes', async () => {
    const { send, signature } = await signedOnce(campus.nodes.arts, '/federation/v1/presence/changed', {
      presence: [{ address: 'alice@eng.campus.test', status: 'away', lastSeen: null }],
    });
    expect((await send()).status).toBe(202);
    // 64 bytes take 86 base64url characters: the last one carries two bits, and four that decoders ignore.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = signature.slice(0, -1) + alphabet[alphabet.indexOf(signature.at(-1)!) ^ 1];
    expect(twin).not.toBe(signature);
    expect(await send(twin)).toEqual(replayed);
  });

  it('is answered as the duplicate it is when it is a transaction, which is taken once by its id', async () => {
    const { send } = await signedOnce(
      campus.nodes.arts,
      '/federation/v1/transactions/same-bytes-0001',
      receiptFromEng(),
    );
    expect(await send()).toEqual({ status: 200, body: { applied: 1 } });
    expect(await send()).toEqual({ status: 200, body: { duplicate: true } });
  });

  it('is answered again when it only asks', async () => {
    const { send } = await signedOnce(campus.nodes.arts, '/federation/v1/addresses', {
      addresses: ['bob@arts.campus.test'],
    });
    expect(await send()).toEqual({ status: 200, body: { unknown: [] } });
    expect(await send()).toEqual({ status: 200, body: { unknown: [] } });
  });
});

describe('the signed requests a node took', () => {
  let db: TestDatabase;
  let sequelize: Sequelize;
  beforeAll(async () => {
    db = await createTestDatabase('seen-requests');
    sequelize = await openDatabase({ url: db.url, sqliteFile: join(db.dataDir, 'seen.sqlite') });
    await migrate(sequelize, 'node');
  });
  afterAll(async () => {
    await sequelize?.close();
    await db?.drop();
  });

  it('are known to every process of the domain, and forgotten once their timestamps could no longer pass', async () => {
    let now = Date.now();
    const one = createSeenRequests({ sequelize, now: () => now });
    const another = createSeenRequests({ sequelize, now: () => now });
    const taken = 'a'.repeat(43);
    expect(await one.takeOnce(taken)).toBe(true);
    expect(await another.takeOnce(taken)).toBe(false);
    // A timestamp up to a window ahead passes until a window behind: two windows on, it is still known.
    now += 2 * MAX_SKEW_MS;
    expect(await one.takeOnce(taken)).toBe(false);
    now += MAX_SKEW_MS + 1;
    expect(await another.takeOnce('b'.repeat(43))).toBe(true);
    const [kept] = await sequelize.query('SELECT digest FROM seen_requests');
    expect(kept).toEqual([{ digest: 'b'.repeat(43) }]);
  });
});

describe('policy', () => {
  it('refuses a send to a college the policy keeps apart, with an error the sender sees, and stores nothing', async () => {
    const bob = await as('bob', 'arts');
    await expect(bob.send({ to: 'lena@law.campus.test', text: 'hello law?' })).rejects.toMatchObject({
      code: 'federation_denied',
    });
    expect(
      await campus.nodes.arts.models.Message.count({
        where: { sender: 'bob@arts.campus.test', body: '{"text":"hello law?"}' },
      }),
    ).toBe(0);
    bob.close();
  });

  it('has the proxy refuse traffic between domains the policy keeps apart', async () => {
    const body = JSON.stringify({ conversationId, address: 'bob@arts.campus.test' });
    const headers = signRequest(await campus.nodes.arts.federation.keys.documentSigner(), {
      method: 'POST',
      path: '/federation/v1/typing',
      origin: 'arts.campus.test',
      destination: 'law.campus.test',
      body,
    });
    const response = await fetch(`${campus.proxy.url}/federation/v1/typing`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('policy_denied');
  });
});

describe('key rotation on a node while messages flow', () => {
  it('keeps delivering through a rotation once the gateway follows the new key', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const received = new Set<string>();
    bob.on('message', (m) => received.add(m.id));
    const sent: string[] = [];
    const sending = (async () => {
      for (let i = 0; i < 30; i++) {
        sent.push((await alice.send({ conversationId, text: `rotation ${i}` })).messageId);
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const oldKid = (await engKey()).kid;
    const rotated = await campus.nodes.eng.federation.keys.rotate();
    // The node had the gateway pin its new key before signing with it.
    const domain = await campus.gateway.models.Domain.findOne({ where: { name: 'eng.campus.test' } });
    expect(pinnedKeysOf(domain!).map((k) => k.kid)).toEqual([rotated.kid, oldKid]);
    expect((await engKey()).kid).toBe(rotated.kid);
    await sending;
    await expect.poll(() => sent.every((id) => received.has(id)), { timeout: 30_000 }).toBe(true);
    alice.close();
    bob.close();
  });
});
