import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { Ack, Message } from '../../sdk/client.ts';
import {
  createGroupCommitter,
  laneOf,
  type Append,
  type FlushMode,
  type GroupCommitOptions,
} from '../../node/messages/group-commit.ts';
import { AppError } from '../../core/errors.ts';
import { createTestClock } from '../../core/clock.ts';
import { testDialect } from '../helpers/database.ts';
import { holdConversationRow, textEntry as entry } from '../helpers/committer.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { openDatabase } from '../../core/database.ts';
import { randomUUID } from 'node:crypto';

let gateway: TestGateway;
let eng: TestNode;

// No flush window and several flushes open at once (MariaDB; SQLite always writes one at a time): every
// send starts its own flush while earlier ones are still committing, the case where order could break.
beforeAll(async () => {
  gateway = await startTestGateway('im-group-commit');
  eng = await startTestNode(gateway, 'eng.campus.test', {
    FLUSH_WINDOW_MS: '0',
    FLUSH_CONCURRENCY: '4',
    FRAMES_PER_SECOND: '10000',
    // The committer's order is what is tested here, not a person's allowance (person-limits.test.ts).
    MESSAGES_PER_SECOND: '10000',
    MESSAGE_BURST: '10000',
  });
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('flushes open at once', () => {
  it("keep one device's messages in the order it sent them, with acks in that order and no gaps", async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const dave = await connectAs(gateway, eng, 'dave');
    const carol = await connectAs(gateway, eng, 'carol');
    const direct = await alice.openDirect('dave@eng.campus.test');
    const other = await carol.openDirect('dave@eng.campus.test');
    const received: Message[] = [];
    dave.on('message', (m) => {
      if (m.conversationId === direct.id) received.push(m);
    });

    const answered: number[] = [];
    const track = (i: number) => (ack: Ack) => {
      answered.push(i);
      return ack;
    };
    const mine = Array.from({ length: 120 }, (_, i) =>
      alice.send({ conversationId: direct.id, text: `a${i}` }).then(track(i)),
    );
    // Others write into the same conversation and another one meanwhile, so flushes overlap and share rows.
    const theirs = Array.from({ length: 60 }, (_, i) =>
      i % 2
        ? dave.send({ conversationId: direct.id, text: `d${i}` })
        : carol.send({ conversationId: other.id, text: `c${i}` }),
    );
    const acks = await Promise.all(mine);
    await Promise.all(theirs);

    expect(answered).toEqual(answered.toSorted((a, b) => a - b));
    const seqs = acks.map((a) => a.seq);
    expect(seqs).toEqual(seqs.toSorted((a, b) => a - b));
    for (const id of [direct.id, other.id]) {
      const rows = await eng.models.Message.findAll({ where: { conversationId: id }, order: [['seq', 'ASC']] });
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    }
    await expect.poll(() => received.filter((m) => m.sender === 'alice@eng.campus.test').length).toBe(120);
    expect(received.filter((m) => m.sender === 'alice@eng.campus.test').map((m) => m.text)).toEqual(
      Array.from({ length: 120 }, (_, i) => `a${i}`),
    );
    for (const c of [alice, dave, carol]) c.close();
  });

  it('answers a client id retried while its first send is still being written with the first message', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const direct = await alice.openDirect('dave@eng.campus.test');
    const sends = Array.from({ length: 20 }, (_, i) =>
      alice.send({ conversationId: direct.id, text: 'same', clientMsgId: `retry-in-flight-${i % 2}` }),
    );
    const acks = await Promise.all(sends);
    expect(new Set(acks.map((a) => a.messageId)).size).toBe(2);
    expect(
      await eng.models.Message.count({ where: { conversationId: direct.id, body: JSON.stringify({ text: 'same' }) } }),
    ).toBe(2);
    alice.close();
  });

  it('answers flushes in the order they started, even when a later one commits first', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const slow = await alice.openDirect('dave@eng.campus.test');
    const fast = await alice.openDirect('carol@eng.campus.test');
    alice.close();
    const committed: string[] = [];
    const committer = createGroupCommitter({
      sequelize: eng.sequelize,
      windowMs: 0,
      maxBatch: 100,
      concurrency: 4,
      logger: eng.logger,
      afterCommit: (stored) => committed.push(...stored.map((c) => c.message.clientMsgId)),
    });
    const order: string[] = [];
    // The first flush stays open a while after taking its row lock; the second touches another conversation.
    const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    const first = committer.append({ ...entry(slow.id, 'order-slow-0001'), alsoWrite: () => pause(400) });
    await pause(100);
    const second = committer.append(entry(fast.id, 'order-fast-0001'));
    await pause(100);
    // The third shares the first one's conversation: it must number after it.
    const third = committer.append(entry(slow.id, 'order-slow-0002'));
    for (const [name, p] of [
      ['first', first],
      ['second', second],
      ['third', third],
    ] as const)
      void p.then(() => order.push(name));
    const [a, , c] = await Promise.all([first, second, third]);
    expect(order).toEqual(['first', 'second', 'third']);
    expect(committed).toEqual(['order-slow-0001', 'order-fast-0001', 'order-slow-0002']);
    expect(c.message.seq).toBe(a.message.seq + 1);
  });

  it('numbers new entries without a gap when a batch also holds a send that was stored before', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const direct = await alice.openDirect('dave@eng.campus.test');
    alice.close();
    const committer = createGroupCommitter({
      sequelize: eng.sequelize,
      windowMs: 20,
      maxBatch: 100,
      concurrency: 4,
      logger: eng.logger,
      afterCommit: () => undefined,
    });
    const inDirect = (clientMsgId: string) => entry(direct.id, clientMsgId);
    const first = await committer.append(inDirect('mixed-batch-0001'));
    // One batch: a retry of the stored send between two new ones.
    const [second, again, third] = await Promise.all([
      committer.append(inDirect('mixed-batch-0002')),
      committer.append(inDirect('mixed-batch-0001')),
      committer.append(inDirect('mixed-batch-0003')),
    ]);
    expect(again.duplicate).toBe(true);
    expect(again.message.id).toBe(first.message.id);
    expect([second.duplicate, third.duplicate]).toEqual([false, false]);
    expect([second.message.seq, third.message.seq]).toEqual([first.message.seq + 1, first.message.seq + 2]);
    const rows = await eng.models.Message.findAll({ where: { conversationId: direct.id }, order: [['seq', 'ASC']] });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    expect(rows.filter((r) => r.clientMsgId === 'mixed-batch-0001')).toHaveLength(1);
  });

  it('leaves out an entry its own check refuses under the lock, writes the rest of the batch, and judges the next check after the change before it', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const direct = await alice.openDirect('dave@eng.campus.test');
    alice.close();
    const committer = createGroupCommitter({
      sequelize: eng.sequelize,
      windowMs: 20,
      maxBatch: 100,
      concurrency: 4,
      logger: eng.logger,
      afterCommit: () => undefined,
    });
    const inDirect = (clientMsgId: string) => entry(direct.id, clientMsgId);
    const before = await eng.models.Conversation.findByPk(direct.id);
    // A flag stands for what a check reads: the first checked entry sets it as it is written, a later one requires it unset.
    let flag = false;
    const results = await Promise.allSettled([
      committer.append(inDirect('checked-0001')),
      committer.append({
        ...inDirect('checked-0002'),
        prepare: async () => JSON.stringify({ text: 'decided under the lock' }),
        alsoWrite: async () => void (flag = true),
      }),
      committer.append({
        ...inDirect('checked-0003'),
        prepare: async () => {
          if (flag) throw new AppError('forbidden', 403, 'no longer allowed');
        },
      }),
      committer.append(inDirect('checked-0004')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'forbidden' });
    const rows = await eng.models.Message.findAll({ where: { conversationId: direct.id }, order: [['seq', 'ASC']] });
    const fresh = rows.filter((r) => r.seq > before!.lastSeq);
    expect(fresh.map((r) => r.clientMsgId)).toEqual(['checked-0001', 'checked-0002', 'checked-0004']);
    expect(fresh.map((r) => r.seq)).toEqual([before!.lastSeq + 1, before!.lastSeq + 2, before!.lastSeq + 3]);
    expect(JSON.parse(fresh[1]!.body)).toEqual({ text: 'decided under the lock' });
  });
});

