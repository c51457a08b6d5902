import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtriumBot } from '../../sdk/bot.ts';
import type { Message } from '../../sdk/client.ts';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import { botToken, nodeApi, register } from './helpers.ts';

const ALICE = 'alice@eng.campus.test';
const BOB = 'bob@arts.campus.test';
const NOTICES = 'notices@eng.campus.test';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;
let token: string;
let bot: AtriumBot;
let engUrl: string;

type Device = Awaited<ReturnType<ReturnType<typeof campusPeople>>>;
let alice: Device;
let bob: Device;

beforeAll(async () => {
  // A recall window that a test passes by moving one node's clock less than federation's allowed skew.
  campus = await startCampus('bot-edit-recall', { nodeEnv: { RECALL_WINDOW_SECONDS: '30' } });
  people = campusPeople(campus);
  const app = await register(campus.gateway, {
    name: 'Course Notices',
    slug: 'notices',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  engUrl = campus.nodes.eng.url;
  token = await botToken(campus.gateway, app, engUrl);
  bot = new AtriumBot({ nodeUrl: engUrl, token: () => token });
  [alice, bob] = await Promise.all([people('alice', 'eng'), people('bob', 'arts')]);
});
afterAll(async () => {
  people?.close();
  await campus?.stop();
});

/** A group hosted on eng with Alice, Bob of arts and the bot, whose creation has reached Bob's node. */
async function groupWithBot(title: string) {
  const group = await alice.createGroup(title, [BOB]);
  await alice.invite(group.id, [NOTICES]);
  const hello = await bot.sendText({ conversationId: group.id }, `Welcome to ${title}`);
  await expect.poll(() => bob.messages.some((m) => m.id === hello.messageId), { timeout: 15_000 }).toBe(true);
  return group.id;
}

const seen = (device: Device, test: (m: Message) => boolean) => () => device.messages.find(test);
const shown = async (device: Device, conversationId: string, id: string) =>
  (await device.history(conversationId)).messages.find((m) => m.id === id);
const patch = (id: string, body: unknown) =>
  nodeApi(engUrl, `/api/v1/bot/messages/${id}`, token, { method: 'PATCH', body });
const del = (id: string, body?: unknown) =>
  nodeApi(engUrl, `/api/v1/bot/messages/${id}`, token, { method: 'DELETE', body });
const entries = (conversationId: string) => campus.nodes.eng.models.Message.count({ where: { conversationId } });

describe("a bot's edit of its own text", () => {
  it("reaches every member as a person's edit does, here and on another college's node, and search follows", async () => {
    const id = await groupWithBot('Thermodynamics');
    const posted = await bot.sendText({ conversationId: id }, 'The exam is in room 204');
    expect((await alice.search('room 204', { conversationId: id })).map((m) => m.id)).toEqual([posted.messageId]);

    const edit = await patch(posted.messageId, { text: 'The exam is in hall B' });
    expect(edit).toMatchObject({ status: 201, body: { conversationId: id, duplicate: false } });
    for (const device of [alice, bob]) {
      await expect
        .poll(
          seen(device, (m) => m.id === edit.body.messageId),
          { timeout: 15_000 },
        )
        .toMatchObject({ kind: 'edit', refId: posted.messageId, sender: NOTICES, text: 'The exam is in hall B' });
      expect(await shown(device, id, posted.messageId)).toMatchObject({
        text: 'The exam is in hall B',
        senderName: 'Course Notices',
        senderKind: 'bot',
        editedAt: expect.any(String),
        recalledAt: null,
      });
    }
    expect(await alice.search('room 204', { conversationId: id })).toEqual([]);
    expect((await alice.search('hall B', { conversationId: id })).map((m) => m.id)).toEqual([posted.messageId]);
  });

  it('is safe to send again: the same clientMsgId, or the text it already shows, answers the first edit', async () => {
    const id = await groupWithBot('Optics');
    const posted = await bot.sendText({ conversationId: id }, 'Lab at 9');
    const first = await bot.editText(posted.messageId, 'Lab at 10', 'lab-time-edit-1');
    expect(first.duplicate).toBe(false);
    const before = await entries(id);

    expect(await patch(posted.messageId, { text: 'Lab at 10', clientMsgId: 'lab-time-edit-1' })).toMatchObject({
      status: 200,
      body: { messageId: first.messageId, seq: first.seq, duplicate: true },
    });
    expect(await bot.editText(posted.messageId, 'Lab at 10')).toMatchObject({
      messageId: first.messageId,
      duplicate: true,
    });
    expect(await entries(id)).toBe(before);

    // Back to the earlier text is a change, not a retry.
    const back = await bot.editText(posted.messageId, 'Lab at 9');
    expect(back).toMatchObject({ duplicate: false, seq: first.seq + 1 });
    await expect.poll(seen(alice, (m) => m.id === back.messageId)).toMatchObject({ kind: 'edit', text: 'Lab at 9' });
    // As for people, a clientMsgId names one edit: sent again it answers that edit, and for another message
    // it is refused.
    expect(await patch(posted.messageId, { text: 'Lab at 11', clientMsgId: 'lab-time-edit-1' })).toMatchObject({
      status: 200,
      body: { messageId: first.messageId, duplicate: true },
    });
    const other = await bot.sendText({ conversationId: id }, 'Bring goggles');
    expect(await patch(other.messageId, { text: 'Bring gloves', clientMsgId: 'lab-time-edit-1' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: { clientMsgId: 'already used' } } },
    });
  });
});

describe("a bot's recall of its own message", () => {
  it("takes a text back for every member, here and on another college's node, with its edits and from search", async () => {
    const id = await groupWithBot('Mechanics');
    const posted = await bot.sendText({ conversationId: id }, 'Quiz answers: 42');
    await bot.editText(posted.messageId, 'Quiz answers: 43');
    await expect
      .poll(
        seen(bob, (m) => m.kind === 'edit' && m.refId === posted.messageId),
        { timeout: 15_000 },
      )
      .toBeTruthy();

    const recall = await del(posted.messageId);
    expect(recall).toMatchObject({ status: 200, body: { conversationId: id, duplicate: false } });
    for (const device of [alice, bob]) {
      await expect
        .poll(
          seen(device, (m) => m.id === recall.body.messageId),
          { timeout: 15_000 },
        )
        .toMatchObject({ kind: 'recall', refId: posted.messageId, sender: NOTICES });
      const history = (await device.history(id)).messages;
      expect(history.find((m) => m.id === posted.messageId)).toMatchObject({ recalledAt: expect.any(String) });
      expect(JSON.stringify(history)).not.toContain('Quiz answers');
    }
    expect(await alice.search('Quiz answers', { conversationId: id })).toEqual([]);
    for (const node of [campus.nodes.eng, campus.nodes.arts]) {
      const stored = await node.models.Message.findAll({ where: { conversationId: id } });
      expect(JSON.stringify(stored.map((m) => m.body))).not.toContain('Quiz answers');
    }

    // Sent again, it answers the same recall; nothing more is written.
    const before = await entries(id);
    expect(await del(posted.messageId)).toEqual({ status: 200, body: { ...recall.body, duplicate: true } });
    expect(await bot.recall(posted.messageId)).toMatchObject({ messageId: recall.body.messageId, duplicate: true });
    expect(await entries(id)).toBe(before);
  });

  it('takes back a card and its updates, everywhere, and the card can no longer be updated', async () => {
    const id = await groupWithBot('Seminar');
    const card = await bot.sendCard({ conversationId: id }, { title: 'Seminar on Friday', fields: [], actions: [] });
    const update = await bot.updateCard(card.messageId, { title: 'Seminar on Saturday, room 12', fields: [] });
    await expect
      .poll(
        seen(bob, (m) => m.id === update.messageId),
        { timeout: 15_000 },
      )
      .toMatchObject({ kind: 'card.update', card: { title: 'Seminar on Saturday, room 12' } });

    const recall = await bot.recall(card.messageId);
    for (const device of [alice, bob]) {
      await expect
        .poll(
          seen(device, (m) => m.id === recall.messageId),
          { timeout: 15_000 },
        )
        .toMatchObject({ kind: 'recall', refId: card.messageId });
      const history = (await device.history(id)).messages;
      expect(history.find((m) => m.id === card.messageId)).toMatchObject({ recalledAt: expect.any(String) });
      expect(JSON.stringify(history)).not.toContain('Seminar on');
    }
    for (const node of [campus.nodes.eng, campus.nodes.arts]) {
      const stored = await node.models.Message.findAll({ where: { conversationId: id } });
      expect(JSON.stringify(stored.map((m) => m.body))).not.toContain('Seminar on');
    }
    expect(await patch(card.messageId, { card: { title: 'Seminar back on' } })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: { messageId: 'recalled' } } },
    });
  });
});

