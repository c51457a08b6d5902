import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operator } from '../../gateway/context.ts';
import { updateDomain } from '../../gateway/domains/domains.ts';
import { domainEntry } from '../../protocol/registry-client.ts';
import { ANSWER_HEADERS, requestDigest, signRequest, verifyAnswer } from '../../protocol/signature.ts';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import { HEADS } from '../helpers/typed-bytes.ts';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
type Device = Awaited<ReturnType<typeof as>>;

/**
 * What the relay below does with what passes: `pass` forwards both ways unchanged; `made-up` answers
 * submissions and transactions itself with an ack, forwarding nothing; `denied` answers them itself with a
 * policy refusal, unsigned (as proxies did before they signed theirs); `flipped` forwards them and turns
 * the destination's answer into a refusal, its signature kept; `swapped` forwards a file request and
 * swaps the file's bytes for as many others.
 */
type Mode = 'pass' | 'made-up' | 'denied' | 'flipped' | 'swapped';

/**
 * Someone on the way to a node (a partner's proxy, a compromised one), registered as the node's address
 * while a test runs: the campus proxy forwards to it, it to the node.
 */
let relay: Server;
let relayUrl: string;
let target = '';
let mode: Mode = 'pass';

const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'date']);

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const MADE_UP_REFUSAL = '{"error":{"code":"policy_denied","message":"made up on the way"}}';

function madeUpAnswer(path: string): string | undefined {
  if (path === '/federation/v1/submit')
    return JSON.stringify({ messageId: randomUUID(), seq: 99, at: new Date().toISOString(), duplicate: false });
  if (path.startsWith('/federation/v1/transactions/')) return JSON.stringify({ applied: 1 });
  return undefined;
}

async function relayed(req: IncomingMessage): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const path = req.url ?? '/';
  const body = await bodyOf(req);
  const madeUp = mode === 'made-up' ? madeUpAnswer(path) : undefined;
  if (madeUp !== undefined)
    return { status: 200, headers: new Headers({ 'content-type': 'application/json' }), body: Buffer.from(madeUp) };
  if (mode === 'denied' && madeUpAnswer(path) !== undefined)
    return {
      status: 403,
      headers: new Headers({ 'content-type': 'application/json' }),
      body: Buffer.from(MADE_UP_REFUSAL),
    };
  const headers = Object.entries(req.headers).filter(([name]) => !HOP_BY_HOP.has(name)) as [string, string][];
  const answer = await fetch(`${target}${path}`, {
    method: req.method,
    headers,
    ...(req.method === 'GET' ? {} : { body: new Uint8Array(body) }),
  });
  const answered = { status: answer.status, headers: answer.headers, body: Buffer.from(await answer.arrayBuffer()) };
  if (mode === 'flipped' && madeUpAnswer(path) !== undefined)
    return { ...answered, status: 400, body: Buffer.from('{"error":{"code":"invalid_request","message":"no"}}') };
  if (mode === 'swapped' && path.startsWith('/federation/v1/attachments/') && answered.status === 200)
    return { ...answered, body: randomBytes(answered.body.length) };
  return answered;
}