// A window far longer than any test, on a clock the tests never move: an entry that waited for it would
// never be written, so whatever is written did not wait.
const LONG_WINDOW_MS = 60_000;

/** A new group of eng's, with no members: the committer alone is under test. */
async function conversation(): Promise<string> {
  const id = randomUUID();
  await eng.models.Conversation.create({
    id,
    kind: 'group',
    homeDomain: 'eng.campus.test',
    title: 'Committer',
    directKey: null,
    createdBy: 'alice@eng.campus.test',
  });
  return id;
}

/** An entry whose flush stays open, holding its row lock, until `release()`; `entered` once it does. */
function heldOpen(conversationId: string, clientMsgId: string) {
  let release!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const inside = new Promise<void>((r) => (entered = r));
  return {
    append: { ...entry(conversationId, clientMsgId), alsoWrite: () => (entered(), gate) },
    entered: inside,
    release: () => release(),
  };
}

describe('when a batch starts', () => {
  const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  /** A committer whose window never passes unless the test moves its clock; `flushes` lists each commit's client ids. */
  function committerWith(mode: FlushMode) {
    const clock = createTestClock();
    const flushes: string[][] = [];
    const committer = createGroupCommitter({
      sequelize: eng.sequelize,
      mode,
      windowMs: LONG_WINDOW_MS,
      maxBatch: 100,
      concurrency: 4,
      logger: eng.logger,
      clock,
      afterCommit: (stored) => flushes.push(stored.map((c) => c.message.clientMsgId)),
    });
    return { committer, clock, flushes };
  }
  async function twoConversations() {
    const alice = await connectAs(gateway, eng, 'alice');
    const one = await alice.openDirect('dave@eng.campus.test');
    const two = await alice.openDirect('carol@eng.campus.test');
    alice.close();
    return [one.id, two.id] as const;
  }

  it('commits a send that finds nothing being written at once, without waiting for the window', async () => {
    const [direct] = await twoConversations();
    const { committer, flushes } = committerWith('eager');
    const lone = committer.append(entry(direct, 'lone-send-0001'));
    const outcome = await Promise.race([lone.then(() => 'committed'), pause(10_000).then(() => 'waited')]);
    expect(outcome).toBe('committed');
    expect(flushes).toEqual([['lone-send-0001']]);
    expect((await lone).message.seq).toBeGreaterThan(0);
  });

  it.skipIf(testDialect === 'sqlite')(
    'on MariaDB, stores a lone message in one round trip, numbered, queued for search, and committed',
    async () => {
      const [direct] = await twoConversations();
      const { committer } = committerWith('eager');
      const sent: string[] = [];
      eng.sequelize.addHook('afterQuery', 'round-trips', (_options, query) => {
        sent.push(String((query as unknown as { sql?: string }).sql ?? ''));
      });
      let first: Awaited<ReturnType<typeof committer.append>>;
      let second: typeof first;
      try {
        first = await committer.append(entry(direct, 'round-trips-0001'));
        second = await committer.append(entry(direct, 'round-trips-0002'));
      } finally {
        eng.sequelize.removeHook('afterQuery', 'round-trips');
      }
      // Each flush is one statement. The node's own work goes on beside it on the same pool (a heartbeat's
      // transaction, the search indexer), so only what a flush sends is counted: a flush sent in pieces
      // would show as its inserts and updates here.
      const ownStatement =
        /^(BEGIN NOT ATOMIC|INSERT INTO `?messages`? |UPDATE `?conversations`? |SELECT .* FROM `?conversations`? .*FOR UPDATE)/is;
      const flushes = sent.filter((sql) => ownStatement.test(sql));
      expect(flushes).toHaveLength(2);
      expect(flushes[0]).toMatch(
        /^BEGIN NOT ATOMIC .*START TRANSACTION; SELECT .* FOR UPDATE; INSERT INTO messages .*; INSERT INTO message_search_queue .*; UPDATE conversations .*; COMMIT; END$/s,
      );
      expect(second.message.seq).toBe(first.message.seq + 1);
      // What the client was told is what is stored: the numbers, the conversation's last number, the queue.
      const stored = await eng.models.Message.findAll({
        where: { conversationId: direct },
        order: [['seq', 'ASC']],
      });
      expect(stored.slice(-2).map((m) => [m.id, m.seq, m.clientMsgId])).toEqual([
        [first.message.id, first.message.seq, 'round-trips-0001'],
        [second.message.id, second.message.seq, 'round-trips-0002'],
      ]);
      expect((await eng.models.Conversation.findByPk(direct))!.lastSeq).toBe(second.message.seq);
      const ids = [first.message.id, second.message.id];
      const [queued] = await eng.sequelize.query(
        'SELECT message_id FROM message_search_queue WHERE message_id IN (?)',
        {
          replacements: [ids],
        },
      );
      const [indexed] = await eng.sequelize.query('SELECT message_id FROM message_search WHERE message_id IN (?)', {
        replacements: [ids],
      });
      expect((queued as unknown[]).length + (indexed as unknown[]).length).toBe(2);
    },
  );

  it.skipIf(testDialect === 'sqlite')(
    'on MariaDB, writes a batch whose one-statement flush fails the usual way, with nothing of the failed attempt left',
    async () => {
      const [one, two] = await twoConversations();
      const { committer } = committerWith('eager');
      const stored = await committer.append(entry(one, 'fallback-0001'));
      // One batch: two new entries in two conversations and a retry of a stored one, which the one-statement
      // flush meets on the unique key; rolled back, the batch goes the usual way.
      const hold = heldOpen(two, 'fallback-hold');
      const holding = committer.append(hold.append);
      await hold.entered;
      const batch = Promise.all([
        committer.append(entry(one, 'fallback-0002')),
        committer.append(entry(one, 'fallback-0001')),
        committer.append(entry(two, 'fallback-0003')),
      ]);
      hold.release();
      const [held, [next, again, other]] = await Promise.all([holding, batch]);
      expect(again.duplicate).toBe(true);
      expect(again.message.id).toBe(stored.message.id);
      expect(next.message.seq).toBe(stored.message.seq + 1);
      expect(other.message.seq).toBe(held.message.seq + 1);
      for (const id of [one, two]) {
        const rows = await eng.models.Message.findAll({ where: { conversationId: id }, order: [['seq', 'ASC']] });
        expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
        expect((await eng.models.Conversation.findByPk(id))!.lastSeq).toBe(rows.length);
      }
    },
  );

  it.skipIf(testDialect === 'sqlite')(
    "answers a send when the server's version cannot be read, writing it the usual way",
    async () => {
      const [direct] = await twoConversations();
      // A connection of its own, whose first look at the server's version fails (as a dropped connection would).
      const sequelize = await openDatabase({ url: eng.db.url, sqliteFile: '' });
      try {
        let asked = 0;
        sequelize.databaseVersion = async () => {
          asked += 1;
          throw new Error('connection lost');
        };
        const committer = createGroupCommitter({
          sequelize,
          windowMs: LONG_WINDOW_MS,
          maxBatch: 100,
          concurrency: 1,
          logger: eng.logger,
          afterCommit: () => undefined,
        });
        const outcome = await Promise.race([
          committer.append(entry(direct, 'no-version-0001')).then((a) => a.message.seq),
          pause(10_000).then(() => 'no answer'),
        ]);
        expect(asked).toBeGreaterThan(0);
        expect(typeof outcome).toBe('number');
        const stored = await eng.models.Message.findOne({ where: { clientMsgId: 'no-version-0001' } });
        expect(stored!.seq).toBe(outcome);
      } finally {
        await sequelize.close();
      }
    },
  );

  it('puts the sends that arrive while a commit runs together into the next one, once it ends', async () => {
    const [one, two] = await twoConversations();
    const { committer, flushes } = committerWith('eager');
    const first = heldOpen(one, 'during-0001');
    const running = committer.append(first.append);
    await first.entered;
    // Into the other conversation too, which no lock holds back: only the committer can make them wait.
    const later = [
      committer.append(entry(two, 'during-0002')),
      committer.append(entry(one, 'during-0003')),
      committer.append(entry(two, 'during-0004')),
    ];
    await pause(200);
    expect(flushes).toEqual([]);
    first.release();
    await Promise.all([running, ...later]);
    expect(flushes).toEqual([['during-0001'], ['during-0002', 'during-0003', 'during-0004']]);
  });

  it.skipIf(testDialect === 'sqlite')(
    'opens another flush beside a running one once the window has passed (MariaDB, where several may be open)',
    async () => {
      const [one, two] = await twoConversations();
      const { committer, clock } = committerWith('eager');
      const first = heldOpen(one, 'beside-0001');
      const running = committer.append(first.append);
      await first.entered;
      const second = committer.append(entry(two, 'beside-0002'));
      const stored = () => eng.models.Message.count({ where: { clientMsgId: 'beside-0002' } });
      await pause(200);
      expect(await stored()).toBe(0);
      clock.advance(LONG_WINDOW_MS);
      // Committed while the first flush is still open (its answer still waits for the first one's, in order).
      await expect.poll(stored).toBe(1);
      first.release();
      const [a, b] = await Promise.all([running, second]);
      expect([a.duplicate, b.duplicate]).toEqual([false, false]);
    },
  );

  it.skipIf(testDialect === 'sqlite')(
    'sends what gathered at once when a flush ends, though a later flush of the same lane is still open (MariaDB)',
    async () => {
      const [one, two] = await twoConversations();
      const three = await conversation();
      const { committer, clock } = committerWith('eager');
      const first = heldOpen(one, 'same-lane-0001');
      const running = committer.append(first.append);
      await first.entered;
      const second = heldOpen(two, 'same-lane-0002');
      const beside = committer.append(second.append);
      clock.advance(LONG_WINDOW_MS);
      await second.entered;
      // Gathers while both are open; the window never passes again in this test.
      const third = committer.append(entry(three, 'same-lane-0003'));
      const stored = () => eng.models.Message.count({ where: { clientMsgId: 'same-lane-0003' } });
      await pause(200);
      expect(await stored()).toBe(0);
      first.release();
      // It has waited a flush already: it goes as that one ends, while the second is still open.
      await expect.poll(stored).toBe(1);
      second.release();
      await Promise.all([running, beside, third]);
    },
  );

  it('is eager unless told otherwise, and a node refuses to start on a mode it does not know', () => {
    // A secret given, so that no development secret is written to ./data.
    const env = { NODE_DOMAIN: 'eng.campus.test', NODE_SECRET_KEY: 'x'.repeat(43) };
    expect(loadNodeConfig(env).flushMode).toBe('eager');
    expect(loadNodeConfig({ ...env, FLUSH_MODE: 'window' }).flushMode).toBe('window');
    expect(() => loadNodeConfig({ ...env, FLUSH_MODE: 'fast' })).toThrow('FLUSH_MODE: expected eager or window');
  });

  it('in window mode, makes a lone send wait out the window first (the behaviour kept for comparison)', async () => {
    const [direct] = await twoConversations();
    const { committer, clock, flushes } = committerWith('window');
    let done = false;
    const lone = committer.append(entry(direct, 'windowed-0001')).then((r) => ((done = true), r));
    await pause(200);
    expect(done).toBe(false);
    expect(flushes).toEqual([]);
    clock.advance(LONG_WINDOW_MS);
    await lone;
    expect(flushes).toEqual([['windowed-0001']]);
  });
});

