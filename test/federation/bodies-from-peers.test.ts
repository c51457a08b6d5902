import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWER_HEADERS, BODY_DIGEST_HEADER, signRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';
import { campusPeople, conversationSnapshot, startCampus, type Campus } from '../helpers/federation.ts';
import { answerToFirstPart } from '../helpers/hammer.ts';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;

/** How long the nodes here wait for a peer's body (FEDERATION_BODY_TIMEOUT_SECONDS): short, to be outlasted. */
const BODY_TIMEOUT_MS = 1_000;
const MiB = 1024 * 1024;

beforeAll(async () => {
  campus = await startCampus('fed-bodies', {
    nodeEnv: { FEDERATION_BODY_TIMEOUT_SECONDS: String(BODY_TIMEOUT_MS / 1000) },
  });
  as = campusPeople(campus);
});
afterAll(async () => {
  as?.close();
  await campus?.stop();
});

const stranger = (): PrivateKeyJwk => {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: 'k-stranger' };
};
const engKey = () => campus.nodes.eng.federation.keys.documentSigner();
const arts = () => campus.nodes.arts;

/** A transaction path with an id never used before. */
const newTransaction = () => `/federation/v1/transactions/t-${randomUUID()}`;

/** Headers of a request to arts signed by `key` as eng (over `body`, which need not be what is sent). */
function signedAsEng(key: PrivateKeyJwk, path: string, body: string, now = Date.now()): Record<string, string> {
  const request = { method: 'POST', path, origin: 'eng.campus.test', destination: 'arts.campus.test', body };
  return { 'content-type': 'application/json', ...signRequest(key, request, now) };
}

/** Whether arts took a transaction of that path (it notes each one it applies). */
async function taken(path: string): Promise<boolean> {
  const txnId = path.split('/').at(-1)!;
  return (await arts().federationModels.InboxEntry.count({ where: { txnId } })) > 0;
}

describe('a request a node can refuse by its headers alone', () => {
  const cases: [string, (path: string) => Promise<Record<string, string>>, number, number, string][] = [
    ['unsigned', async () => ({ 'content-type': 'application/json' }), 4 * MiB, 401, 'unsigned'],
    [
      'signed in a form that cannot verify',
      async (path) => ({ ...signedAsEng(await engKey(), path, '{}'), 'atrium-signature': 'kid=x,sig=short' }),
      4 * MiB,
      401,
      'bad_signature',
    ],
    [
      'signed too long ago',
      async (path) => signedAsEng(await engKey(), path, '{}', Date.now() - 5 * 60_000),
      4 * MiB,
      401,
      'stale_request',
    ],
    [
      'signed for a time to come',
      async (path) => signedAsEng(await engKey(), path, '{}', Date.now() + 5 * 60_000),
      4 * MiB,
      401,
      'stale_request',
    ],
    [
      "signed with a key the registry does not pin for the origin's",
      async (path) => signedAsEng(stranger(), path, '{}'),
      4 * MiB,
      401,
      'unknown_key',
    ],
    [
      'announcing more body than a node takes',
      async (path) => signedAsEng(await engKey(), path, '{}'),
      9 * MiB,
      413,
      'too_large',
    ],
  ];

  it.each(cases)(
    'is answered, %s, before its body has come, and the connection closed; nothing is taken',
    async (_, headers, length, status, code) => {
      const path = newTransaction();
      const early = await answerToFirstPart(`${arts().url}${path}`, await headers(path), length);
      expect(early, 'answered while most of the body was still to come').not.toBe('no answer');
      expect(early).toMatchObject({ status, code, connection: 'close', closed: true });
      expect(await taken(path)).toBe(false);
    },
  );

  it('is answered 413 once a body announced by no length (chunked) grows past the limit, and closed', async () => {
    const path = newTransaction();
    const early = await answerToFirstPart(`${arts().url}${path}`, signedAsEng(await engKey(), path, '{}'), undefined, {
      first: Buffer.alloc(8 * MiB + 64 * 1024, ' '),
    });
    expect(early, 'answered while the body was still open').not.toBe('no answer');
    expect(early).toMatchObject({ status: 413, code: 'too_large', connection: 'close', closed: true });
  });
});

