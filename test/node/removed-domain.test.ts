import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { TestGateway } from '../helpers/gateway.ts';
import { connectAs, fetchMe, login, startEngAndArts, type EngAndArts, type TestNode } from '../helpers/node.ts';
import { signedNodePost } from '../helpers/federation.ts';
import { frameId, openRaw, openSignedIn } from '../helpers/raw-socket.ts';
import { operator } from '../../gateway/context.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { removeDomain } from '../../gateway/domains/remove-domain.ts';
import { pinDomainKeys, unpinDomain } from '../../gateway/federation/pin-domain.ts';
import { allowPair } from '../../gateway/federation/policy.ts';
import { pageNodeUrls, portalProfile, titledDomains } from '../../gateway/portal/profile.ts';
import { ANSWER_HEADERS } from '../../protocol/signature.ts';
import type { AtriumClient, Message } from '../../sdk/client.ts';

/*
 * An administrator removes a domain (a college's chat node) at the gateway. The gateway issues nothing for
 * it from then on; the other nodes stop trusting it once they read the registry again; and the removed node,
 * which checks the tokens it was given itself, learns it at its next signed request to the gateway and stops
 * serving, instead of taking the tokens it had until they expire.
 */
const ENG = 'eng.campus.test';
const ARTS = 'arts.campus.test';
/** How long eng keeps what waits for a domain removed at the gateway (FEDERATION_REMOVED_GRACE_SECONDS). */
const GRACE_MS = 60_000;
/** How often the outboxes look for what is due (FEDERATION_OUTBOX_POLL_MS), rather than every second. */
const OUTBOX_POLL_MS = 100;
/** How long the nodes keep their copy of the gateway's registry (REGISTRY_TTL_SECONDS). */
const REGISTRY_TTL_MS = 1_000;
let stack: EngAndArts;
let gateway: TestGateway;
let eng: TestNode;
let arts: TestNode;
const ops = () => ({ ...gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  // Registries read again after a second, and arts asks the gateway five times a second, rather than every 30
  // and 15 s; outboxes look for what is due ten times a second.
  const common = {
    REGISTRY_TTL_SECONDS: String(REGISTRY_TTL_MS / 1000),
    FEDERATION_OUTBOX_POLL_MS: String(OUTBOX_POLL_MS),
  };
  stack = await startEngAndArts('removed-domain', {
    people: ['mia'],
    engEnv: { ...common, FEDERATION_REMOVED_GRACE_SECONDS: String(GRACE_MS / 1000) },
    artsEnv: { ...common, ENDED_ACCESS_POLL_SECONDS: '0.2' },
  });
  ({ gateway, eng, arts } = stack);
  await allowPair(ops(), { a: ENG, b: ARTS });
});
afterAll(async () => {
  for (const client of clients.splice(0)) client.close();
  await stack?.stop();
});

/** A typing notice from arts straight at eng, signed with arts's own key: what eng answers. */
async function typingFromArts(): Promise<{ status: number; code?: string }> {
  const payload = { conversationId: 'none-such', address: `mia@${ARTS}` };
  const response = await (await signedNodePost(arts, eng, '/federation/v1/typing', payload)).send();
  const answer = (await response.json().catch(() => ({}))) as { error?: { code: string } };
  return { status: response.status, code: answer.error?.code };
}

/** A hello from `from` straight at `to`, signed with `from`'s own key: what `to` answers, and whether it signed that. */
async function helloFrom(from: TestNode, to: TestNode): Promise<{ status: number; code?: string; signed: boolean }> {
  const response = await (await signedNodePost(from, to, '/federation/v1/hello', {})).send();
  const answer = (await response.json().catch(() => ({}))) as { error?: { code: string } };
  return { status: response.status, code: answer.error?.code, signed: response.headers.has(ANSWER_HEADERS.signature) };
}

/** SDK clients the tests opened, closed after them. */
const clients: AtriumClient[] = [];

