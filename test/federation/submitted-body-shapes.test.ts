import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directIdentity } from '../../node/conversations/open-direct.ts';
import { campusPeople, signedPost, startCampus, type Campus } from '../helpers/federation.ts';

const alice = 'alice@eng.campus.test';
const bob = 'bob@arts.campus.test';
const carol = 'carol@arts.campus.test';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;

beforeAll(async () => {
  campus = await startCampus('fed-submitted-body-shapes');
  people = campusPeople(campus);
});
afterAll(async () => {
  people?.close();
  await campus?.stop();
});

/** Bodies that are JSON but not an object: nothing an honest node submits, for any kind. */
const NOT_OBJECTS = [
  ['null', 'null'],
  ['a list', JSON.stringify(['hello'])],
  ['a string', JSON.stringify('hello')],
] as const;

/** What arts's node answers, submitting `submit` to eng as bob's home would take it (signed as arts). */
async function submitToEng(submit: Record<string, unknown>) {
  const { send } = await signedPost(campus, 'arts', 'eng', '/federation/v1/submit', submit);
  const response = await send();
  return { status: response.status, body: (await response.json()) as unknown };
}

const REFUSED = { status: 400, body: { error: { code: 'invalid_request' } } };

describe("a submission whose body is JSON but not an object, from a member's node to the home", () => {
  it('is refused with 400 for a text, an edit, a recall and a leave, and changes nothing', async () => {
    const aliceOnEng = await people('alice', 'eng');
    const bobOnArts = await people('bob', 'arts');
    const group = await aliceOnEng.createGroup('Shapes', [bob]);
    await expect
      .poll(() => campus.nodes.arts.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    const said = await bobOnArts.send({ conversationId: group.id, text: "bob's words" });
    const { Message, Member } = campus.nodes.eng.models;
    const messagesBefore = await Message.count({ where: { conversationId: group.id } });

    for (const [shape, body] of NOT_OBJECTS) {
      const submit = { conversationId: group.id, sender: bob, body };
      const kinds = [
        { kind: 'text' },
        { kind: 'edit', refId: said.messageId },
        { kind: 'recall', refId: said.messageId },
        { kind: 'leave' },
      ];
      for (const { kind, refId } of kinds) {
        const clientMsgId = `shape-${kind}-${shape.replace(' ', '-')}`;
        expect({ kind, shape, ...(await submitToEng({ ...submit, kind, clientMsgId, refId })) }).toMatchObject({
          kind,
          shape,
          ...REFUSED,
        });
      }
    }

    expect(await Message.count({ where: { conversationId: group.id } })).toBe(messagesBefore);
    const kept = await Message.findOne({ where: { id: said.messageId } });
    expect({ body: kept?.body, editedAt: kept?.editedAt, recalledAt: kept?.recalledAt }).toEqual({
      body: JSON.stringify({ text: "bob's words" }),
      editedAt: null,
      recalledAt: null,
    });
    expect((await Member.findOne({ where: { conversationId: group.id, address: bob } }))?.state).toBe('active');
    expect((await aliceOnEng.history(group.id)).messages.find((m) => m.id === said.messageId)?.text).toBe(
      "bob's words",
    );
  });

  it('opens no direct conversation when it is the first message of one', async () => {
    const { id } = directIdentity(carol, alice);
    for (const [shape, body] of NOT_OBJECTS) {
      const answer = await submitToEng({
        conversationId: id,
        sender: carol,
        clientMsgId: `first-${shape.replace(' ', '-')}`,
        kind: 'text',
        body,
        peer: alice,
      });
      expect({ shape, ...answer }).toMatchObject({ shape, ...REFUSED });
    }
    expect(await campus.nodes.eng.models.Conversation.count({ where: { id } })).toBe(0);
  });
});

describe('a signed request whose own body is JSON but not an object', () => {
  const ENDPOINTS = [
    '/federation/v1/transactions/t-shapes-0001',
    '/federation/v1/submit',
    '/federation/v1/addresses',
    '/federation/v1/attachments/00000000-0000-4000-8000-000000000000',
    '/federation/v1/card-action',
    '/federation/v1/presence',
    '/federation/v1/presence/changed',
    '/federation/v1/typing',
    '/federation/v1/highest-seqs',
  ];

  it('is refused with 400 by every federation endpoint that reads one', async () => {
    const answers: string[] = [];
    for (const path of ENDPOINTS) {
      for (const [shape, body] of NOT_OBJECTS) {
        const { send } = await signedPost(campus, 'arts', 'eng', path, JSON.parse(body));
        const response = await send();
        const { error } = (await response.json()) as { error?: { code: string } };
        answers.push(`${path} ${shape}: ${response.status} ${error?.code}`);
      }
    }
    expect(answers).toEqual(
      ENDPOINTS.flatMap((path) => NOT_OBJECTS.map(([shape]) => `${path} ${shape}: 400 invalid_input`)),
    );
  });
});