describe('lanes', () => {
  /** Conversations until one falls in each of the first `count` lanes. */
  async function oneInEachLane(lanes: number, count: number): Promise<string[]> {
    const found = new Map<number, string>();
    while (found.size < count) {
      const id = await conversation();
      const lane = laneOf(id, lanes);
      if (lane < count && !found.has(lane)) found.set(lane, id);
    }
    return [...found.keys()].toSorted().map((lane) => found.get(lane)!);
  }
  function laned(lanes: number) {
    return createGroupCommitter({
      sequelize: eng.sequelize,
      windowMs: 0,
      maxBatch: 7,
      concurrency: 2,
      lanes,
      logger: eng.logger,
      afterCommit: () => undefined,
    });
  }

  it("keeps every conversation's numbers gap-free and in the order its entries came, with flushes in every lane at once", async () => {
    const conversations = await Promise.all(Array.from({ length: 8 }, () => conversation()));
    const committer = laned(3);
    const senders = ['alice', 'dave', 'carol'].map((u) => `${u}@eng.campus.test`);
    const sends = Array.from({ length: 300 }, (_, i) => {
      const conversationId = conversations[i % conversations.length]!;
      return committer.append(entry(conversationId, `lanes-${i}-${conversationId}`, senders[i % senders.length]));
    });
    const results = await Promise.all(sends);
    for (const id of conversations) {
      const mine = results.filter((r) => r.message.conversationId === id);
      expect(mine.map((r) => r.message.seq)).toEqual(Array.from({ length: mine.length }, (_, i) => i + 1));
      const rows = await eng.models.Message.findAll({ where: { conversationId: id }, order: [['seq', 'ASC']] });
      expect(rows.map((r) => r.id)).toEqual(mine.map((r) => r.message.id));
      expect(Number((await eng.models.Conversation.findByPk(id))!.lastSeq)).toBe(mine.length);
    }
  });

  it.skipIf(testDialect === 'sqlite')(
    "acknowledges a send into another lane's conversation while a flush waits for a row another process holds (MariaDB)",
    async () => {
      const [one, two] = await oneInEachLane(2, 2);
      const committer = laned(2);
      const elsewhere = await holdConversationRow(eng.sequelize, one!);
      let waiting = false;
      const blocked = committer.append(entry(one!, 'lane-blocked-0001')).then((r) => ((waiting = false), r));
      waiting = true;
      const beside = await committer.append(entry(two!, 'lane-beside-0001'));
      expect(beside.duplicate).toBe(false);
      expect(waiting).toBe(true);
      await elsewhere.release();
      const after = await blocked;
      expect(after.message.seq).toBe(1);
    },
  );

  it.skipIf(testDialect === 'sqlite')(
    'gathers a few sends in an idle lane while another lane writes, and sends them once it ends (MariaDB)',
    async () => {
      const [one, two] = await oneInEachLane(2, 2);
      const clock = createTestClock();
      const flushes: string[][] = [];
      const committer = createGroupCommitter({
        sequelize: eng.sequelize,
        windowMs: LONG_WINDOW_MS,
        maxBatch: 100,
        concurrency: 1,
        lanes: 2,
        logger: eng.logger,
        clock,
        afterCommit: (stored) => flushes.push(stored.map((c) => c.message.clientMsgId)),
      });
      let release!: () => void;
      let entered!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const inside = new Promise<void>((r) => (entered = r));
      const running = committer.append({ ...entry(one!, 'lane-held-0001'), alsoWrite: () => (entered(), gate) });
      await inside;
      // The other lane writes nothing, but sends into it wait, as they would behind a flush of their own
      // lane: a transaction each would cost more than the wait.
      const later = [
        committer.append(entry(two!, 'lane-gathered-0001')),
        committer.append(entry(two!, 'lane-gathered-0002')),
      ];
      await new Promise((r) => setTimeout(r, 200));
      expect(flushes).toEqual([]);
      release();
      await Promise.all([running, ...later]);
      expect(flushes).toEqual([['lane-held-0001'], ['lane-gathered-0001', 'lane-gathered-0002']]);
    },
  );

  /**
   * Two lanes with a short window, each with a flush held open until released; the second lane's flush
   * carries `answered` entries (client ids `<prefix>-two-0001…`). `flushes` lists each commit's client ids.
   */
  async function twoLanesWriting(prefix: string, answered: number) {
    const [one, two] = await oneInEachLane(2, 2);
    const flushes: string[][] = [];
    const committer = createGroupCommitter({
      sequelize: eng.sequelize,
      windowMs: 20,
      maxBatch: 100,
      concurrency: 1,
      lanes: 2,
      logger: eng.logger,
      afterCommit: (stored) => flushes.push(stored.map((c) => c.message.clientMsgId)),
    });
    const held = (conversationId: string, clientMsgId: string) => {
      let release!: () => void;
      let entered!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const inside = new Promise<void>((r) => (entered = r));
      const sent = committer.append({ ...entry(conversationId, clientMsgId), alsoWrite: () => (entered(), gate) });
      return { sent, entered: inside, release: () => release() };
    };
    const id = (n: number) => `${prefix}-two-${String(n).padStart(4, '0')}`;
    const first = held(one!, `${prefix}-one-0001`);
    await first.entered;
    // Beside it once the window has passed, and kept open for a while: a flush that takes long. The
    // others appended with it are answered with it, as the senders of a busy lane are.
    const second = held(two!, id(1));
    const alongside = Array.from({ length: answered - 1 }, (_, i) => committer.append(entry(two!, id(i + 2))));
    await second.entered;
    await new Promise((r) => setTimeout(r, 500));
    // Gathers while the second lane's flush is open.
    const waiting = committer.append(entry(two!, id(answered + 1)));
    const release = async () => {
      second.release();
      await Promise.all([second.sent, ...alongside]);
    };
    const secondFlush = Array.from({ length: answered }, (_, i) => id(i + 1));
    return { committer, flushes, first, release, secondFlush, id, waiting, two: two! };
  }

  it.skipIf(testDialect === 'sqlite')(
    "makes a few sends that gathered during a lane's busy flush wait for another lane's flush beside it, so that the next ones join them (MariaDB)",
    async () => {
      const { committer, flushes, first, release, secondFlush, id, waiting, two } = await twoLanesWriting('joined', 16);
      await release();
      // Well past the window: an answered sender's next message, as a chat client sends it.
      await new Promise((r) => setTimeout(r, 100));
      const next = committer.append(entry(two, id(18)));
      await new Promise((r) => setTimeout(r, 100));
      expect(flushes).toEqual([secondFlush]);
      first.release();
      await Promise.all([first.sent, waiting, next]);
      expect(flushes).toEqual([secondFlush, ['joined-one-0001'], [id(17), id(18)]]);
    },
  );

  it.skipIf(testDialect === 'sqlite')(
    "sends them after as long as their lane's flush took, though the other lane's flush stays open (MariaDB)",
    async () => {
      const { flushes, first, release, secondFlush, id, waiting } = await twoLanesWriting('bounded', 16);
      await release();
      const t0 = Date.now();
      await waiting;
      // The second flush took over 500 ms; the first one is still open.
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect(flushes).toEqual([secondFlush, [id(17)]]);
      first.release();
      await first.sent;
    },
  );

  it.skipIf(testDialect === 'sqlite')(
    'sends what gathered after a flush that answered a few after the window, not after the other lane (MariaDB)',
    async () => {
      const { flushes, first, release, id, waiting } = await twoLanesWriting('lone', 2);
      await release();
      const t0 = Date.now();
      await waiting;
      // A lone chat user's next message: the window (20 ms), not the 500-ms flush's length or the other
      // lane's open flush.
      expect(Date.now() - t0).toBeLessThan(300);
      expect(flushes).toEqual([[id(1), id(2)], [id(3)]]);
      first.release();
      await first.sent;
    },
  );

  /**
   * Three lanes, a window that never passes unless the test moves its clock, and a flush in the first
   * lane's conversation held open until `release()`; `flushes` lists each commit's client ids.
   */
  async function threeLanesOneHeld(prefix: string, maxBatch: number) {
    const [one, two, three] = await oneInEachLane(3, 3);
    const flushes: string[][] = [];
    const committer = createGroupCommitter({
      sequelize: eng.sequelize,
      windowMs: LONG_WINDOW_MS,
      maxBatch,
      concurrency: 1,
      lanes: 3,
      logger: eng.logger,
      clock: createTestClock(),
      afterCommit: (stored) => flushes.push(stored.map((c) => c.message.clientMsgId)),
    });
    const first = heldOpen(one!, `${prefix}-held`);
    const held = committer.append(first.append);
    await first.entered;
    return { committer, flushes, held, release: first.release, two: two!, three: three! };
  }
  const seqs = async (conversationId: string) =>
    (await eng.models.Message.findAll({ where: { conversationId }, order: [['seq', 'ASC']] })).map((m) => [
      m.clientMsgId,
      m.seq,
    ]);

  it.skipIf(testDialect === 'sqlite')(
    'writes the few sends that gathered in several lanes while another lane wrote in one transaction, once it ends (MariaDB)',
    async () => {
      const { committer, flushes, held, release, two, three } = await threeLanesOneHeld('pooled', 100);
      const later = [
        committer.append(entry(two, 'pooled-two-0001')),
        committer.append(entry(three, 'pooled-three-0001')),
        committer.append(entry(two, 'pooled-two-0002')),
      ];
      await new Promise((r) => setTimeout(r, 200));
      expect(flushes).toEqual([]);
      release();
      await held;
      const [a, b, c] = await Promise.all(later);
      // One commit for both lanes' sends (each answered once it was stored), not one per lane.
      expect(flushes).toHaveLength(2);
      expect(flushes[1]!.toSorted()).toEqual(['pooled-three-0001', 'pooled-two-0001', 'pooled-two-0002']);
      expect([a!.message.seq, b!.message.seq, c!.message.seq]).toEqual([1, 1, 2]);
      expect(await seqs(two)).toEqual([
        ['pooled-two-0001', 1],
        ['pooled-two-0002', 2],
      ]);
      expect(await seqs(three)).toEqual([['pooled-three-0001', 1]]);
    },
  );

  it.skipIf(testDialect === 'sqlite')(
    "fails only the send whose own write fails in such a transaction: the other lane's is stored (MariaDB)",
    async () => {
      const { committer, held, release, two, three } = await threeLanesOneHeld('pooled-fail', 100);
      const fine = committer.append(entry(two, 'pooled-fail-two-0001'));
      const failing = committer.append({
        ...entry(three, 'pooled-fail-three-0001'),
        alsoWrite: async () => {
          throw new Error('this entry cannot be written');
        },
      });
      release();
      await held;
      await expect(failing).rejects.toMatchObject({ code: 'message_refused' });
      expect(await fine).toMatchObject({ duplicate: false, message: { seq: 1 } });
      // The next one in the failed send's conversation takes the number it would have had.
      const next = await committer.append(entry(three, 'pooled-fail-three-0002'));
      expect(next.message.seq).toBe(1);
      expect(await seqs(three)).toEqual([['pooled-fail-three-0002', 1]]);
      expect(await seqs(two)).toEqual([['pooled-fail-two-0001', 1]]);
    },
  );

  it.skipIf(testDialect === 'sqlite')(
    "flushes the lanes' batches side by side when together they are a big batch (MariaDB)",
    async () => {
      // maxBatch 3: three or more entries are a big batch.
      const { committer, flushes, held, release, two, three } = await threeLanesOneHeld('apart', 3);
      const later = [
        committer.append(entry(two, 'apart-two-0001')),
        committer.append(entry(three, 'apart-three-0001')),
        committer.append(entry(two, 'apart-two-0002')),
        committer.append(entry(three, 'apart-three-0002')),
      ];
      release();
      await Promise.all([held, ...later]);
      expect(
        flushes
          .slice(1)
          .map((ids) => ids.toSorted())
          .toSorted(),
      ).toEqual([
        ['apart-three-0001', 'apart-three-0002'],
        ['apart-two-0001', 'apart-two-0002'],
      ]);
    },
  );

  it('leaves no gap when a flush fails: the next entry takes the number the failed one would have had', async () => {
    const [one] = await oneInEachLane(2, 1);
    const committer = laned(2);
    const first = await committer.append(entry(one!, 'failed-flush-0001'));
    const failing = committer.append({
      ...entry(one!, 'failed-flush-0002'),
      alsoWrite: async () => {
        throw new Error('this entry cannot be written');
      },
    });
    await expect(failing).rejects.toMatchObject({ code: 'message_refused' });
    const next = await committer.append(entry(one!, 'failed-flush-0003'));
    expect(next.message.seq).toBe(first.message.seq + 1);
    expect(await eng.models.Message.count({ where: { clientMsgId: 'failed-flush-0002' } })).toBe(0);
  });
});

