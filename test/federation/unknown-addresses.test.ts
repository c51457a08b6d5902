import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, signedNodePost, startCampus, type Campus } from '../helpers/federation.ts';
import { openRaw } from '../helpers/raw-socket.ts';
import { createLogger } from '../../core/logger.ts';
import { createAppDirectory } from '../../node/bots/app-directory.ts';
import { directIdentity } from '../../node/conversations/open-direct.ts';
import { BOT_LOOKUPS_PER_CHECK, PEER_ADDRESS_BURST } from '../../node/federation/address-book.ts';
import type { DomainNode } from '../../node/main.ts';
import { operator } from '../../gateway/context.ts';
import { registerApp } from '../../gateway/apps-registry/register-app.ts';
import { callbackSecretSealer } from '../../gateway/apps-registry/secrets.ts';
import { pinDomainKeys, unpinDomain } from '../../gateway/federation/pin-domain.ts';
import { register } from '../apps/helpers.ts';

/** What node `to` answers a server-to-server POST straight from node `from`, signed with its own key. */
async function signedPost(from: DomainNode, to: DomainNode, path: string, payload: unknown) {
  const response = await (await signedNodePost(from, to, path, payload)).send();
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const DAVE = 'dave@eng.campus.test';
const BOB = 'bob@arts.campus.test';
const NOBODY_ENG = 'nobody@eng.campus.test';
const NOBODY_ARTS = 'nobody@arts.campus.test';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
type Device = Awaited<ReturnType<typeof as>>;
let alice: Device;

const conversations = () => campus.nodes.eng.models.Conversation.count();

/** How many apps the gateway is asked about (each a signed request of a node) while `run` runs. */
async function appLookupsDuring(run: () => Promise<unknown>): Promise<number> {
  let lookups = 0;
  const count = (req: IncomingMessage) => {
    if (req.url?.startsWith('/federation/v1/apps/')) lookups += 1;
  };
  campus.gateway.server.on('request', count);
  try {
    await run();
  } finally {
    campus.gateway.server.off('request', count);
  }
  return lookups;
}

beforeAll(async () => {
  campus = await startCampus('fed-unknown');
  as = campusPeople(campus);
  alice = await as('alice', 'eng');
});
afterAll(async () => {
  alice?.close();
  await campus?.stop();
});

describe('addresses nobody has', () => {
  it('refuses a message to an unknown person of this domain, naming the address, and opens no conversation', async () => {
    const before = await conversations();
    await expect(alice.send({ to: NOBODY_ENG, text: 'hello?' })).rejects.toMatchObject({
      code: 'unknown_address',
      fields: { to: expect.stringContaining(NOBODY_ENG) },
    });
    await expect(alice.openDirect(NOBODY_ENG)).rejects.toMatchObject({
      code: 'unknown_address',
      fields: { peer: expect.stringContaining(NOBODY_ENG) },
    });
    expect(await conversations()).toBe(before);
    expect((await alice.conversations()).flatMap((c) => c.members.map((m) => m.address))).not.toContain(NOBODY_ENG);

    // The same over a bare socket: an error, never an ack.
    const raw = await openRaw(campus.nodes.eng.localUrl, [
      'atrium.v1',
      `atrium.token.${await alice.login.tokenFor(campus.nodes.eng.url)}`,
    ]);
    await raw.next((f) => f.type === 'ready');
    raw.send({ v: 1, id: 's1', type: 'send', clientMsgId: 'to-nobody-0001', to: NOBODY_ENG, text: 'hello?' });
    expect(await raw.next((f) => f.re === 's1')).toMatchObject({ type: 'error', code: 'unknown_address' });
    raw.socket.close();

    // Someone who exists is written to as before.
    expect((await alice.send({ to: DAVE, text: 'hello Dave' })).seq).toBe(1);
  });

  it("asks the other domain's node about its addresses, and refuses the ones it does not know", async () => {
    const before = await conversations();
    await expect(alice.send({ to: NOBODY_ARTS, text: 'hello?' })).rejects.toMatchObject({
      code: 'unknown_address',
      fields: { to: expect.stringContaining(NOBODY_ARTS) },
    });
    expect(await conversations()).toBe(before);
    expect(await campus.nodes.arts.models.Conversation.count()).toBe(0);
    const ack = await alice.send({ to: BOB, text: 'hello Bob' });
    expect(ack.seq).toBe(1);
  });

  it('refuses a group or an invite naming unknown people of any domain, creating and changing nothing', async () => {
    const before = await conversations();
    const refusal = alice.createGroup('Ghost club', [DAVE, NOBODY_ENG, BOB, NOBODY_ARTS]);
    await expect(refusal).rejects.toMatchObject({ code: 'unknown_address' });
    const { message, fields } = (await refusal.catch((e: unknown) => e)) as {
      message: string;
      fields: { members: string };
    };
    for (const named of [message, fields.members]) {
      expect(named).toContain(NOBODY_ENG);
      expect(named).toContain(NOBODY_ARTS);
      expect(named).not.toContain(DAVE);
      expect(named).not.toContain(BOB);
    }
    expect(await conversations()).toBe(before);

    const group = await alice.createGroup('Real club', [DAVE, BOB]);
    await expect(alice.invite(group.id, ['ghost@arts.campus.test'])).rejects.toMatchObject({
      code: 'unknown_address',
      fields: { members: expect.stringContaining('ghost@arts.campus.test') },
    });
    const members = await campus.nodes.eng.models.Member.findAll({ where: { conversationId: group.id } });
    expect(members.map((m) => m.address).sort()).toEqual(['alice@eng.campus.test', BOB, DAVE]);
    expect((await alice.history(group.id)).messages.map((m) => m.event)).toEqual(['group.created']);
  });

  it('asks the gateway about at most 20 names that are not people at once, and about none that cannot be an app', async () => {
    const before = await conversations();
    const slugLike = Array.from({ length: 100 }, (_, i) => `made-up-${i}@eng.campus.test`);
    let refusal: unknown;
    const asked = await appLookupsDuring(async () => {
      refusal = await alice.createGroup('Crowd', slugLike).catch((e: unknown) => e);
    });
    expect(asked).toBe(BOT_LOOKUPS_PER_CHECK);
    expect(refusal).toMatchObject({
      code: 'unknown_address',
      fields: { members: expect.stringContaining('made-up-0@eng.campus.test') },
    });

    // Dots and underscores, webhook senders and Atrium's own name are never an app's: nobody is asked.
    const notApps = [
      ...Array.from({ length: 30 }, (_, i) => `no.such_${i}@eng.campus.test`),
      'hook-0123456789abcdef@eng.campus.test',
      'system@eng.campus.test',
    ];
    expect(
      await appLookupsDuring(async () => {
        refusal = await alice.createGroup('Crowd', notApps).catch((e: unknown) => e);
      }),
    ).toBe(0);
    expect(refusal).toMatchObject({ code: 'unknown_address' });
    for (const address of notApps) expect((refusal as { message: string }).message).toContain(address);
    expect(await conversations()).toBe(before);
  });

  it('refuses a group naming more apps than one check looks up, and takes it once those looked up are known', async () => {
    const ctx = { ...campus.gateway.context(null), actor: operator('test') };
    const slugs = Array.from({ length: BOT_LOOKUPS_PER_CHECK + 1 }, (_, i) => `desk-${i}`);
    for (const slug of slugs) {
      await registerApp(
        ctx,
        { name: `Desk ${slug}`, slug, redirectUris: ['http://localhost:9/cb'], botEnabled: true },
        callbackSecretSealer(campus.gateway.config.secretKey),
      );
    }
    const bots = slugs.map((slug) => `${slug}@eng.campus.test`);
    const before = await conversations();
    await expect(alice.createGroup('Service desks', bots)).rejects.toMatchObject({
      code: 'invalid_input',
      fields: { members: expect.stringContaining(`at most ${BOT_LOOKUPS_PER_CHECK}`) },
    });
    expect(await conversations()).toBe(before);
    // The twenty looked up are known for a minute: asked again, only the last is looked up.
    const group = await alice.createGroup('Service desks', bots);
    expect(group.memberCount).toBe(bots.length + 1);
  });

  it("keeps a bounded number of the gateway's answers about apps, the least recently used going first", async () => {
    const directory = createAppDirectory({
      gatewayIssuer: campus.gateway.issuer,
      origin: 'eng.campus.test',
      signingKey: campus.nodes.eng.federation.keys.signingKey,
      ttlMs: 60_000,
      logger: createLogger('app-answers', 'silent'),
      maxKept: 2,
    });
    const asked = await appLookupsDuring(async () => {
      for (const slug of ['kept-a', 'kept-b', 'kept-a', 'kept-c', 'kept-a', 'kept-b']) {
        expect(await directory.get(slug)).toBeNull();
      }
    });
    // a and b asked; a again from what is kept; c pushes b out (a was used since); a kept; b asked again.
    expect(asked).toBe(4);
    expect(await appLookupsDuring(async () => expect(await directory.get('not.a_slug')).toBeNull())).toBe(0);
  });

  it('answers another node which of its own addresses nobody has, and refuses a submission to one of them', async () => {
    const { eng, arts } = campus.nodes;
    expect(await signedPost(eng, arts, '/federation/v1/addresses', { addresses: [BOB, NOBODY_ARTS] })).toEqual({
      status: 200,
      body: { unknown: [NOBODY_ARTS] },
    });
    const foreign = await signedPost(eng, arts, '/federation/v1/addresses', { addresses: [DAVE] });
    expect(foreign).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });

    // A node that sends without asking first: the home refuses to open the conversation.
    const peer = 'aaron-nobody@eng.campus.test';
    const { id } = directIdentity(BOB, peer);
    const submitted = await signedPost(arts, eng, '/federation/v1/submit', {
      conversationId: id,
      sender: BOB,
      clientMsgId: 'unasked-0001',
      kind: 'text',
      body: JSON.stringify({ text: 'hi' }),
      peer,
    });
    expect(submitted).toMatchObject({ status: 422, body: { error: { code: 'unknown_address' } } });
    expect(await eng.models.Conversation.count({ where: { id } })).toBe(0);
  });

  it("opens nothing, and says to pin its keys, while the gateway does not know the node's key", async () => {
    const ctx = { ...campus.gateway.context(null), actor: operator('test') };
    await unpinDomain(ctx, 'eng.campus.test');
    try {
      const before = await conversations();
      await expect(alice.send({ to: 'eng-admin@eng.campus.test', text: 'hello Enzo' })).rejects.toMatchObject({
        code: 'directory_unavailable',
        message: expect.stringContaining('atrium domains pin eng.campus.test'),
      });
      expect(await conversations()).toBe(before);
    } finally {
      await pinDomainKeys(ctx, 'eng.campus.test');
    }
    expect((await alice.send({ to: 'eng-admin@eng.campus.test', text: 'hello Enzo' })).seq).toBe(1);
  });

  it('refuses with a retryable error, and opens nothing, while the other domain cannot confirm an address', async () => {
    await campus.stopNode('law');
    const before = await conversations();
    await expect(alice.send({ to: 'lena@law.campus.test', text: 'hello Lena' })).rejects.toMatchObject({
      code: 'federation_unavailable',
    });
    await expect(alice.createGroup('Moot court', ['lena@law.campus.test'])).rejects.toMatchObject({
      code: 'federation_unavailable',
    });
    expect(await conversations()).toBe(before);
    await campus.restartNode('law');
    await expect
      .poll(
        async () =>
          await alice.send({ to: 'lena@law.campus.test', text: 'hello Lena' }).catch((e: { code: string }) => e),
        { timeout: 15_000 },
      )
      .toMatchObject({ seq: 1 });
  });

  // Last: Arts answers Engineering's address checks no more for a few minutes.
  it("checks another node's addresses at a bounded pace, refusing more with rate_limited, which its people are told", async () => {
    const { eng, arts } = campus.nodes;
    const madeUp = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) => `${prefix}.${i}@arts.campus.test`);
    const answer = await signedPost(eng, arts, '/federation/v1/addresses', {
      addresses: madeUp('flood.a', PEER_ADDRESS_BURST),
    });
    expect(answer.status).toBe(200);
    expect(
      await signedPost(eng, arts, '/federation/v1/addresses', { addresses: madeUp('flood.c', 1_000) }),
    ).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    // A person of Engineering naming more of Arts's addresses than Arts checks now is told to try later.
    const before = await conversations();
    await expect(alice.createGroup('Flood', madeUp('flood.d', 1_000))).rejects.toMatchObject({
      code: 'federation_unavailable',
      message: expect.stringContaining('rate_limited'),
    });
    expect(await conversations()).toBe(before);
  });
});