describe('a card recalled while its app answers a click', () => {
  let app: Server;
  let release: () => void = () => undefined;
  let clicked = false;

  beforeAll(async () => {
    // The app answers a click with a new card, once the test lets it.
    app = createServer((req, res) => {
      clicked = true;
      req.resume().on('end', () => {
        release = () =>
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ card: { title: 'Chosen: Tuesday evening', actions: [] } }));
      });
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise((resolve) => app?.close(resolve)));

  it("leaves the app's new card out of storage and of what devices are sent", async () => {
    const polls = await register(campus.gateway, {
      name: 'Evening Polls',
      slug: 'evening-polls',
      redirectUris: ['http://localhost:9/cb'],
      interactionCallbackUrl: `http://127.0.0.1:${(app.address() as AddressInfo).port}/atrium/callback`,
      botEnabled: true,
    });
    const pollsToken = await botToken(campus.gateway, polls, engUrl);
    const pollsBot = new AtriumBot({ nodeUrl: engUrl, token: () => pollsToken });
    const group = await alice.createGroup('Evening study', [BOB]);
    await alice.invite(group.id, ['evening-polls@eng.campus.test']);
    const card = await pollsBot.sendCard(
      { conversationId: group.id },
      { title: 'Which evening?', actions: [{ id: 'tue', label: 'Tuesday' }] },
    );
    const click = alice.cardAction(card.messageId, 'tue');
    await expect.poll(() => clicked).toBe(true);
    const recall = await pollsBot.recall(card.messageId);
    release();
    // The clicker is told the card did not change: it is gone.
    expect(await click).toMatchObject({ messageId: card.messageId, updated: false });

    for (const node of [campus.nodes.eng, campus.nodes.arts]) {
      await expect
        .poll(() => node.models.Message.count({ where: { conversationId: group.id, kind: 'card.update' } }), {
          timeout: 15_000,
        })
        .toBe(1);
      const stored = await node.models.Message.findAll({ where: { conversationId: group.id } });
      expect(JSON.stringify(stored.map((m) => m.body))).not.toContain('Tuesday evening');
    }
    for (const device of [alice, bob]) {
      await expect
        .poll(
          seen(device, (m) => m.kind === 'card.update' && m.refId === card.messageId),
          { timeout: 15_000 },
        )
        .toMatchObject({ recalledAt: expect.any(String) });
      expect(JSON.stringify(device.messages)).not.toContain('Tuesday evening');
      expect(device.messages.find((m) => m.id === recall.messageId)).toBeDefined();
    }
  });
});

