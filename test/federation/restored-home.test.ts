import { randomUUID } from 'node:crypto';
import { Op } from 'sequelize';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, signedPost, startCampus, type Campus } from '../helpers/federation.ts';

type Log = {
  level: number;
  msg: string;
  conversations?: number;
  mostBehind?: number;
  code?: string;
  err?: { type?: string };
};

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
const logs: Record<'eng' | 'arts', Log[]> = { eng: [], arts: [] };
const loggerOf = (into: Log[]) =>
  pino({ level: 'info' }, { write: (line: string) => void into.push(JSON.parse(line)) });

beforeAll(async () => {
  campus = await startCampus('fed-restored', { loggers: { eng: loggerOf(logs.eng), arts: loggerOf(logs.arts) } });
  as = campusPeople(campus);
});
afterAll(async () => {
  as?.close();
  await campus?.stop();
});

const texts = (messages: { conversationId: string; kind: string; text?: unknown }[], conversationId: string) =>
  messages.filter((m) => m.conversationId === conversationId && m.kind === 'text').map((m) => m.text);
const behindWarnings = (into: Log[]) => into.filter((l) => l.level === 40 && l.msg.includes('older backup'));

async function counters(name: 'eng' | 'arts'): Promise<Record<string, number>> {
  const rows = await campus.nodes[name].models.Conversation.findAll({ attributes: ['id', 'lastSeq'] });
  return Object.fromEntries(rows.map((c) => [c.id, Number(c.lastSeq)]));
}

/** A group homed at arts, with alice of eng, and five messages of bob's that alice has received. */
async function groupWithFive(title: string) {
  const bob = await as('bob', 'arts');
  const alice = await as('alice', 'eng');
  const group = await bob.createGroup(title, ['alice@eng.campus.test']);
  const sent = [];
  for (const text of ['one', 'two', 'three', 'four', 'five'])
    sent.push(await bob.send({ conversationId: group.id, text }));
  await expect.poll(() => texts(alice.messages, group.id), { timeout: 15_000 }).toHaveLength(5);
  return { alice, group, sent };
}

async function restart(name: 'eng' | 'arts') {
  await campus.stopNode(name);
  await campus.restartNode(name);
}