/** A person's SDK client on a node, with the messages and delivery failures pushed to it. */
async function device(node: TestNode, username: string) {
  const sdk = await connectAs(gateway, node, username);
  clients.push(sdk);
  const messages: Message[] = [];
  const failed: { messageId: string; domain: string; reason: string }[] = [];
  sdk.on('message', (m) => messages.push(m));
  sdk.on('deliveryFailed', (f) => failed.push(f));
  return Object.assign(sdk, { messages, failed });
}

async function readiness(node: TestNode): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.localUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Events waiting in a node's outbox for a destination, and its outbox's row for it. */
const waiting = (node: TestNode, destination: string) =>
  node.federationModels.OutboxEntry.count({ where: { destination } });
const outboxPeer = (node: TestNode, destination: string) => node.federationModels.OutboxPeer.findByPk(destination);

/** As if the destination had been away a while: the node's next attempt towards it is an hour off. */
async function holdOutbox(node: TestNode, destination: string): Promise<void> {
  await node.federationModels.OutboxPeer.upsert({
    destination,
    txnId: null,
    txnLastId: null,
    nextAttemptAt: new Date(node.clock.now() + 3_600_000),
    lastError: null,
    leaseOwner: null,
    leaseUntil: null,
  });
}
const releaseOutbox = (node: TestNode, destination: string) =>
  node.federationModels.OutboxPeer.update({ nextAttemptAt: null }, { where: { destination } });

/** Removes arts at the gateway, and waits until eng's registry no longer has it. */
async function removeArts(): Promise<void> {
  await removeDomain(ops(), ARTS, { movePeople: true });
  // Eng's copy of the registry comes of age (by its clock) rather than after a second: read again at its next use.
  eng.clock.advance(REGISTRY_TTL_MS);
  await expect.poll(async () => (await typingFromArts()).code, { timeout: 5_000 }).toBe('unknown_key');
}

/**
 * Adds arts again as it was (its units, its pinned keys, its pair with eng, which its removal took), and
 * waits until eng trusts it again and arts knows it is back (it asks the gateway five times a second).
 */
async function addArtsBack(): Promise<void> {
  await addDomain(ops(), { name: ARTS, url: arts.url, units: ['campus/arts'] });
  await pinDomainKeys(ops(), ARTS);
  await allowPair(ops(), { a: ENG, b: ARTS });
  eng.clock.advance(REGISTRY_TTL_MS);
  await expect
    .poll(async () => (await typingFromArts()).code ?? 'taken', { timeout: 10_000 })
    .not.toMatch(/^(unsigned|bad_signature|unknown_key|unknown_origin)$/);
  await expect.poll(async () => (await readiness(arts)).status, { timeout: 5_000 }).toBe(200);
}