describe('an entry the database refuses', () => {
  /** No window, so that what arrives while a flush runs gathers into the next one. */
  const unwindowed = (options: Pick<GroupCommitOptions, 'beforeCommit'> = {}) =>
    createGroupCommitter({
      sequelize: eng.sequelize,
      windowMs: 0,
      maxBatch: 10,
      concurrency: 2,
      logger: eng.logger,
      afterCommit: () => undefined,
      ...options,
    });

  it('fails an entry whose write the database refuses alone: the others of its flush are stored, gap-free', async () => {
    const one = await conversation();
    const committer = unwindowed();
    // The first goes at once, alone; the next three gather while it is written and go in one flush.
    const first = committer.append(entry(one, 'own-fault-0001'));
    const before = committer.append(entry(one, 'own-fault-0002'));
    const refused = committer.append({
      ...entry(one, 'own-fault-0003'),
      // A value the database refuses (a NULL where none may be), as a body too long for its column is.
      alsoWrite: async (tx) => {
        await eng.sequelize.query('UPDATE conversations SET last_seq = NULL WHERE id = ?', {
          replacements: [one],
          transaction: tx,
        });
      },
    });
    const after = committer.append(entry(one, 'own-fault-0004'));
    // Refused for good: it would fail every time, so the client is told not to send it again.
    await expect(refused).rejects.toMatchObject({ code: 'message_refused' });
    const seqs = (await Promise.all([first, before, after])).map((a) => a.message.seq);
    expect(seqs).toEqual([seqs[0], seqs[0]! + 1, seqs[0]! + 2]);
    expect(await eng.models.Message.count({ where: { clientMsgId: 'own-fault-0003' } })).toBe(0);
    const rows = await eng.models.Message.findAll({ where: { conversationId: one }, order: [['seq', 'ASC']] });
    expect(rows.map((r) => r.clientMsgId)).toEqual(['own-fault-0001', 'own-fault-0002', 'own-fault-0004']);
  });

  it('fails every entry of a flush, unwritten, when what fails is not an entry of it (the outbox)', async () => {
    const one = await conversation();
    const committer = unwindowed({
      beforeCommit: async () => {
        throw new Error('the outbox cannot be written');
      },
    });
    const sends = ['not-mine-0001', 'not-mine-0002', 'not-mine-0003'].map((id) => committer.append(entry(one, id)));
    for (const send of sends) await expect(send).rejects.toMatchObject({ code: 'store_failed' });
    expect(await eng.models.Message.count({ where: { conversationId: one } })).toBe(0);
  });
});

