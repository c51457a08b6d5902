import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import { botToken, register } from '../apps/helpers.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import { operator } from '../../gateway/context.ts';
import { removeDomain } from '../../gateway/domains/remove-domain.ts';
import { allowPair, denyPair } from '../../gateway/federation/policy.ts';
import type { AtriumClient, Message } from '../../sdk/client.ts';

/*
 * A group ordered on eng has members from eng, arts and law. When law can no longer be reached — the
 * policy closes the pair eng↔law, or law is removed at the gateway — the group goes on: a message is stored
 * and reaches everyone who can be reached, and its author is told it did not reach law. Only what nothing
 * could carry is refused: a direct conversation with someone of law, and a group law orders.
 */
const ENG = 'eng.campus.test';
const ARTS = 'arts.campus.test';
const LAW = 'law.campus.test';
/** How long eng keeps what waits for a domain removed at the gateway (FEDERATION_REMOVED_GRACE_SECONDS). */
const GRACE_MS = 60_000;

let campus: Campus;
let people: ReturnType<typeof campusPeople>;
const ops = () => ({ ...campus.gateway.context(null), actor: operator('test') });

type Device = AtriumClient & { messages: Message[]; failed: { messageId: string; domain: string; reason: string }[] };
async function device(username: string, node: 'eng' | 'arts' | 'law'): Promise<Device> {
  const sdk = await people(username, node);
  const failed: Device['failed'] = [];
  sdk.on('deliveryFailed', (f) => failed.push(f));
  return Object.assign(sdk, { failed });
}

let alice: Device;
let bob: Device;
/** Ordered on eng: alice (owner), bob of arts, lena of law. */
let mixed: string;
/** Ordered on law: lena (owner) and alice. */
let onLaw: string;
/** Alice and Lena's own conversation (alice@eng sorts first: eng orders it). */
let direct: string;
let hook: string;
/** An app's bot on eng, a member of the mixed group. */
let clerk: AtriumBot;

const texts = (inbox: Message[]) => inbox.filter((m) => m.kind === 'text').map((m) => m.text);
const waiting = (destination: string) =>
  campus.nodes.eng.federationModels.OutboxEntry.count({ where: { destination } });
const postToHook = (text: string) => fetch(hook, { method: 'POST', body: JSON.stringify({ text }) });

beforeAll(async () => {
  // Refused by policy once, eng's outbox withholds at once rather than after seven tries.
  campus = await startCampus('unreachable-members', {
    nodeEnv: { FEDERATION_POLICY_RETRIES: '0', FEDERATION_REMOVED_GRACE_SECONDS: String(GRACE_MS / 1000) },
  });
  people = campusPeople(campus);
});
afterAll(async () => {
  people?.close();
  await campus?.stop();
});