beforeAll(async () => {
  // A policy refusal is taken at once (no retries first), so that one made up on the way would show at once.
  campus = await startCampus('fed-signed-answers', { nodeEnv: { FEDERATION_POLICY_RETRIES: '0' } });
  as = campusPeople(campus);
  relay = createServer((req, res) => {
    relayed(req).then(
      ({ status, headers, body }) => {
        const kept = [...headers].filter(([name]) => !HOP_BY_HOP.has(name) && name !== 'content-encoding');
        res.writeHead(status, Object.fromEntries(kept)).end(body);
      },
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
});
afterAll(async () => {
  as?.close();
  relay?.closeAllConnections();
  relay?.close();
  await campus?.stop();
});

const ctx = () => ({ ...campus.gateway.context(null), actor: operator('test') });

/** Runs `test` with the relay registered as `node`'s address, which the nodes and the proxy read anew. */
async function relaying(node: 'eng' | 'arts', test: () => Promise<void>): Promise<void> {
  const { domain, url } = campus.nodes[node];
  target = url;
  mode = 'pass';
  await updateDomain(ctx(), domain, { url: relayUrl });
  campus.advanceClocks(5_000);
  try {
    await test();
  } finally {
    mode = 'pass';
    await updateDomain(ctx(), domain, { url });
    campus.advanceClocks(5_000);
  }
}

/** Eng's outbox towards arts: what waits, and why its last attempt failed. */
async function engOutboxToArts() {
  const { OutboxEntry, OutboxPeer } = campus.nodes.eng.federationModels;
  const peer = await OutboxPeer.findByPk('arts.campus.test');
  return {
    waiting: await OutboxEntry.count({ where: { destination: 'arts.campus.test' } }),
    lastError: peer?.lastError ?? null,
  };
}

/** Eng's next attempt towards arts goes at its next poll, rather than after its backoff. */
const retryNow = () =>
  campus.nodes.eng.federationModels.OutboxPeer.update(
    { nextAttemptAt: null },
    { where: { destination: 'arts.campus.test' } },
  );

const storedAtArts = (id: string) => campus.nodes.arts.models.Message.count({ where: { id } });

describe("a node's answer to another's signed request", () => {
  it("reaches the asking node through the proxy with its signature, which verifies as the destination's", async () => {
    const eng = campus.nodes.eng;
    const path = '/federation/v1/hello';
    const body = '{}';
    const request = { method: 'POST', path, origin: eng.domain, destination: 'arts.campus.test', body };
    const headers = signRequest(await eng.federation.keys.signingKey(), request);
    const answer = await fetch(`${campus.proxy.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    expect(answer.status).toBe(202);
    expect(answer.headers.get(ANSWER_HEADERS.signature)).toMatch(/^kid=.+,sig=.+$/);
    const registry = await eng.federation.policy.registry.get();
    const verified = verifyAnswer(
      {
        status: answer.status,
        headers: answer.headers,
        request: requestDigest({ ...request, timestamp: headers['atrium-timestamp']! }),
        destination: 'arts.campus.test',
      },
      (name) => domainEntry(registry, name)?.keys,
    );
    expect(verified.digest).toBe(answer.headers.get(ANSWER_HEADERS.digest));
  });
});

describe('an answer made up or changed on the way', () => {
  it("is no ack of a submission: the sender is told to try again, and the home's copy is the one that counts", async () => {
    const bob = await as('bob', 'arts');
    const alice = await as('alice', 'eng');
    // A group is ordered by its home, where it was made: alice's entries are submitted there.
    const conversation = await bob.createGroup('Studio critique', ['alice@eng.campus.test']);
    await expect
      .poll(() => campus.nodes.eng.models.Conversation.count({ where: { id: conversation.id } }), { timeout: 15_000 })
      .toBe(1);
    await relaying('arts', async () => {
      mode = 'made-up';
      await expect(alice.send({ conversationId: conversation.id, text: 'acked by nobody' })).rejects.toMatchObject({
        code: 'federation_unavailable',
      });
      const atArts = await campus.nodes.arts.models.Message.findAll({ where: { conversationId: conversation.id } });
      expect(atArts.filter((m) => m.body.includes('acked by nobody'))).toEqual([]);
      mode = 'pass';
      const ack = await alice.send({ conversationId: conversation.id, text: 'acked by arts' });
      expect(await storedAtArts(ack.messageId)).toBe(1);
    });
  });

  it('is no delivery of a transaction: the outbox keeps it and sends it again until arts itself takes it, once', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const first = await alice.send({ to: 'bob@arts.campus.test', text: 'before the relay' });
    await expect.poll(() => bob.messages.map((m) => m.text), { timeout: 15_000 }).toContain('before the relay');
    await relaying('arts', async () => {
      mode = 'made-up';
      const second = await alice.send({ conversationId: first.conversationId, text: 'through the relay' });
      await expect
        .poll(async () => (await engOutboxToArts()).lastError, { timeout: 15_000 })
        .toContain('peer_answer_unsigned');
      expect((await engOutboxToArts()).waiting).toBeGreaterThan(0);
      expect(await storedAtArts(second.messageId)).toBe(0);

      // Forwarded this time, and arts takes it, but its answer is turned into a refusal for good on the way.
      mode = 'flipped';
      await retryNow();
      await expect
        .poll(async () => (await engOutboxToArts()).lastError, { timeout: 15_000 })
        .toContain('peer_answer_forged');
      expect((await engOutboxToArts()).waiting).toBeGreaterThan(0);

      mode = 'pass';
      await retryNow();
      await expect.poll(async () => (await engOutboxToArts()).waiting, { timeout: 15_000 }).toBe(0);
      expect(await storedAtArts(second.messageId)).toBe(1);
      await expect.poll(() => bob.messages.map((m) => m.text)).toContain('through the relay');
      expect(bob.messages.filter((m) => m.text === 'through the relay')).toHaveLength(1);
    });
    const failed = await campus.nodes.eng.models.Message.count({
      where: { conversationId: first.conversationId, kind: 'delivery.failed' },
    });
    expect(failed, 'nobody was told it failed').toBe(0);
  });

  it('is no file: one whose bytes were swapped does not reach the person whole', async () => {
    const alice = await as('alice', 'eng');
    const bob: Device = await as('bob', 'arts');
    const bytes = new Uint8Array(randomBytes(40_000));
    bytes.set(HEADS['application/pdf']!);
    const file = await alice.upload(bytes, 'timetable.pdf', 'application/pdf');
    await alice.send({ to: 'bob@arts.campus.test', text: 'the timetable', attachments: [file.id] });
    await expect.poll(() => bob.messages.find((m) => m.text === 'the timetable')?.attachments).toEqual([file]);
    const download = async () => {
      const base = campus.nodes.arts.url;
      return fetch(`${base}/api/v1/attachments/${file.id}?from=eng.campus.test`, {
        headers: { authorization: `Bearer ${await bob.login.tokenFor(base)}` },
      });
    };
    await relaying('eng', async () => {
      const honest = await download();
      expect(new Uint8Array(await honest.arrayBuffer())).toEqual(bytes);
      mode = 'swapped';
      const swapped = await download();
      await expect(swapped.arrayBuffer()).rejects.toThrow();
    });
  });
});

describe('a policy refusal made up on the way', () => {
  it('sets nothing aside: the outbox sends the transaction again until arts itself takes it, and nobody is told it failed', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const first = await alice.send({ to: 'bob@arts.campus.test', text: 'before the refusal' });
    await expect.poll(() => bob.messages.map((m) => m.text), { timeout: 15_000 }).toContain('before the refusal');
    await relaying('arts', async () => {
      mode = 'denied';
      const second = await alice.send({ conversationId: first.conversationId, text: 'refused by nobody' });
      await expect
        .poll(async () => (await engOutboxToArts()).lastError, { timeout: 15_000 })
        .toContain('peer_answer_unsigned');
      expect((await engOutboxToArts()).waiting).toBeGreaterThan(0);

      mode = 'pass';
      await retryNow();
      await expect.poll(async () => (await engOutboxToArts()).waiting, { timeout: 15_000 }).toBe(0);
      expect(await storedAtArts(second.messageId)).toBe(1);
      await expect.poll(() => bob.messages.map((m) => m.text)).toContain('refused by nobody');
    });
    const { Message } = campus.nodes.eng.models;
    const where = { conversationId: first.conversationId };
    expect(await Message.count({ where: { ...where, kind: 'delivery.failed' } }), 'nobody was told it failed').toBe(0);
    const atArts = await campus.nodes.arts.models.Message.count({ where: { ...where, kind: 'withheld' } });
    expect(atArts, 'nothing was withheld from arts').toBe(0);
  });
});
