import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';
import { frameId, openRaw, type RawSocket } from '../helpers/raw-socket.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { isErrorCode, serverFrameSchema } from '../../protocol/frames.ts';
import type { AtriumError } from '../../sdk/client.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
const sockets: RawSocket[] = [];

beforeAll(async () => {
  gateway = await startTestGateway('protocol-frames');
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  for (const s of sockets) s.socket.close();
  await eng?.stop();
  await gateway?.stop();
});

async function signedIn(username: string): Promise<RawSocket> {
  const who = await login(gateway, username);
  const raw = await openRaw(eng.url);
  sockets.push(raw);
  const id = frameId();
  raw.send({ v: 1, id, type: 'auth', token: await who.tokenFor(eng.url) });
  await raw.next((f) => f.re === id);
  return raw;
}

/** Sends a client frame and waits for the node's answer to it. */
async function ask(
  raw: RawSocket,
  type: string,
  fields: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const id = frameId();
  raw.send({ v: 1, id, type, ...fields });
  return raw.next((f) => f.re === id);
}

describe('the server frames of protocol/', () => {
  it('read every frame a node sends in a realistic session', async () => {
    const alice = await signedIn('alice');
    const dave = await signedIn('dave');
    // The SDK validates what it receives itself: it reports a frame it cannot read as an error event.
    const carol = await connectAs(gateway, eng, 'carol');
    const unread: AtriumError[] = [];
    carol.on('error', (error) => unread.push(error));

    await ask(alice, 'ping');
    await ask(alice, 'presence.query', { addresses: [DAVE, CAROL] });
    const direct = (await ask(alice, 'direct.open', { peer: DAVE })).conversation as { id: string };
    const sent = await ask(alice, 'send', {
      clientMsgId: 'frames-0001',
      conversationId: direct.id,
      text: 'hello @dave',
      mentions: [DAVE],
    });
    await dave.next((f) => f.type === 'message');
    await ask(alice, 'send', {
      clientMsgId: 'frames-0001',
      conversationId: direct.id,
      text: 'hello @dave',
      mentions: [DAVE],
    });
    await ask(alice, 'typing', { conversationId: direct.id });
    await dave.next((f) => f.type === 'typing');
    await ask(dave, 'delivered', { conversationId: direct.id, seq: sent.seq });
    await ask(dave, 'read', { conversationId: direct.id, seq: sent.seq });
    await alice.next((f) => f.type === 'receipt' && f.re === undefined);
    await ask(alice, 'edit', { clientMsgId: 'frames-0002', messageId: sent.messageId, text: 'hello again' });
    await ask(alice, 'recall', { clientMsgId: 'frames-0003', messageId: sent.messageId });
    await ask(dave, 'presence.set', { status: 'away' });
    await alice.next((f) => f.type === 'presence' && f.status === 'away');

    const group = (
      await ask(alice, 'group.create', { title: 'Frames', members: [DAVE, CAROL], clientId: 'frames-group-1' })
    ).conversation as { id: string };
    await dave.next((f) => f.type === 'conversation' && f.re === undefined);
    await ask(alice, 'group.rename', { conversationId: group.id, title: 'Frames, renamed' });
    await ask(alice, 'group.role', { conversationId: group.id, member: DAVE, role: 'admin' });
    const inGroup = await ask(alice, 'send', {
      clientMsgId: 'frames-0004',
      conversationId: group.id,
      text: 'to the group',
    });
    await Promise.all([
      carol.markRead(group.id, Number(inGroup.seq)),
      ask(dave, 'read', { conversationId: group.id, seq: inGroup.seq }),
    ]);
    await ask(alice, 'webhook.create', { conversationId: group.id, name: 'CI' });
    const hooks = (await ask(alice, 'webhook.list', { conversationId: group.id })).webhooks as { id: string }[];
    await ask(alice, 'webhook.revoke', { webhookId: hooks[0]!.id });
    await ask(alice, 'search', { query: 'group' });
    await ask(alice, 'history', { conversationId: group.id });
    await ask(alice, 'sync', { cursors: { [group.id]: 0 } });
    await ask(alice, 'conversations.list');
    await ask(alice, 'members', { conversationId: group.id, limit: 2 });
    await ask(alice, 'read.counts', { conversationId: group.id, seqs: [inGroup.seq] });
    await ask(alice, 'group.remove', { conversationId: group.id, member: CAROL });
    await ask(dave, 'group.leave', { conversationId: group.id });

    // Refusals, each an error frame.
    await ask(alice, 'card.action', { messageId: '00000000-0000-4000-8000-000000000000', actionId: 'approve' });
    await ask(alice, 'send', { clientMsgId: 'frames-0005', conversationId: group.id, text: 'x', colour: 'red' });
    await ask(alice, 'teleport');
    alice.sendRaw('{"v":1,');
    alice.sendRaw(Buffer.from([1, 2, 3]), true);
    await alice.next((f) => f.type === 'error' && f.code === 'binary_not_supported');

    // Access ended at the gateway: the node tells the socket before closing it.
    const ops = () => ({ ...gateway.context(null), actor: operator('test') });
    await createUser(ops(), {
      username: 'erin',
      displayName: 'Erin',
      email: 'erin@campus.test',
      password: DEMO_PASSWORD,
      roles: ['student'],
      units: ['campus/eng/cs'],
    });
    const erin = await signedIn('erin');
    await updateUser(ops(), 'erin', { status: 'disabled' });
    await erin.closed;

    const frames = sockets.flatMap((s) => s.frames);
    const unreadable = frames.flatMap((frame) => {
      const parsed = serverFrameSchema.safeParse(frame);
      return parsed.success ? [] : [{ frame, issues: parsed.error.issues }];
    });
    expect(unreadable).toEqual([]);
    const codes = frames.flatMap((f) => (f.type === 'error' ? [String(f.code)] : []));
    expect(codes.filter((code) => !isErrorCode(code))).toEqual([]);
    expect(new Set(frames.map((f) => f.type))).toEqual(
      new Set([
        'ready',
        'pong',
        'presence.result',
        'conversation',
        'ack',
        'message',
        'ok',
        'typing',
        'receipt',
        'presence',
        'webhook',
        'webhooks',
        'search.result',
        'history.result',
        'sync.result',
        'conversations',
        'members.result',
        'read.counts.result',
        'error',
        'session.ended',
        // Receipts told to one device together come as one frame; whether these two do depends on timing.
        ...(frames.some((f) => f.type === 'receipts') ? ['receipts'] : []),
      ]),
    );
    expect(new Set(codes)).toEqual(
      new Set(['not_found', 'invalid_input', 'unknown_type', 'malformed_json', 'binary_not_supported']),
    );
    expect(unread.filter((e) => e.code === 'unexpected_frame')).toEqual([]);
    carol.close();
  });

  it("refuse a frame of a type no node sends, and one that breaks its type's shape", () => {
    expect(serverFrameSchema.safeParse({ v: 1, type: 'message.teleported' }).success).toBe(false);
    expect(
      serverFrameSchema.safeParse({
        v: 1,
        type: 'receipt',
        conversationId: 'c',
        address: ALICE,
        readSeq: -1,
        deliveredSeq: 0,
      }).success,
    ).toBe(false);
    expect(serverFrameSchema.safeParse({ v: 1, type: 'ok', re: 'f1' }).success).toBe(true);
  });
});
