import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { Message } from '../../sdk/client.ts';
import { MAX_BODY_BYTES } from '../../protocol/client-frames.ts';

let gateway: TestGateway;
let eng: TestNode;

// A node whose operator allows long texts: 30,000 characters, in frames of up to 256 KiB. A text of
// 30,000 characters of a script of three bytes each is 90,000 bytes, more than a stored body holds.
beforeAll(async () => {
  gateway = await startTestGateway('im-message-size');
  eng = await startTestNode(gateway, 'eng.campus.test', { MAX_TEXT_CHARS: '30000', MAX_FRAME_BYTES: '262144' });
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('a message longer than a stored body holds', () => {
  it('is refused with too_large at once, is not sent again, and stores nothing; one that fits is delivered', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const dave = await connectAs(gateway, eng, 'dave');
    const direct = await alice.openDirect('dave@eng.campus.test');
    const received: Message[] = [];
    dave.on('message', (m) => received.push(m));

    const tooLong = '中'.repeat(30_000);
    await expect(
      alice.send({ conversationId: direct.id, text: tooLong, clientMsgId: 'too-long-0001' }),
    ).rejects.toMatchObject({
      code: 'too_large',
    });
    expect(alice.unsent).toBe(0);
    // Within the node's characters, but as JSON escapes six bytes each: 54,000 bytes of text.
    await expect(
      alice.send({ conversationId: direct.id, text: '\u0001'.repeat(12_000), clientMsgId: 'too-long-0002' }),
    ).rejects.toMatchObject({ code: 'too_large' });

    const fits = '中'.repeat(21_000);
    const ack = await alice.send({ conversationId: direct.id, text: fits, clientMsgId: 'fits-0001' });
    await expect.poll(() => received.find((m) => m.id === ack.messageId)?.text).toBe(fits);
    expect(await eng.models.Message.count({ where: { clientMsgId: ['too-long-0001', 'too-long-0002'] } })).toBe(0);
    const stored = await eng.models.Message.findOne({ where: { clientMsgId: 'fits-0001' } });
    expect(Buffer.byteLength(stored!.body)).toBeLessThanOrEqual(MAX_BODY_BYTES);
    alice.close();
    dave.close();
  });

  it('refuses an edit to a text the message would no longer hold, and keeps the text it had', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const direct = await alice.openDirect('dave@eng.campus.test');
    const ack = await alice.send({ conversationId: direct.id, text: 'short and sweet' });
    await expect(alice.edit(ack.messageId, '中'.repeat(25_000), 'too-long-edit-01')).rejects.toMatchObject({
      code: 'too_large',
    });
    const target = await eng.models.Message.findOne({ where: { id: ack.messageId } });
    expect(JSON.parse(target!.body)).toEqual({ text: 'short and sweet' });
    expect(target!.editedAt).toBeNull();
    expect(await eng.models.Message.count({ where: { clientMsgId: 'too-long-edit-01' } })).toBe(0);
    const edited = await alice.edit(ack.messageId, '中'.repeat(20_000));
    expect(edited.duplicate).toBe(false);
    alice.close();
  });
});
