import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtriumBot } from '../../sdk/bot.ts';
import type { Message } from '../../sdk/client.ts';
import { botToken, register } from '../apps/helpers.ts';
import {
  campusPeople,
  groupWithBobWatching,
  refusals,
  relayedEntry,
  signedTransaction,
  startCampus,
  type Campus,
} from '../helpers/federation.ts';

const ENG = 'eng.campus.test';
const rooms = `rooms@${ENG}`;
const bob = 'bob@arts.campus.test';
const carol = 'carol@arts.campus.test';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
let bot: AtriumBot;

beforeAll(async () => {
  campus = await startCampus('fed-relayed-sender-names');
  as = campusPeople(campus);
  const app = await register(campus.gateway, {
    name: 'Room Bookings',
    slug: 'rooms',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  const token = await botToken(campus.gateway, app, campus.nodes.eng.url);
  bot = new AtriumBot({ nodeUrl: campus.nodes.eng.url, token: () => token });
});
afterAll(async () => {
  as?.close();
  await campus?.stop();
});

/** One line per entry of a conversation, as a device shows it: its place, kind, who it is from, and its text. */
const lines = (messages: Message[], conversationId: string) =>
  messages
    .filter((m) => m.conversationId === conversationId)
    .sort((a, b) => a.seq - b.seq)
    .map((m) => {
      const from = m.senderKind ? `${m.senderName} (${m.senderKind}, ${m.sender})` : m.sender;
      return `${m.seq} ${m.kind} ${from}: ${m.text ?? '-'}`;
    });

describe("a home's own bots and webhooks, relayed to another college", () => {
  it("show bob, on arts, a bot's text under its app's name and a webhook's under the webhook's", async () => {
    const aliceOnEng = await as('alice', 'eng');
    const bobOnArts = await as('bob', 'arts');
    const group = await aliceOnEng.createGroup('Seminar rooms', [bob]);
    await aliceOnEng.invite(group.id, [rooms]);
    await bot.sendText({ conversationId: group.id }, 'Room 4.12 is booked for Thursday.');
    const { webhook, url } = await aliceOnEng.createWebhook(group.id, 'Timetable');
    const posted = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'The timetable changed.' }),
    });
    expect(posted.status).toBe(201);

    const shown = (messages: Message[]) => lines(messages, group.id).filter((line) => !line.includes(' system '));
    const expected = [
      `3 text Room Bookings (bot, ${rooms}): Room 4.12 is booked for Thursday.`,
      `4 text Timetable (webhook, ${webhook.sender}): The timetable changed.`,
    ];
    await expect.poll(() => shown(bobOnArts.messages), { timeout: 15_000 }).toEqual(expected);
    expect(shown((await bobOnArts.history(group.id)).messages)).toEqual(expected);
  });
});

const asDean = { senderKind: 'bot', senderName: 'Dean of Law' };
const hook = `hook-0123456789abcdef@${ENG}`;

describe("a relayed entry that names its sender as an app's bot or a webhook", () => {
  it("is refused when its sender is a person, and bob sees a withheld placeholder, not a person's text as an app's", async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, as);
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      // Carol, of arts, is a member; her text comes as the Dean of Law's app.
      relayedEntry(id, 1, carol, { text: 'Your thesis was rejected.', ...asDean }),
      relayedEntry(id, 2, carol, { text: 'Named only.', senderName: 'Dean of Law' }),
      // Of the home's domain, but no bot: a username with a dot, and the home's own voice.
      relayedEntry(id, 3, `dean.office@${ENG}`, { text: 'Office hours moved.', ...asDean }),
      relayedEntry(id, 4, `system@${ENG}`, { text: 'Maintenance tonight.', senderKind: 'webhook', senderName: 'IT' }),
      // The home's bot as a webhook, and its webhook as a bot.
      relayedEntry(id, 5, rooms, { text: 'Booked.', senderKind: 'webhook', senderName: 'Room Bookings' }),
      relayedEntry(id, 6, hook, { text: 'Built.', senderKind: 'bot', senderName: 'CI' }),
      // The home's own bot and webhook, as they post.
      relayedEntry(id, 7, rooms, { text: 'Room 4.12 is free.', senderKind: 'bot', senderName: 'Room Bookings' }),
      relayedEntry(id, 8, hook, { text: 'Build #7 passed.', senderKind: 'webhook', senderName: 'CI' }),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(2);
    expect(refusals(answer)).toEqual([0, 1, 2, 3, 4, 5].map((event) => `${event}:invalid_entry`));

    const expected = [
      ...[1, 2, 3, 4, 5, 6].map((seq) => `${seq} withheld system@${ENG}: -`),
      `7 text Room Bookings (bot, ${rooms}): Room 4.12 is free.`,
      `8 text CI (webhook, ${hook}): Build #7 passed.`,
    ];
    await expect.poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 }).toEqual(expected);
    expect(lines((await bobOnArts.history(id)).messages, id)).toEqual(expected);
  });

  it("is refused when it is an edit whose target would make a person's text an app's", async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, as);
    const said = relayedEntry(id, 1, carol, { text: 'See you at the seminar.' });
    const edit = relayedEntry(id, 2, carol, { text: 'See you at the seminar!' });
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      said,
      {
        ...edit,
        message: { ...edit.message, kind: 'edit', refId: said.message.id },
        target: {
          id: said.message.id,
          body: JSON.stringify({ text: 'See you at the seminar!', ...asDean }),
          editedAt: edit.message.createdAt,
          recalledAt: null,
        },
      },
    ]);
    expect(answer.status).toBe(200);
    expect(refusals(answer)).toEqual(['1:invalid_entry']);

    const expected = [`1 text ${carol}: See you at the seminar.`, `2 withheld system@${ENG}: -`];
    await expect.poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 }).toEqual(expected);
    expect(lines((await bobOnArts.history(id)).messages, id)).toEqual(expected);
  });
});
