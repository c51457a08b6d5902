import { Op } from 'sequelize';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';

type Log = { level: number; msg: string; err?: { type?: string } };

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

describe('a home restored from a backup older than a copy of its conversation', () => {
  it('refuses its renumbered entries by name, numbers past the copy, and keeps everything else flowing', async () => {
    const bob = await as('bob', 'arts');
    const alice = await as('alice', 'eng');
    const group = await bob.createGroup('Studio', ['alice@eng.campus.test']);
    const sent = [];
    for (const text of ['one', 'two', 'three', 'four', 'five'])
      sent.push(await bob.send({ conversationId: group.id, text }));
    await expect.poll(() => texts(alice.messages, group.id), { timeout: 15_000 }).toHaveLength(5);

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