describe('a flush while another write waits for the database', () => {
  // On SQLite the flush holds the only write lock, and a write outside it waits for that lock on the
  // shared connection for up to the busy timeout (10 s). Anything the flush reads outside its own
  // transaction queues behind that write: the flush, and every sender in it, would wait the 10 s out.
  it('stores an entry of a conversation with members elsewhere, and queues it for their domain, without waiting out the busy timeout', async () => {
    const { Conversation, Member } = eng.models;
    const id = randomUUID();
    await Conversation.create({
      id,
      kind: 'group',
      homeDomain: 'eng.campus.test',
      title: 'Joint seminar',
      directKey: null,
      createdBy: 'alice@eng.campus.test',
    });
    await Member.bulkCreate([
      { conversationId: id, address: 'alice@eng.campus.test', role: 'owner', state: 'active' },
      { conversationId: id, address: 'bob@arts.campus.test', role: 'member', state: 'active' },
    ]);
    eng.services.members.invalidate(id);

    let rename: Promise<unknown> | undefined;
    const started = Date.now();
    const { message } = await eng.services.committer.append({
      conversationId: id,
      sender: 'alice@eng.campus.test',
      clientMsgId: 'while-busy',
      kind: 'text',
      body: 'hello Arts',
      async prepare() {
        rename = Conversation.update({ title: 'Joint seminar (renamed)' }, { where: { id } });
        await new Promise((resolve) => setTimeout(resolve, 300));
      },
    });
    const waited = Date.now() - started;
    await rename;

    expect(waited).toBeLessThan(5_000);
    expect(message.seq).toBe(1);
    expect((await Conversation.findByPk(id))!.title).toBe('Joint seminar (renamed)');
    const queued = await eng.federationModels.OutboxEntry.findAll({ where: { destination: 'arts.campus.test' } });
    expect(queued.some((row) => row.event.includes('hello Arts'))).toBe(true);
  });
});
