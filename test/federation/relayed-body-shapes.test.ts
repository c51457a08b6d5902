import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyFields,
  campusPeople,
  groupWithBobWatching,
  refusals,
  relayedEntry,
  signedTransaction,
  startCampus,
  type Campus,
} from '../helpers/federation.ts';
import type { Message } from '../../sdk/client.ts';

const ENG = 'eng.campus.test';
const dave = `dave@${ENG}`;
const carol = 'carol@arts.campus.test';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;

beforeAll(async () => {
  campus = await startCampus('fed-relayed-body-shapes');
  people = campusPeople(campus);
});
afterAll(async () => {
  people?.close();
  await campus?.stop();
});

/** One line per entry of a conversation, as a device reads it: its place, kind, author and text. */
const lines = (messages: Message[], conversationId: string) =>
  messages
    .filter((m) => m.conversationId === conversationId)
    .sort((a, b) => a.seq - b.seq)
    .map((m) => `${m.seq} ${m.kind} ${m.sender}: ${m.text ?? '-'}`);

describe('a relayed body that is not a JSON object', () => {
  it('is refused, and bob sees a withheld placeholder at its place instead of its characters as fields', async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people);
    const said = relayedEntry(id, 5, carol, JSON.stringify({ text: "carol's words" }));
    // Carol's own edit of her text, whose target would make her text's stored body a string.
    const edit = relayedEntry(id, 6, carol, JSON.stringify({ text: 'edited' }));
    const editWithStringTarget = {
      ...edit,
      message: { ...edit.message, kind: 'edit', refId: said.message.id },
      target: {
        id: said.message.id,
        body: JSON.stringify('edited'),
        editedAt: edit.message.createdAt,
        recalledAt: null,
      },
    };
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      relayedEntry(id, 1, dave, JSON.stringify('hello')),
      relayedEntry(id, 2, dave, JSON.stringify(['h', 'i'])),
      relayedEntry(id, 3, dave, '42'),
      relayedEntry(id, 4, dave, 'null'),
      said,
      editWithStringTarget,
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(1);
    expect(refusals(answer)).toEqual([
      '0:invalid_entry',
      '1:invalid_entry',
      '2:invalid_entry',
      '3:invalid_entry',
      '5:invalid_entry',
    ]);

    const expected = [
      ...[1, 2, 3, 4].map((seq) => `${seq} withheld system@${ENG}: -`),
      `5 text ${carol}: carol's words`,
      `6 withheld system@${ENG}: -`,
    ];
    await expect.poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 }).toEqual(expected);
    const history = (await bobOnArts.history(id)).messages;
    expect(lines(history, id)).toEqual(expected);
    expect(history.sort((a, b) => a.seq - b.seq).map(bodyFields)).toEqual([[], [], [], [], ['text'], []]);
  });

  it('already stored, as a node before this check stored it, shows bob its entry with no body fields', async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people);
    const entries = [
      relayedEntry(id, 1, dave, JSON.stringify({ text: 'a string soon' })),
      relayedEntry(id, 2, carol, JSON.stringify({ text: 'an array soon' })),
    ];
    expect(await signedTransaction(campus, 'eng', 'arts', entries)).toEqual({ status: 200, body: { applied: 2 } });
    const { Message: rows } = campus.nodes.arts.models;
    await rows.update({ body: JSON.stringify('hello') }, { where: { id: entries[0]!.message.id } });
    await rows.update(
      { body: JSON.stringify(['a', { text: 'from an array' }]) },
      { where: { id: entries[1]!.message.id } },
    );

    const history = (await bobOnArts.history(id)).messages;
    expect(lines(history, id)).toEqual([`1 text ${dave}: -`, `2 text ${carol}: -`]);
    expect(history.map(bodyFields)).toEqual([[], []]);
  });
});