describe('POST /federation/v1/highest-seqs', () => {
  it('answers a home how far the copies of its conversations go, and nobody else', async () => {
    const { group, sent } = await groupWithFive('Asked');
    const ask = async (from: 'arts' | 'law', conversationIds: unknown) => {
      const { send } = await signedPost(campus, from, 'eng', '/federation/v1/highest-seqs', { conversationIds });
      const response = await send();
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const unknown = randomUUID();
    expect(await ask('arts', [group.id, unknown])).toEqual({
      status: 200,
      body: { seqs: { [group.id]: sent[4]!.seq } },
    });
    // law is not the group's home: it learns nothing of it.
    expect(await ask('law', [group.id])).toEqual({ status: 200, body: { seqs: {} } });
    expect((await ask('arts', ['not an id'])).status).toBe(400);
    expect((await ask('arts', [])).status).toBe(400);
  });
});

describe('a home that starts', () => {
  it('restarted as usual, changes no counter and warns of nothing', async () => {
    await groupWithFive('Usual');
    const before = { arts: await counters('arts'), eng: await counters('eng') };
    const warned = behindWarnings(logs.arts).length;
    await restart('arts');
    await restart('eng');
    expect({ arts: await counters('arts'), eng: await counters('eng') }).toEqual(before);
    expect(behindWarnings(logs.arts)).toHaveLength(warned);
    expect(behindWarnings(logs.eng)).toHaveLength(0);
  });

  it('restored from a backup older than a copy, numbers past the copy before its next message', async () => {
    const { group, sent } = await groupWithFive('Restored');
    // arts comes back from a dump taken before "four": its last two entries, and its counter, are as they were.
    const { Message, Conversation } = campus.nodes.arts.models;
    const cut = sent[3]!.seq - 1;
    await Message.destroy({ where: { conversationId: group.id, seq: { [Op.gt]: cut } } });
    await Conversation.update({ lastSeq: cut }, { where: { id: group.id } });
    const warned = behindWarnings(logs.arts).length;
    await restart('arts');

    // It asked eng as it started, and says once how many conversations were behind, and by how much.
    expect(behindWarnings(logs.arts).slice(warned)).toEqual([
      expect.objectContaining({ conversations: 1, mostBehind: sent[4]!.seq - cut }),
    ]);
    expect((await counters('arts'))[group.id]).toBe(sent[4]!.seq);

    // Its next message reaches eng, numbered after what eng holds, and nobody is told of a failure.
    const bob = await as('bob', 'arts');
    const alice = await as('alice', 'eng');
    const next = await bob.send({ conversationId: group.id, text: 'after the restore' });
    expect(next.seq).toBe(sent[4]!.seq + 1);
    await expect
      .poll(() => alice.messages.find((m) => m.id === next.messageId)?.seq, { timeout: 15_000 })
      .toBe(next.seq);
    expect(await campus.nodes.arts.models.Message.count({ where: { kind: 'delivery.failed' } })).toBe(0);
    expect(logs.eng.filter((l) => l.code === 'sequence_taken')).toEqual([]);
  });

  it('starts when a domain holding copies cannot be asked, and moves no counter', async () => {
    const before = await counters('arts');
    await campus.stopNode('eng');
    try {
      await restart('arts');
      expect(await counters('arts')).toEqual(before);
    } finally {
      await campus.restartNode('eng');
    }
  });
});

// Restored without a restart, it has not asked how far the copies go: its entries clash by number.
describe('a home restored from a backup older than a copy, while it runs', () => {
  it('refuses its renumbered entries by name, numbers past the copy, and keeps everything else flowing', async () => {
    const { alice, group, sent } = await groupWithFive('Studio');
    const bob = await as('bob', 'arts');

    // arts comes back from a dump taken before "four": its last two entries, and its counter, are as they were.
    const { Message, Conversation } = campus.nodes.arts.models;
    const cut = sent[3]!.seq - 1;
    await Message.destroy({ where: { conversationId: group.id, seq: { [Op.gt]: cut } } });
    await Conversation.update({ lastSeq: cut }, { where: { id: group.id } });

    const again = await bob.send({ conversationId: group.id, text: 'four, written again' });
    expect(again.seq).toBe(cut + 1);
    // Everything queued behind it for eng still arrives: a group made after the clash.
    const fresh = await bob.createGroup('Fresh', ['alice@eng.campus.test']);
    await bob.send({ conversationId: fresh.id, text: 'hello from a new group' });
    await expect.poll(() => texts(alice.messages, fresh.id), { timeout: 15_000 }).toEqual(['hello from a new group']);

    // eng keeps what it holds and tells its operator, once, what happened and what to do.
    const engError = () => logs.eng.find((l) => l.level === 50 && l.msg.includes(group.id));
    await expect.poll(engError, { timeout: 15_000 }).toBeDefined();
    for (const part of ['arts.campus.test', `seq ${cut + 1}`, sent[3]!.messageId, again.messageId, 'backup'])
      expect(engError()!.msg).toContain(part);
    expect(logs.eng.filter((l) => l.level === 50 && l.msg.includes(group.id))).toHaveLength(1);
    expect(logs.eng.some((l) => l.err?.type === 'SequelizeUniqueConstraintError')).toBe(false);

    // arts says why, numbers the group past what eng holds, and tells the author it did not arrive there.
    const artsError = () => logs.arts.find((l) => l.level === 50 && l.msg.includes(group.id));
    await expect.poll(artsError, { timeout: 15_000 }).toBeDefined();
    for (const part of ['eng.campus.test', `seq ${cut + 1}`, again.messageId, 'backup'])
      expect(artsError()!.msg).toContain(part);
    const failed = await Message.findOne({ where: { conversationId: group.id, kind: 'delivery.failed' } });
    expect(failed).not.toBeNull();
    expect(JSON.parse(failed!.body)).toMatchObject({
      domain: 'eng.campus.test',
      messageIds: [again.messageId],
      reason: 'sequence_taken',
    });
    expect(failed!.seq).toBeGreaterThan(sent[4]!.seq);

    // What is written next reaches eng, numbered after what eng holds.
    const after = await bob.send({ conversationId: group.id, text: 'after the clash' });
    expect(after.seq).toBeGreaterThan(sent[4]!.seq);
    await expect
      .poll(() => alice.messages.find((m) => m.id === after.messageId)?.seq, { timeout: 15_000 })
      .toBe(after.seq);
    expect(texts(alice.messages, group.id)).toEqual(['one', 'two', 'three', 'four', 'five', 'after the clash']);
  });
});