describe('a peer that sends its headers and then trickles the body', () => {
  it('is cut off with 408 invalid_body after FEDERATION_BODY_TIMEOUT_SECONDS, the connection closed; nothing is taken', async () => {
    const path = newTransaction();
    const body = JSON.stringify({ events: [] }).padEnd(64 * 1024 + 1_000, ' ');
    // Correctly signed, over the whole body: only its slowness is wrong. A byte comes every 100 ms, so it is
    // the whole body's time that counts, not a pause between bytes.
    const early = await answerToFirstPart(
      `${arts().url}${path}`,
      signedAsEng(await engKey(), path, body),
      Buffer.byteLength(body),
      { first: Buffer.from(body.slice(0, 64 * 1024)), trickleMs: 100, timeoutMs: 5 * BODY_TIMEOUT_MS },
    );
    expect(early, 'cut off well before the 300 s of Node itself').not.toBe('no answer');
    expect(early).toMatchObject({ status: 408, code: 'invalid_body', connection: 'close', closed: true });
    expect(early !== 'no answer' && early.afterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
    expect(await taken(path)).toBe(false);
  });

  it("does not cut off a person's upload to the same node that takes longer", async () => {
    const alice = await as('alice', 'eng');
    const token = await alice.login.tokenFor(campus.nodes.eng.url);
    const upload = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${campus.nodes.eng.url}/api/v1/attachments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain', 'content-length': '4' },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.write('sl');
      setTimeout(() => req.end('ow'), BODY_TIMEOUT_MS + 500);
    });
    expect(upload.status, upload.text).toBe(201);
  });
});

describe('a correctly signed request', () => {
  /** A hello to arts signed by eng over `body`, sent in two parts `pauseMs` apart, announcing its length or not. */
  async function helloInParts(body: string, pauseMs: number, announced: boolean) {
    const path = '/federation/v1/hello';
    const headers = {
      ...signedAsEng(await engKey(), path, body),
      ...(announced ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
    };
    return new Promise<{ status: number; signed: boolean }>((resolve, reject) => {
      const req = httpRequest(`${arts().url}${path}`, { method: 'POST', headers });
      req.on('error', reject);
      req.on('response', (res) => {
        const signed = typeof res.headers[ANSWER_HEADERS.signature] === 'string';
        res.resume().on('end', () => resolve({ status: res.statusCode ?? 0, signed }));
      });
      const half = Math.floor(body.length / 2);
      req.write(body.slice(0, half));
      setTimeout(() => req.end(body.slice(half)), pauseMs);
    });
  }

  it('is taken and answered signed, its body sent in parts within the deadline, announced or chunked', async () => {
    const body = `{}${' '.repeat(2 * MiB)}`;
    expect(await helloInParts(body, BODY_TIMEOUT_MS / 3, true)).toEqual({ status: 202, signed: true });
    expect(await helloInParts(body, BODY_TIMEOUT_MS / 3, false)).toEqual({ status: 202, signed: true });
  });

  /** A transaction arts applies: a new group of alice's at eng with bob there. */
  const opening = () =>
    JSON.stringify({
      events: [
        conversationSnapshot(randomUUID(), 'group', 'eng.campus.test', [
          'alice@eng.campus.test',
          'bob@arts.campus.test',
        ]),
      ],
    });

  it('reaches the node through the proxy from a node of before atrium-body-digest, which states no digest', async () => {
    const path = newTransaction();
    const body = opening();
    const headers = signedAsEng(await engKey(), path, body);
    delete headers[BODY_DIGEST_HEADER];
    const sent = await fetch(`${campus.proxy.url}${path}`, { method: 'POST', headers, body });
    expect(sent.status, await sent.text()).toBe(200);
    expect(await taken(path)).toBe(true);
  });

  it('is refused by the proxy (400 body_digest_mismatch), never reaching the node, if its body is not the one it states', async () => {
    const path = newTransaction();
    const signed = opening();
    const headers = signedAsEng(await engKey(), path, signed);
    // The same transaction, but not the bytes signed: arts would apply it, were it forwarded.
    const body = ` ${signed}`;
    const sent = await fetch(`${campus.proxy.url}${path}`, { method: 'POST', headers, body });
    expect([sent.status, ((await sent.json()) as { error: { code: string } }).error.code]).toEqual([
      400,
      'body_digest_mismatch',
    ]);
    expect(await taken(path)).toBe(false);
  });

  it("carries a person's message to the other node, through the proxy", async () => {
    const alice = await as('alice', 'eng');
    const ack = await alice.send({ to: 'bob@arts.campus.test', text: 'still arrives' });
    await expect.poll(() => arts().models.Message.count({ where: { id: ack.messageId } }), { timeout: 15_000 }).toBe(1);
  });
});
