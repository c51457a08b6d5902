import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroupCommitter, laneOf } from '../../node/messages/group-commit.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { testDialect } from '../helpers/database.ts';
import { holdConversationRow, textEntry as entry } from '../helpers/committer.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';

// A flush locks the rows of the conversations it numbers, and only those: flushes of other conversations
// (another lane, another process) must not wait for it. On a node with few conversations, a flush of many
// of them is a large share of the table, where MariaDB's optimizer would rather read the whole table than
// look each one up, and a locking read locks every row it reads. (SQLite has one writer at a time.)

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('flush-row-locks');
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function conversations(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  for (const id of ids)
    await eng.models.Conversation.create({
      id,
      kind: 'group',
      homeDomain: 'eng.campus.test',
      title: 'Row locks',
      directKey: null,
      createdBy: 'alice@eng.campus.test',
    });
  return ids;
}

/** A committer whose sends gather for 20 ms, in `lanes` lanes. */
function windowed(lanes: number) {
  return createGroupCommitter({
    sequelize: eng.sequelize,
    mode: 'window',
    windowMs: 20,
    maxBatch: 100,
    concurrency: 1,
    lanes,
    logger: eng.logger,
    afterCommit: () => undefined,
  });
}

/** The sequence number the send got, or 'no answer' if it waited longer than a flush should. */
function answeredSoon(sent: Promise<{ message: { seq: number } }>): Promise<number | 'no answer'> {
  return Promise.race([sent.then((r) => r.message.seq), pause(5_000).then(() => 'no answer' as const)]);
}

describe.skipIf(testDialect === 'sqlite')('a flush holds only the rows of its own conversations (MariaDB)', () => {
  // First in the file: the table then holds only these conversations, and the flush most of them.
  it("in one statement: a flush of most of a node's conversations does not wait for a row another process holds", async () => {
    const [held, ...mine] = await conversations(7);
    const elsewhere = await holdConversationRow(eng.sequelize, held!);
    const sent: string[] = [];
    eng.sequelize.addHook('afterQuery', 'row-locks', (_options, query) => {
      sent.push(String((query as unknown as { sql?: string }).sql ?? ''));
    });
    const committer = windowed(1);
    try {
      const seqs = await Promise.all(
        mine.map((id, i) => answeredSoon(committer.append(entry(id, `one-statement-${i}`)))),
      );
      expect(seqs).toEqual(mine.map(() => 1));
      // The six went together, as the one statement this test is about.
      expect(sent.filter((sql) => sql.startsWith('BEGIN NOT ATOMIC'))).toHaveLength(1);
    } finally {
      eng.sequelize.removeHook('afterQuery', 'row-locks');
      await elsewhere.release();
    }
  });

  it("the usual way: while a lane's flush of many conversations is open, a send in another lane is acknowledged", async () => {
    const ids = await conversations(24);
    const mine = ids.filter((id) => laneOf(id, 2) === 0);
    const beside = ids.find((id) => laneOf(id, 2) === 1)!;
    const committer = windowed(2);
    // One flush of every conversation of the first lane, held open once it has written (and so locked) them.
    let release!: () => void;
    let entered!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inside = new Promise<void>((r) => (entered = r));
    const flush = Promise.all(
      mine.map((id, i) =>
        committer.append(
          i === 0 ? { ...entry(id, 'usual-held'), alsoWrite: () => (entered(), gate) } : entry(id, `usual-${i}`),
        ),
      ),
    );
    await inside;
    try {
      expect(await answeredSoon(committer.append(entry(beside, 'usual-beside')))).toBe(1);
    } finally {
      release();
    }
    expect((await flush).map((r) => r.message.seq)).toEqual(mine.map(() => 1));
  });
});
