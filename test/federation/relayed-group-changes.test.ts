import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  campusPeople,
  groupWithBobWatching,
  refusals,
  relayedEntry,
  signedTransaction,
  startCampus,
  type Campus,
} from '../helpers/federation.ts';
import type { Message } from '../../sdk/client.ts';

const alice = 'alice@eng.campus.test';
const bob = 'bob@arts.campus.test';
const carol = 'carol@arts.campus.test';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;

beforeAll(async () => {
  campus = await startCampus('fed-group-changes');
  people = campusPeople(campus);
});
afterAll(async () => {
  people?.close();
  await campus?.stop();
});

/** One line per entry, as a device reads it: its kind, and a group change's event and fields. */
const lines = (messages: Message[]) =>
  [...messages]
    .sort((a, b) => a.seq - b.seq)
    .map((m) =>
      [m.seq, m.kind, m.event, m.members === undefined ? undefined : JSON.stringify(m.members), m.role]
        .filter((part) => part !== undefined)
        .join(' '),
    );

describe('a group change relayed by its home', () => {
  it('whose fields do not fit its event is not stored: its seq holds a placeholder, and a well-formed one still applies', async () => {
    const { id, bobOnArts, view } = await groupWithBobWatching(campus, people, [alice, bob]);
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      relayedEntry(id, 1, alice, { event: 'member.joined', members: carol, by: alice }, 'system'),
      relayedEntry(id, 2, alice, { event: 'member.joined', members: [42], by: alice }, 'system'),
      relayedEntry(id, 3, alice, { event: 'member.role', members: [bob], role: 'superuser', by: alice }, 'system'),
      // A body does not speak for its entry's kind: this text reaches devices as the text it is.
      relayedEntry(id, 4, alice, { kind: 'system', event: 'member.role', members: [bob], role: 'root' }),
      relayedEntry(id, 5, alice, { event: 'member.joined', members: [carol], by: alice }, 'system'),
      // An event this node does not know is a newer node's: it passes as it came.
      relayedEntry(id, 6, alice, { event: 'group.pinned', members: 'anything' }, 'system'),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(3);
    expect(refusals(answer)).toEqual(['0:invalid_entry', '1:invalid_entry', '2:invalid_entry']);

    const expected = [
      '1 withheld',
      '2 withheld',
      '3 withheld',
      `4 text member.role ["${bob}"] root`,
      `5 system member.joined ["${carol}"]`,
      '6 system group.pinned "anything"',
    ];
    await expect.poll(() => lines(bobOnArts.messages), { timeout: 15_000 }).toEqual(expected);
    expect(lines((await bobOnArts.history(id)).messages)).toEqual(expected);
    // Bob's view of the group took the one well-formed join, and nothing of the rest.
    expect(
      view()
        .members.map((m) => `${m.address} ${m.role}`)
        .sort(),
    ).toEqual([`${alice} owner`, `${bob} member`, `${carol} member`]);
  });

  it('may not rewrite a stored group change through the target of an edit', async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people, [alice, bob]);
    const joined = relayedEntry(id, 1, alice, { event: 'member.joined', members: [carol], by: alice }, 'system');
    expect(await signedTransaction(campus, 'eng', 'arts', [joined])).toEqual({ status: 200, body: { applied: 1 } });
    const edit = relayedEntry(id, 2, alice, { text: 'edited' }, 'edit');
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      {
        ...edit,
        message: { ...edit.message, refId: joined.message.id },
        target: {
          id: joined.message.id,
          body: JSON.stringify({ event: 'member.joined', members: [42], by: alice }),
          editedAt: new Date().toISOString(),
          recalledAt: null,
        },
      },
    ]);
    expect(answer.status).toBe(200);
    expect(refusals(answer)).toEqual(['0:invalid_entry']);
    expect(lines((await bobOnArts.history(id)).messages)).toEqual([
      `1 system member.joined ["${carol}"]`,
      '2 withheld',
    ]);
  });
});
