import { QueryTypes } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator } from '../../core/migrator.ts';
import type { NodeContext } from '../../node/context.ts';
import { uuidv7 } from '../../core/uuid7.ts';
import { advanceSequences, insertRows } from '../../node/messages/group-commit.ts';
import { indexQueued } from '../../node/messages/search-index.ts';
import { scanMessages, searchMessages } from '../../node/messages/search-messages.ts';
import { chooseTerms, readSample } from '../../node/messages/search-terms.ts';
import { allQueryTerms } from '../../node/messages/search-tokens.ts';
import type { MessageRecord } from '../../node/models.ts';
import type { AtriumClient } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { SEARCH_CORPUS, SEARCH_QUERIES } from '../helpers/search-corpus.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
let alice: AtriumClient;
let dave: AtriumClient;
let carol: AtriumClient;

beforeAll(async () => {
  gateway = await startTestGateway('im-search-index');
  eng = await startTestNode(gateway, 'eng.campus.test');
  // The tests move the queue into the index themselves, to search both before and after it did.
  await eng.services.searchIndexer.stop();
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

function as(address: string): NodeContext {
  const actor = {
    kind: 'user' as const,
    sub: address,
    username: address.split('@')[0]!,
    name: address,
    address,
    sid: null,
    clientId: 'search-index-test',
    expiresAt: Date.now() + 3_600_000,
  };
  return { ...eng.services, actor };
}

async function indexAll() {
  while ((await indexQueued(eng.sequelize, 1000)) > 0);
}
async function count(sql: string, replacements: Record<string, unknown> = {}): Promise<number> {
  const [row] = await eng.sequelize.query<{ n: number }>(sql, { replacements, type: QueryTypes.SELECT });
  return Number(row!.n);
}
const queued = () => count('SELECT COUNT(*) AS n FROM message_search_queue');
const ids = (found: { messages: { id: string }[] }) => found.messages.map((m) => m.id);
const texts = (messages: { text?: string }[]) => messages.map((m) => m.text);

/** `count` text messages from alice in a conversation, a second apart from `base`, written as a flush writes them. */
async function storeMessages(conversationId: string, count: number, base: number, text: (i: number) => string) {
  const { Conversation } = eng.services.models;
  await eng.sequelize.transaction(async (tx) => {
    const last = Number((await Conversation.findByPk(conversationId, { transaction: tx }))!.lastSeq);
    const rows: MessageRecord[] = Array.from({ length: count }, (_, i) => ({
      conversationId,
      seq: last + i + 1,
      id: uuidv7(base + i * 1000),
      sender: ALICE,
      clientMsgId: `stored-${conversationId.slice(0, 8)}-${i}`,
      kind: 'text',
      body: JSON.stringify({ text: text(i) }),
      refId: null,
      createdAt: new Date(base + i * 1000),
      editedAt: null,
      recalledAt: null,
    }));
    await insertRows(eng.sequelize, tx, rows);
    await advanceSequences(eng.sequelize, tx, [[conversationId, last + count]], new Date());
  });
}

/** For every query and a few limits, within all of alice's conversations and within one: index == scan. */
async function expectIndexEqualsScan(groupId: string): Promise<number> {
  let withHits = 0;
  for (const query of SEARCH_QUERIES) {
    for (const input of [
      { query, limit: 100 },
      { query, limit: 2 },
      { query, conversationId: groupId },
    ]) {
      const scanned = ids(await scanMessages(as(ALICE), input));
      expect(ids(await searchMessages(as(ALICE), input)), JSON.stringify(input)).toEqual(scanned);
      if (input.limit === 100 && scanned.length > 0) withHits++;
    }
  }
  return withHits;
}

describe('the search index', () => {
  let groupId: string;

  it('finds exactly what a scan finds, for every query over a corpus of scripts, cases and signs', async () => {
    const direct = await alice.openDirect(DAVE);
    const group = await alice.createGroup('Corpus', [CAROL, DAVE]);
    groupId = group.id;
    const theirs = await carol.openDirect(DAVE);
    const late = await carol.createGroup('Late', [DAVE]);
    for (const [i, text] of SEARCH_CORPUS.entries()) {
      await (i % 2 ? alice : dave).send({ conversationId: i % 3 ? direct.id : group.id, text });
      await carol.send({ conversationId: theirs.id, text });
      if (i === SEARCH_CORPUS.length / 2) await carol.invite(late.id, [ALICE]);
      await dave.send({ conversationId: late.id, text });
    }
    await indexAll();
    expect(await queued()).toBe(0);
    expect(await count('SELECT COUNT(*) AS n FROM message_search')).toBe(SEARCH_CORPUS.length * 3);

    expect(await expectIndexEqualsScan(groupId)).toBeGreaterThan(SEARCH_QUERIES.length * 0.7);
    // The corpus's first half was said in "Late" before alice joined it: she finds those texts once.
    expect(texts(await alice.search('图书'))).toEqual(['图书馆几点关门？', '我们明天在图书馆见面']);
    expect(texts(await alice.search('ヒー', { conversationId: group.id }))).toEqual([
      '東京都に行きます。コーヒーを飲みましょう',
    ]);
    expect(texts(await alice.search('ヒー', { conversationId: direct.id }))).toEqual([
      'コーヒーとお茶、どちらがいいですか',
    ]);
    // Two letters inside a word, letters between signs, and a query with nothing for the index (it scans).
    expect(texts(await alice.search('c#'))).toEqual(['C++ / C# / F# — which one?', 'C++ / C# / F# — which one?']);
    expect(texts(await alice.search('zz'))).toEqual([
      'Zzz... zebra puzzle jazz',
      'Zzz... zebra puzzle jazz',
      '🍕pizza🍕 for lunch?',
    ]);
    expect(texts(await alice.search('e_c'))).toEqual([
      '100% done! snake_case and kebab-case',
      '100% done! snake_case and kebab-case',
    ]);
  });

  it('reflects a new message, an edit and a recall at once, before and after they are indexed', async () => {
    const sent = await alice.send({ to: DAVE, text: 'the quarterly figures are in' });
    expect(await queued()).toBeGreaterThan(0);
    expect(ids({ messages: await dave.search('quarterly') })).toEqual([sent.messageId]);
    await indexAll();
    expect(ids({ messages: await dave.search('quarterly') })).toEqual([sent.messageId]);

    await alice.edit(sent.messageId, 'the annual figures are in');
    for (const indexed of [false, true]) {
      if (indexed) await indexAll();
      expect(await dave.search('quarterly'), `indexed: ${indexed}`).toEqual([]);
      expect(texts(await dave.search('annual fig'))).toEqual(['the annual figures are in']);
    }

    await alice.recall(sent.messageId);
    expect(await dave.search('annual')).toEqual([]);
    await indexAll();
    expect(await dave.search('annual')).toEqual([]);
    const entries = 'SELECT COUNT(*) AS n FROM message_search WHERE message_id = :id';
    expect(await count(entries, { id: sent.messageId })).toBe(0);
  });

  it('answers a frequent query from the newest messages only where nothing older left out is newer', async () => {
    // "Quiet" has 3,000 old messages; "Busy" 3,000 newer ones. The newest of each are read first; a match
    // in Busy's older part is newer than every match in Quiet's newest part and must come first.
    const quiet = await alice.openDirect(CAROL);
    const busy = await alice.createGroup('Busy', [DAVE]);
    const base = Date.now() - 10 * 86_400_000;
    await storeMessages(quiet.id, 3000, base, (i) => (i >= 2900 && i % 10 === 0 ? `frequent word ${i}` : `quiet ${i}`));
    await storeMessages(busy.id, 3000, base + 4_000_000, (i) =>
      i >= 100 && i < 400 && i % 100 === 0 ? `frequent word ${i}` : `busy ${i}`,
    );
    await indexAll();
    for (const input of [
      { query: 'frequent word', limit: 20 },
      { query: 'frequent word', limit: 2 },
      { query: 'frequent', conversationId: quiet.id, limit: 20 },
      { query: 'quiet 14', limit: 20 },
      { query: 'busy 1', limit: 20 },
      { query: 'busy 1', limit: 100 },
    ]) {
      const scanned = ids(await scanMessages(as(ALICE), input));
      expect(ids(await searchMessages(as(ALICE), input)), JSON.stringify(input)).toEqual(scanned);
    }
    expect(texts((await searchMessages(as(ALICE), { query: 'frequent word', limit: 4 })).messages)).toEqual([
      'frequent word 300',
      'frequent word 200',
      'frequent word 100',
      'frequent word 2990',
    ]);
  });

  it('finds the few matches behind thousands of newer messages that have every term of the query', async () => {
    // "abcd ab abcd" has the tokens of "abcd abcd" (its n-grams, and "d a" where two words meet) without
    // containing it: the index hands back every one of those, and the search reads past them all.
    const decoys = await alice.createGroup('Decoys', [DAVE]);
    const base = Date.now() - 5 * 86_400_000;
    await storeMessages(decoys.id, 2503, base, (i) => (i < 3 ? `abcd abcd ${i}` : `abcd ab abcd ${i}`));
    await indexAll();
    await readSample(eng.services.longReads);
    for (const input of [
      { query: 'abcd abcd', limit: 20 },
      { query: 'abcd ab', limit: 20 },
    ]) {
      const scanned = ids(await scanMessages(as(ALICE), input));
      expect(ids(await searchMessages(as(ALICE), input)), JSON.stringify(input)).toEqual(scanned);
    }
    expect(texts((await searchMessages(as(ALICE), { query: 'abcd abcd', limit: 20 })).messages)).toEqual([
      'abcd abcd 2',
      'abcd abcd 1',
      'abcd abcd 0',
    ]);
  });

  it('finds exactly what a scan finds with the terms chosen by how common they are among the newest messages', async () => {
    await readSample(eng.services.longReads);
    // The searches go by that sample (without one they ask for every term of the query, which would pass
    // the comparisons below too): the 2,000 newest text messages but those recalled.
    const { sampled } = chooseTerms(eng.services.longReads, 'frequent word', allQueryTerms('frequent word'));
    expect(sampled?.messages).toBeGreaterThan(1990);
    expect(await expectIndexEqualsScan(groupId)).toBeGreaterThan(SEARCH_QUERIES.length * 0.7);
    const input = { query: 'frequent word', limit: 3 };
    expect(ids(await searchMessages(as(ALICE), input))).toEqual(ids(await scanMessages(as(ALICE), input)));
  });

  it('finds messages stored before the index existed, once the migration has indexed them', async () => {
    const migrator = createMigrator(eng.sequelize, 'node');
    await migrator.down({ to: '0070-search-index.ts' });
    await expect(count('SELECT COUNT(*) AS n FROM message_search')).rejects.toThrow();
    await migrator.up();

    expect(await queued()).toBe(0);
    const visible = "SELECT COUNT(*) AS n FROM messages WHERE kind = 'text' AND recalled_at IS NULL";
    expect(await count('SELECT COUNT(*) AS n FROM message_search')).toBe(await count(visible));
    expect(await expectIndexEqualsScan(groupId)).toBeGreaterThan(SEARCH_QUERIES.length * 0.7);
    expect(texts(await dave.search('annual'))).toEqual([]);
    expect(texts(await alice.search('東京都'))).toEqual(['東京都に行きます。コーヒーを飲みましょう']);
    expect(texts(await alice.search('zebra'))).toEqual(['Zzz... zebra puzzle jazz', 'Zzz... zebra puzzle jazz']);
  });
});