describe("another domain's app's bot in a group", () => {
  // An Engineering app: the gateway tells the Arts node nothing of it, so only Engineering's node can say
  // that eng-desk@eng.campus.test is a bot, not a person.
  const DESK = 'eng-desk@eng.campus.test';

  it('is told apart by its own node when asked about its addresses', async () => {
    await register(campus.gateway, {
      name: 'Eng Desk',
      slug: 'eng-desk',
      ownerUnit: 'campus/eng',
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    const { eng, arts } = campus.nodes;
    expect(await signedPost(arts, eng, '/federation/v1/addresses', { addresses: [DAVE, DESK] })).toEqual({
      status: 200,
      body: { unknown: [], bots: [DESK] },
    });
  });

  it('cannot be made owner or admin by the group’s home, which asks its node; a person still can', async () => {
    const bob = await as('bob', 'arts');
    try {
      const group = await bob.createGroup('Arts and Eng desk', [DAVE, DESK]);
      const roles = async () =>
        Object.fromEntries((await bob.members(group.id)).members.map((m) => [m.address, m.role]));
      const before = await roles();
      for (const role of ['owner', 'admin'] as const) {
        await expect(bob.setRole(group.id, DESK, role)).rejects.toMatchObject({
          code: 'invalid_input',
          message: `${DESK} is an app's bot: a bot cannot be ${role === 'owner' ? 'the owner' : 'an admin'} of a group`,
          fields: { member: "an app's bot: it can only be a member" },
        });
      }
      expect(await roles()).toEqual(before);
      const events = (await bob.history(group.id)).messages.map((m) => (m as { event?: string }).event);
      expect(events).not.toContain('member.role');
      await bob.setRole(group.id, DAVE, 'admin');
      expect((await roles())[DAVE]).toBe('admin');
    } finally {
      bob.close();
    }
  });
});