describe("a bot's edit and recall refused", () => {
  it("for another sender's message: 403 forbidden naming messageId, and nothing changes", async () => {
    const id = await groupWithBot('Calculus');
    const hers = await alice.send({ conversationId: id, text: 'My answer is 7' });
    const before = await entries(id);
    const refusal = {
      status: 403,
      body: {
        error: {
          code: 'forbidden',
          message: expect.stringContaining(`only its own messages; this one was sent by ${ALICE}`),
          fields: { messageId: `sent by ${ALICE}, not by this bot` },
        },
      },
    };
    expect(await patch(hers.messageId, { text: 'My answer is 8' })).toMatchObject(refusal);
    expect(await del(hers.messageId)).toMatchObject(refusal);
    expect(await entries(id)).toBe(before);
    expect(await shown(alice, id, hers.messageId)).toMatchObject({
      text: 'My answer is 7',
      editedAt: null,
      recalledAt: null,
    });
  });

  it('for an unknown id: 404 not_found', async () => {
    for (const id of [randomUUID(), 'not-a-message-id']) {
      for (const answer of [await patch(id, { text: 'x' }), await del(id)]) {
        expect(answer).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
      }
    }
  });

  it('for bad bodies: 400 invalid_input naming the field, and nothing changes', async () => {
    const id = await groupWithBot('Algebra');
    const posted = await bot.sendText({ conversationId: id }, 'Office hours at 3');
    const card = await bot.sendCard({ conversationId: id }, { title: 'Office hours', fields: [], actions: [] });
    const before = await entries(id);
    const max = campus.nodes.eng.config.maxTextChars;
    const bad: [string, unknown, Record<string, unknown>][] = [
      [posted.messageId, {}, { text: 'give either text or a card' }],
      [posted.messageId, { text: 'a', card: { title: 'b' } }, { text: 'give either text or a card' }],
      [posted.messageId, { text: 5 }, { text: expect.any(String) }],
      [posted.messageId, { text: '   ' }, { text: 'required' }],
      [posted.messageId, { text: 'x'.repeat(max + 1) }, { text: `at most ${max} characters` }],
      [posted.messageId, { text: 'x', txet: 'y' }, { txet: 'unknown field' }],
      [posted.messageId, { text: 'x', clientMsgId: 'short' }, { clientMsgId: expect.any(String) }],
      [card.messageId, { text: 'Office hours at 4' }, { messageId: 'a card: send {card} to replace it' }],
    ];
    for (const [target, body, fields] of bad) {
      expect(await patch(target, body), JSON.stringify(body).slice(0, 80)).toMatchObject({
        status: 400,
        body: { error: { code: 'invalid_input', fields } },
      });
    }
    expect(await del(posted.messageId, { clientMsgId: 'recall-it-1' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: { clientMsgId: 'unknown field' } } },
    });
    // A body of another type (a form, text) is not read as "no body": the bot is told what the API takes.
    const asForm = await nodeApi(engUrl, `/api/v1/bot/messages/${posted.messageId}`, token, {
      method: 'DELETE',
      body: 'clientMsgId=recall-it-1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(asForm).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    expect(asForm.body.error.message).toContain('Content-Type: application/json');
    expect(await entries(id)).toBe(before);
    expect(await shown(alice, id, posted.messageId)).toMatchObject({ text: 'Office hours at 3', editedAt: null });
  });

  it('for a recalled message: 409 recalled', async () => {
    const id = await groupWithBot('Geometry');
    const posted = await bot.sendText({ conversationId: id }, 'Compass needed');
    await bot.recall(posted.messageId);
    expect(await patch(posted.messageId, { text: 'Ruler needed' })).toMatchObject({
      status: 409,
      body: { error: { code: 'recalled' } },
    });
  });

  it('once the bot was removed (403 not_member), though a retry of its recall still answers', async () => {
    const id = await groupWithBot('Topology');
    const kept = await bot.sendText({ conversationId: id }, 'Reading list posted');
    const taken = await bot.sendText({ conversationId: id }, 'Wrong reading list');
    const recall = await bot.recall(taken.messageId);
    await alice.removeMember(id, NOTICES);
    for (const answer of [await patch(kept.messageId, { text: 'Reading list updated' }), await del(kept.messageId)]) {
      expect(answer).toMatchObject({ status: 403, body: { error: { code: 'not_member' } } });
    }
    expect(await bot.recall(taken.messageId)).toMatchObject({ messageId: recall.messageId, duplicate: true });
  });

  it('in a group hosted by another college: 409 not_home', async () => {
    const group = await bob.createGroup('Arts and engineering', [ALICE, NOTICES]);
    const { Member } = campus.nodes.eng.models;
    await expect
      .poll(() => Member.count({ where: { conversationId: group.id, state: 'active' } }), { timeout: 15_000 })
      .toBe(3);
    const hers = await alice.send({ conversationId: group.id, text: 'Hello from eng' });
    await expect
      .poll(() => campus.nodes.eng.models.Message.count({ where: { id: hers.messageId } }), { timeout: 15_000 })
      .toBe(1);
    for (const answer of [await patch(hers.messageId, { text: 'x' }), await del(hers.messageId)]) {
      expect(answer).toMatchObject({ status: 409, body: { error: { code: 'not_home' } } });
    }
  });

  it('for people: the bot API is 403 forbidden to their tokens', async () => {
    const id = await groupWithBot('Statistics');
    const posted = await bot.sendText({ conversationId: id }, 'Mean and median');
    const aliceToken = await alice.login.tokenFor(engUrl);
    for (const method of ['PATCH', 'DELETE']) {
      const answer = await nodeApi(engUrl, `/api/v1/bot/messages/${posted.messageId}`, aliceToken, {
        method,
        body: { text: 'x' },
      });
      expect(answer).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    }
  });
});

describe("a bot's recall while another college is down", () => {
  it('leaves nothing of the card or its updates waiting for that college, which gets the recall when back', async () => {
    const id = await groupWithBot('Field trip');
    await campus.stopNode('arts');
    const card = await bot.sendCard({ conversationId: id }, { title: 'Trip to the quarry', fields: [], actions: [] });
    await bot.updateCard(card.messageId, { title: 'Trip to the quarry, bus at 8', fields: [] });
    const recall = await bot.recall(card.messageId);
    const { OutboxEntry } = campus.nodes.eng.federationModels;
    const waiting = await OutboxEntry.findAll({ where: { destination: 'arts.campus.test' } });
    expect(waiting.map((e) => e.event).join('\n')).toContain(recall.messageId);
    expect(waiting.map((e) => e.event).join('\n')).not.toContain('quarry');

    const arts = await campus.restartNode('arts');
    bob = await people('bob', 'arts');
    await expect
      .poll(async () => (await arts.models.Message.findOne({ where: { id: recall.messageId } }))?.refId, {
        timeout: 30_000,
      })
      .toBe(card.messageId);
    const stored = await arts.models.Message.findAll({ where: { conversationId: id } });
    expect(JSON.stringify(stored.map((m) => m.body))).not.toContain('quarry');
  });
});

// Last: the node's clock moves back after it, which the sockets' frame allowance would take as a burst.
describe("a bot's recall in time", () => {
  it('keeps to the recall window people have, and a retry after it still answers the recall', async () => {
    const id = await groupWithBot('Statics');
    const late = await bot.sendText({ conversationId: id }, 'Homework 3 is online');
    const early = await bot.sendText({ conversationId: id }, 'Homework 2 is online');
    const recalled = await bot.recall(early.messageId);
    const window = campus.nodes.eng.config.recallWindowSeconds;
    campus.nodes.eng.clock.advance(window * 1000 + 1000);
    try {
      expect(await del(late.messageId)).toMatchObject({
        status: 403,
        body: { error: { code: 'recall_window_passed', message: expect.stringContaining(`${window} seconds`) } },
      });
      expect(await shown(alice, id, late.messageId)).toMatchObject({ text: 'Homework 3 is online', recalledAt: null });
      expect(await bot.recall(early.messageId)).toMatchObject({ messageId: recalled.messageId, duplicate: true });
      // An edit has no window, for people or bots.
      expect((await bot.editText(late.messageId, 'Homework 3 is online now')).duplicate).toBe(false);
    } finally {
      campus.nodes.eng.clock.reset();
    }
  });
});
