import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { AtriumClient } from '../../sdk/client.ts';

const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';
const ENZO = 'eng-admin@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
let alice: AtriumClient;
let dave: AtriumClient;
let carol: AtriumClient;

beforeAll(async () => {
  gateway = await startTestGateway('im-search');
  eng = await startTestNode(gateway, 'eng.campus.test');
  [alice, dave, carol] = await Promise.all([
    connectAs(gateway, eng, 'alice'),
    connectAs(gateway, eng, 'dave'),
    connectAs(gateway, eng, 'carol'),
  ]);
});
afterAll(async () => {
  for (const c of [alice, dave, carol]) c?.close();
  await eng?.stop();
  await gateway?.stop();
});

const texts = (messages: { text?: string }[]) => messages.map((m) => m.text);

describe('searching messages', () => {
  it("finds text in the searcher's conversations whatever its case, newest first, within the limit", async () => {
    const direct = await alice.send({ to: DAVE, text: 'Lab REPORT due Friday' });
    const group = await alice.createGroup('Lab partners', [CAROL]);
    await dave.send({ to: 'alice@eng.campus.test', text: 'my half of the lab report is done' });
    await carol.send({ conversationId: group.id, text: 'Is the Lab Report graded?' });

    expect(texts(await alice.search('lab report'))).toEqual([
      'Is the Lab Report graded?',
      'my half of the lab report is done',
      'Lab REPORT due Friday',
    ]);
    expect(texts(await alice.search('lab report', { conversationId: direct.conversationId }))).toEqual([
      'my half of the lab report is done',
      'Lab REPORT due Friday',
    ]);
    expect(texts(await alice.search('lab report', { limit: 1 }))).toEqual(['Is the Lab Report graded?']);
    const [hit] = await alice.search('graded');
    expect(hit).toMatchObject({ conversationId: group.id, sender: CAROL, kind: 'text' });
  });

  it('never shows a conversation the searcher is not in, nor what was said before they joined', async () => {
    await carol.send({ to: ENZO, text: 'the budget spreadsheet is private' });
    const group = await carol.createGroup('Budget', [DAVE]);
    await carol.send({ conversationId: group.id, text: 'budget draft before alice joins' });
    await carol.invite(group.id, ['alice@eng.campus.test']);
    await carol.send({ conversationId: group.id, text: 'budget final, alice is here' });

    expect(texts(await alice.search('budget'))).toEqual(['budget final, alice is here']);
    expect(texts(await dave.search('budget'))).toEqual([
      'budget final, alice is here',
      'budget draft before alice joins',
    ]);
    const theirs = (await carol.conversations()).find(
      (c) => c.kind === 'direct' && c.members.some((m) => m.address === ENZO),
    )!;
    await expect(alice.search('budget', { conversationId: theirs.id })).rejects.toMatchObject({ code: 'not_member' });
  });

  it('matches % and _ literally, and only in the text (not in mentions or the stored JSON)', async () => {
    const conversation = await alice.openDirect(DAVE);
    for (const text of [
      'quota 100% used',
      'quota 1000 used',
      'quota snake_case',
      'quota snakeXcase',
      'say "quota" in quotes',
    ]) {
      await alice.send({ conversationId: conversation.id, text, mentions: [DAVE] });
    }
    expect(texts(await alice.search('100%'))).toEqual(['quota 100% used']);
    expect(texts(await alice.search('e_c'))).toEqual(['quota snake_case']);
    expect(texts(await alice.search('"quota"'))).toEqual(['say "quota" in quotes']);
    expect(await alice.search('dave@eng')).toEqual([]);
    expect(await alice.search('mentions')).toEqual([]);
  });

  it('finds an old match behind many newer messages that merely have a "text" field', async () => {
    const first = await alice.send({ to: CAROL, text: 'an old context note' });
    for (let i = 0; i < 12; i++) await alice.send({ conversationId: first.conversationId, text: `filler ${i}` });
    expect(texts(await carol.search('text', { conversationId: first.conversationId, limit: 1 }))).toEqual([
      'an old context note',
    ]);
  });

  it('finds a message by its edited text, never by its old text, and never once recalled', async () => {
    const typo = await alice.send({ to: DAVE, text: 'see you at the libary' });
    await alice.edit(typo.messageId, 'see you at the library');
    const regret = await alice.send({ to: DAVE, text: 'a regrettable remark' });
    await alice.recall(regret.messageId);

    expect(await dave.search('libary')).toEqual([]);
    expect(await dave.search('library')).toMatchObject([
      { id: typo.messageId, text: 'see you at the library', editedAt: expect.any(String) },
    ]);
    expect(await dave.search('regrettable')).toEqual([]);
  });

  it('refuses a query shorter than two characters', async () => {
    await expect(alice.search(' a ')).rejects.toMatchObject({ code: 'invalid_frame' });
  });
});
