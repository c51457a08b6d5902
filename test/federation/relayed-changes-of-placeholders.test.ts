import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyFields,
  campusPeople,
  groupWithBobWatching,
  refusals,
  relayedChange,
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
  campus = await startCampus('fed-relayed-changes-of-placeholders');
  people = campusPeople(campus);
});
afterAll(async () => {
  people?.close();
  await campus?.stop();
});

/** What the home's outbox sends for an entry the policy kept from this domain (withhold.ts). */
const placeholder = (conversationId: string, seq: number) =>
  relayedEntry(conversationId, seq, `system@${ENG}`, {}, 'withheld');

/** One line per entry, as a device reads it: its place, kind, author, text, and what its body gave it. */
const lines = (messages: Message[]) =>
  messages
    .sort((a, b) => a.seq - b.seq)
    .map((m) => {
      const marks = `${m.editedAt ? ' (edited)' : ''}${m.recalledAt ? ' (recalled)' : ''}`;
      return `${m.seq} ${m.kind} ${m.sender}: ${m.text ?? '-'}${marks} [${bodyFields(m).join(',')}]`;
    });

describe('a relayed change aimed at an entry held here as a withheld placeholder', () => {
  it('leaves the placeholder without text, whether the home withheld the entry or this node refused it', async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people);
    const withheldByHome = placeholder(id, 1);
    const withheldAgain = placeholder(id, 3);
    // Refused here (its body is not an object), so stored as a placeholder of the same id.
    const refusedHere = relayedEntry(id, 5, dave, JSON.stringify("dave's words"));
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      withheldByHome,
      relayedChange(withheldByHome, 2, carol, 'edit', "carol's words"),
      withheldAgain,
      relayedChange(withheldAgain, 4, carol, 'recall'),
      refusedHere,
      relayedChange(refusedHere, 6, dave, 'edit', "dave's edited words"),
    ]);
    expect(answer.status).toBe(200);
    expect(refusals(answer)).toEqual(['4:invalid_entry']);

    expect(lines((await bobOnArts.history(id)).messages)).toEqual([
      `1 withheld system@${ENG}: - []`,
      `2 edit ${carol}: carol's words [text]`,
      `3 withheld system@${ENG}: - []`,
      `4 recall ${carol}: - []`,
      `5 withheld system@${ENG}: - []`,
      `6 edit ${dave}: dave's edited words [text]`,
    ]);
  });
});