it('while every pair is open, a group with members of three colleges reaches them all', async () => {
  await allowPair(ops(), { a: ARTS, b: LAW });
  campus.advanceClocks(6_000);
  alice = await device('alice', 'eng');
  bob = await device('bob', 'arts');
  const lena = await device('lena', 'law');
  mixed = (await alice.createGroup('Moot court', [`bob@${ARTS}`, `lena@${LAW}`])).id;
  onLaw = (await lena.createGroup('Law review', [`alice@${ENG}`])).id;
  direct = (await alice.send({ to: `lena@${LAW}`, text: 'Hello Lena' })).conversationId;
  hook = (await alice.createWebhook(mixed, 'Court calendar')).url;
  const app = await register(campus.gateway, {
    name: 'Court Clerk',
    slug: 'clerk',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  const token = await botToken(campus.gateway, app, campus.nodes.eng.url);
  clerk = new AtriumBot({ nodeUrl: campus.nodes.eng.url, token: () => token });
  await alice.invite(mixed, [`clerk@${ENG}`]);
  await alice.send({ conversationId: mixed, text: 'Welcome, all' });
  await expect.poll(() => texts(lena.messages), { timeout: 15_000 }).toContain('Welcome, all');
  await expect.poll(() => texts(bob.messages), { timeout: 15_000 }).toContain('Welcome, all');
  // Alice's node holds the group law orders before she writes in it.
  await expect
    .poll(async () => (await alice.conversations()).some((c) => c.id === onLaw), { timeout: 15_000 })
    .toBe(true);
});

describe('a group with a member whose domain this one may no longer exchange with', () => {
  it('goes on for the others, and its author is told it did not reach that domain', async () => {
    await denyPair(ops(), { a: ENG, b: LAW });
    campus.advanceClocks(6_000);

    const sent = await alice.send({ conversationId: mixed, text: 'Briefs due Friday' });
    await expect.poll(() => texts(bob.messages), { timeout: 15_000 }).toContain('Briefs due Friday');
    expect((await postToHook('Hearing moved to room 4')).status).toBe(201);
    await expect.poll(() => texts(bob.messages), { timeout: 15_000 }).toContain('Hearing moved to room 4');
    await clerk.sendText({ conversationId: mixed }, 'Exhibits filed');
    await expect.poll(() => texts(bob.messages), { timeout: 15_000 }).toContain('Exhibits filed');
    // The pair is closed: law is sent only placeholders, and Alice learns her message did not reach it.
    await expect
      .poll(() => alice.failed, { timeout: 15_000 })
      .toContainEqual(
        expect.objectContaining({ messageId: sent.messageId, domain: LAW, reason: expect.stringMatching(/policy/) }),
      );
  });

  it('refuses what only that domain could carry: a direct message, a message into a group it orders', async () => {
    const closed = `Nothing was sent: the federation policy does not let this domain exchange messages with ${LAW}`;
    await expect(alice.send({ conversationId: direct, text: 'Still there?' })).rejects.toMatchObject({
      code: 'federation_denied',
      message: closed,
    });
    await expect(alice.send({ conversationId: onLaw, text: 'My draft' })).rejects.toMatchObject({
      code: 'federation_denied',
      message: closed,
    });
  });
});

describe('a group with a member whose domain was removed at the gateway', () => {
  it('goes on for the others; what waits for that domain is set aside after the grace period, its author told', async () => {
    await allowPair(ops(), { a: ENG, b: LAW });
    campus.advanceClocks(6_000);
    await removeDomain(ops(), LAW, { movePeople: true });
    campus.advanceClocks(6_000);
    const before = alice.failed.length;

    const sent = await alice.send({ conversationId: mixed, text: 'Moot court is on' });
    await expect.poll(() => texts(bob.messages), { timeout: 15_000 }).toContain('Moot court is on');
    expect((await postToHook('Judges confirmed')).status).toBe(201);
    await expect.poll(() => texts(bob.messages), { timeout: 15_000 }).toContain('Judges confirmed');
    await clerk.sendText({ conversationId: mixed }, 'Transcripts ready');
    await expect.poll(() => texts(bob.messages), { timeout: 15_000 }).toContain('Transcripts ready');
    // Kept for law through the grace period (in case it is added back), then set aside, Alice told.
    const engPeer = () => campus.nodes.eng.federationModels.OutboxPeer.findByPk(LAW);
    await expect.poll(async () => (await engPeer())?.unregisteredSince, { timeout: 15_000 }).toBeTruthy();
    expect(await waiting(LAW)).toBeGreaterThan(0);
    campus.nodes.eng.clock.advance(GRACE_MS + 1_000);
    await expect
      .poll(() => alice.failed.slice(before), { timeout: 15_000 })
      .toContainEqual(
        expect.objectContaining({
          messageId: sent.messageId,
          domain: LAW,
          reason: expect.stringMatching(/^unknown_destination: /),
        }),
      );
    await expect.poll(() => waiting(LAW), { timeout: 15_000 }).toBe(0);
  });

  it('refuses a direct message to someone there, and a message into a group it ordered', async () => {
    const gone = `Nothing was sent: ${LAW} is not a domain of this campus (removed at the gateway, or never added)`;
    await expect(alice.send({ conversationId: direct, text: 'Still there?' })).rejects.toMatchObject({
      code: 'federation_denied',
      message: gone,
    });
    await expect(alice.send({ conversationId: onLaw, text: 'My draft' })).rejects.toMatchObject({
      code: 'federation_denied',
      message: gone,
    });
  });
});