describe('a domain removed at the gateway', () => {
  it('gets no token from then on, and its node ends its sockets and refuses the tokens it had', async () => {
    const who = await login(gateway, 'mia');
    const token = await who.tokenFor(arts.url);
    const socket = await openSignedIn(arts.url, token);
    expect((await fetchMe(arts, token)).status).toBe(200);
    // A webhook into a group on arts, which posts as usual until the removal.
    const onArts = await connectAs(gateway, arts, 'mia', who);
    clients.push(onArts);
    const { url: hook } = await onArts.createWebhook((await onArts.createGroup('Kiln log')).id, 'Kiln monitor');
    const post = () => fetch(hook, { method: 'POST', body: JSON.stringify({ text: 'Kiln at 1200 °C' }) });
    expect((await post()).status).toBe(201);
    expect((await readiness(arts)).status).toBe(200);
    // Eng trusts arts once its registry holds arts's pinned keys (read again every second here; a loaded
    // machine may start arts after eng's first read).
    await expect
      .poll(async () => (await typingFromArts()).code ?? 'taken', { timeout: 10_000 })
      .not.toMatch(/^(unsigned|bad_signature|unknown_key|unknown_origin)$/);

    await removeDomain(ops(), ARTS, { movePeople: true });

    // The gateway issues nothing for it from the very next request; the person's other domains go on.
    await expect(who.tokenFor(arts.url)).rejects.toMatchObject({ error: 'invalid_target' });
    expect((await fetchMe(eng, await who.tokenFor(eng.url))).status).toBe(200);

    // The node learns it at its next request to the gateway, and serves no one: the socket is told why.
    const ended = await socket.next((f) => f.type === 'session.ended', 10_000);
    expect(ended).toMatchObject({ reason: 'domain_removed' });
    // Closed as for someone moved off the domain (their other domains go on), which every client knows.
    expect(await socket.closed).toEqual({ code: 4403, reason: 'left_domain' });
    const refused = await fetchMe(arts, token);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'forbidden',
      message: `${ARTS} was removed from the campus: this node serves no one any more`,
    });
    const late = await openRaw(arts.url);
    const id = frameId();
    late.send({ v: 1, id, type: 'auth', token });
    expect(await late.next((f) => f.re === id)).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await late.closed).toEqual({ code: 4403, reason: 'forbidden' });
    // Webhooks are refused too (nothing they post could reach anyone), and /readyz says why the node is out.
    const hookRefused = await post();
    expect(hookRefused.status).toBe(403);
    expect(await hookRefused.json()).toEqual({
      error: { code: 'forbidden', message: `${ARTS} was removed from the campus: this node serves no one any more` },
    });
    expect(await readiness(arts)).toEqual({
      status: 503,
      body: {
        status: 'not_ready',
        checks: { database: true, domain: false, gateway: true },
        reason: `${ARTS} was removed from the campus at the gateway: this node serves no one until it is added again`,
      },
    });

    // Another node stops trusting it once it reads the registry again (REGISTRY_TTL_SECONDS, 1 s here), and
    // sends it nothing.
    await expect.poll(async () => (await typingFromArts()).code, { timeout: 5_000 }).toBe('unknown_key');
    const onEng = await openSignedIn(eng.url, await who.tokenFor(eng.url));
    const send = frameId();
    onEng.send({
      v: 1,
      id: send,
      type: 'send',
      clientMsgId: 'to-removed-0001',
      to: `mia@${ARTS}`,
      text: 'still there?',
    });
    expect(await onEng.next((f) => f.re === send)).toMatchObject({
      type: 'error',
      code: 'federation_denied',
      message: `Nothing was sent: ${ARTS} is not a domain of this campus (removed at the gateway, or never added)`,
    });
    onEng.socket.close();
  });

  it("tells the people it served that their college's chat was removed, and names it to the others", async () => {
    // Arts is removed (the test before). Bob chatted on arts alone; Mia chats on eng too.
    const userId = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!.id;
    const bob = await portalProfile(gateway.context(null), await userId('bob'));
    expect(bob.domains).toEqual([]);
    expect(bob.chatRemoved).toEqual({ domain: ARTS, title: 'College of Arts' });
    const mia = await portalProfile(gateway.context(null), await userId('mia'));
    expect(mia.domains.map((d) => d.name)).toEqual([ENG]);
    expect(mia.chatRemoved).toBeNull();
    // Others' pages name it as it was called, marked removed; a name never registered is left out.
    expect(await titledDomains(gateway.context(null), [ARTS, ENG, 'nowhere.campus.test'])).toEqual([
      { name: ENG, title: expect.any(String) },
      { name: ARTS, title: 'College of Arts', removed: true },
    ]);
    // A page open meanwhile may connect to it again once it is added back.
    expect(await pageNodeUrls(gateway.context(null))).toContain(arts.url);
  });

  it('serves again once it is added back and its keys are pinned', async () => {
    await addArtsBack();
    const bobsId = (await gateway.models.User.findOne({ where: { username: 'bob' } }))!.id;
    const bob = await portalProfile(gateway.context(null), bobsId);
    expect(bob).toMatchObject({ domains: [expect.objectContaining({ name: ARTS })], chatRemoved: null });
    expect(await titledDomains(gateway.context(null), [ARTS])).toEqual([{ name: ARTS, title: 'College of Arts' }]);
    const who = await login(gateway, 'mia');
    const token = await who.tokenFor(arts.url);
    await expect.poll(async () => (await fetchMe(arts, token)).status, { timeout: 5_000 }).toBe(200);
    const socket = await openSignedIn(arts.url, token);
    socket.socket.close();
    expect((await readiness(arts)).status).toBe(200);
  });

  it('holds what its own outbox keeps for other domains, sending nothing, until it is added back', async () => {
    const bob = await device(arts, 'bob');
    // bob@arts sorts before dave@eng, so arts is their conversation's home and sends eng its entries.
    await holdOutbox(arts, ENG);
    const held = await bob.send({ to: `dave@${ENG}`, text: 'The studio opens at nine' });
    const queued = await waiting(arts, ENG);
    expect(queued).toBeGreaterThan(0);
    const bobsToken = await (await login(gateway, 'bob')).tokenFor(arts.url);

    await removeArts();
    // Arts knows it is removed (not only that Bob left it, which the gateway tells it at once).
    const refusal = async () =>
      ((await (await fetchMe(arts, bobsToken)).json()) as { error?: { message: string } }).error;
    await expect.poll(refusal, { timeout: 5_000 }).toMatchObject({ message: expect.stringMatching(/was removed/) });
    // Eng refuses arts now: arts's outbox sends nothing while it knows it is removed, and drops nothing (for
    // five of its looks, when one would have sent it).
    await releaseOutbox(arts, ENG);
    expect(arts.config.federationOutboxPollMs).toBe(OUTBOX_POLL_MS);
    await new Promise((resolve) => setTimeout(resolve, 5 * OUTBOX_POLL_MS));
    expect(await waiting(arts, ENG)).toBe(queued);
    expect(await outboxPeer(arts, ENG)).toMatchObject({ attempts: 0, lastError: null });

    await addArtsBack();
    await expect.poll(() => waiting(arts, ENG), { timeout: 10_000 }).toBe(0);
    const dave = await device(eng, 'dave');
    const { messages } = await dave.history(held.conversationId);
    expect(messages.find((m) => m.id === held.messageId)).toMatchObject({ text: 'The studio opens at nine' });
  });

  it('takes nothing from peers that still list it, which keep what they send and deliver it once it is added back', async () => {
    const alice = await device(eng, 'alice');
    // alice@eng sorts before mia@arts: eng is their conversation's home and sends arts its entries.
    const first = await alice.send({ to: `mia@${ARTS}`, text: 'Rehearsal at six' });
    await expect.poll(() => waiting(eng, ARTS), { timeout: 5_000 }).toBe(0);
    const taken = await arts.federationModels.InboxEntry.count({ where: { origin: ENG } });

    // Eng's copy of the registry outlasts arts's removal, as a peer's may for up to its REGISTRY_TTL_SECONDS:
    // a node whose keys are not pinned at the gateway cannot read the registry again and keeps its last copy.
    // Arts's copy is kept so too (it still knows eng's key), and arts learns of its removal all the same.
    await unpinDomain(ops(), ARTS);
    await unpinDomain(ops(), ENG);
    await removeDomain(ops(), ARTS, { movePeople: true });
    await expect
      .poll(async () => (await readiness(arts)).body.checks, { timeout: 5_000 })
      .toMatchObject({ domain: false });

    // A peer's request is refused before its body is read, unsigned: not received, for its sender.
    expect(await helloFrom(eng, arts)).toEqual({ status: 503, code: 'unavailable', signed: false });
    const kept = await alice.send({ conversationId: first.conversationId, text: 'Bring the score' });
    const queued = await waiting(eng, ARTS);
    await expect
      .poll(async () => (await outboxPeer(eng, ARTS))?.lastError ?? '', { timeout: 5_000 })
      .toBe(`peer_answer_unsigned: ${ARTS} unreachable (unsigned answer: 503 unavailable)`);
    expect(await waiting(eng, ARTS)).toBe(queued);
    expect(await arts.federationModels.InboxEntry.count({ where: { origin: ENG } })).toBe(taken);
    // Nor does arts call other domains meanwhile: what would need them is refused, saying why.
    await expect(arts.federation.home.fetchAttachment(ENG, randomUUID(), `bob@${ARTS}`)).rejects.toMatchObject({
      code: 'forbidden',
      message: expect.stringMatching(/was removed/),
    });

    await pinDomainKeys(ops(), ENG);
    await addArtsBack();
    // Arts serves again at its next question to the gateway, and says hello: eng sends what it kept.
    await expect.poll(async () => (await readiness(arts)).status, { timeout: 5_000 }).toBe(200);
    const mia = await device(arts, 'mia');
    await expect
      .poll(async () => (await mia.history(first.conversationId).catch(() => ({ messages: [] }))).messages, {
        timeout: 10_000,
      })
      .toContainEqual(expect.objectContaining({ id: kept.messageId, text: 'Bring the score' }));
    await expect.poll(() => waiting(eng, ARTS)).toBe(0);
  });

  it('keeps what another domain queued for it through a grace period, then tells the authors it was not delivered', async () => {
    const alice = await device(eng, 'alice');
    // Arts is removed while eng still holds a message for it, and added back within the grace period:
    // nothing is set aside, and the message arrives. (alice@eng sorts before mia@arts: eng is their
    // conversation's home and sends arts its entries.)
    await holdOutbox(eng, ARTS);
    const kept = await alice.send({ to: `mia@${ARTS}`, text: 'See you at the concert' });
    const queued = await waiting(eng, ARTS);
    await removeArts();
    await releaseOutbox(eng, ARTS);
    await expect.poll(async () => (await outboxPeer(eng, ARTS))?.unregisteredSince, { timeout: 5_000 }).toBeTruthy();
    const attempts = (await outboxPeer(eng, ARTS))!.attempts;
    eng.clock.advance(GRACE_MS - 15_000);
    await expect
      .poll(async () => (await outboxPeer(eng, ARTS))!.attempts, { timeout: 5_000 })
      .toBeGreaterThan(attempts);
    expect(await waiting(eng, ARTS)).toBe(queued);
    await addArtsBack();
    const mia = await device(arts, 'mia');
    await expect
      .poll(async () => (await mia.history(kept.conversationId).catch(() => ({ messages: [] }))).messages, {
        timeout: 10_000,
      })
      .toContainEqual(expect.objectContaining({ id: kept.messageId, text: 'See you at the concert' }));
    expect(await outboxPeer(eng, ARTS)).toMatchObject({ unregisteredSince: null });

    // Removed again, for good this time.
    await holdOutbox(eng, ARTS);
    const lost = await alice.send({ conversationId: kept.conversationId, text: 'Are you still there?' });
    await removeArts();
    await releaseOutbox(eng, ARTS);
    await expect.poll(async () => (await outboxPeer(eng, ARTS))?.unregisteredSince, { timeout: 5_000 }).toBeTruthy();
    // Past the grace period, but the gateway cannot be asked (eng's key is not pinned there for a moment):
    // a copy of the registry read before says nothing, so nothing is set aside.
    await unpinDomain(ops(), ENG);
    const before = (await outboxPeer(eng, ARTS))!.attempts;
    eng.clock.advance(GRACE_MS + 1_000);
    await expect.poll(async () => (await outboxPeer(eng, ARTS))!.attempts, { timeout: 5_000 }).toBeGreaterThan(before);
    expect(await waiting(eng, ARTS)).toBe(1);
    expect(alice.failed).toEqual([]);

    // The gateway answers again, still without arts: the message is set aside and its author told.
    await pinDomainKeys(ops(), ENG);
    eng.clock.advance(GRACE_MS);
    await expect
      .poll(() => alice.failed, { timeout: 10_000 })
      .toEqual([
        expect.objectContaining({
          messageId: lost.messageId,
          domain: ARTS,
          reason: expect.stringMatching(/^unknown_destination: /),
        }),
      ]);
    await expect.poll(() => waiting(eng, ARTS)).toBe(0);
    // Stored in the conversation, for the devices that were away.
    const { messages } = await alice.history(kept.conversationId);
    expect(messages.find((m) => m.kind === 'delivery.failed')).toMatchObject({
      domain: ARTS,
      messageIds: [lost.messageId],
      reason: 'unknown_destination',
    });
    eng.clock.reset();
  });
});
