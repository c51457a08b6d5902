import { describe, expect, it } from 'vitest';
import { AtriumClient, type AtriumError, type Conversation, type Message, type Typing } from '../../sdk/client.ts';

const NOW = new Date().toISOString();

/** A node that answers as told: enough of one for the SDK to connect, and a way to push any text at it. */
class FakeNode {
  static last: FakeNode | undefined;
  readyState = 1;
  onopen: (() => void) | undefined;
  onmessage: ((event: { data: string }) => void) | undefined;
  onclose: ((event: { code: number; reason: string }) => void) | undefined;
  onerror: (() => void) | undefined;
  /** What answers a request of a type, when not the usual reply. */
  answers = new Map<string, (id: string) => Record<string, unknown>>();

  constructor() {
    FakeNode.last = this;
    setTimeout(() => this.onopen?.(), 0);
  }

  send(data: string) {
    const frame = JSON.parse(data) as { id: string; type: string };
    const usual: Record<string, (id: string) => Record<string, unknown>> = {
      auth: (re) => ({
        v: 1,
        type: 'ready',
        re,
        address: 'alice@eng.campus.test',
        expiresAt: NOW,
        serverTime: NOW,
        maxFrameBytes: 65536,
        rateLimit: { framesPerSecond: 50, burst: 50 },
      }),
      sync: (re) => ({
        v: 1,
        type: 'sync.result',
        re,
        conversations: [],
        messages: [],
        more: [],
        removed: [],
        cursor: NOW,
      }),
      ping: (re) => ({ v: 1, type: 'pong', re, serverTime: NOW }),
    };
    const answer = this.answers.get(frame.type) ?? usual[frame.type];
    if (answer) setTimeout(() => this.push(JSON.stringify(answer(frame.id))), 0);
  }

  push(text: string) {
    this.onmessage?.({ data: text });
  }

  close() {
    this.readyState = 3;
    this.onclose?.({ code: 1000, reason: '' });
  }
}

const message = (seq: number): Message => ({
  id: `m${seq}`,
  conversationId: 'c1',
  seq,
  sender: 'dave@eng.campus.test',
  clientMsgId: `client-${seq}`.padEnd(8, '0'),
  kind: 'text',
  refId: null,
  text: `hello ${seq}`,
  createdAt: NOW,
  editedAt: null,
  recalledAt: null,
});

async function connected() {
  const sdk = new AtriumClient({
    url: 'ws://node.test/ws',
    token: () => 'a-token-long-enough',
    WebSocket: FakeNode as unknown as typeof WebSocket,
    requestTimeoutMs: 1_000,
  });
  const errors: AtriumError[] = [];
  const messages: Message[] = [];
  sdk.on('error', (e) => errors.push(e));
  sdk.on('message', (m) => messages.push(m));
  await sdk.connect();
  await new Promise((resolve) => setTimeout(resolve, 10));
  return { sdk, node: FakeNode.last!, errors, messages };
}

describe('the SDK reading frames', () => {
  it('reports a frame it cannot read as an error and goes on with the next one', async () => {
    const { sdk, node, errors, messages } = await connected();
    node.push('{"v":1,');
    node.push(JSON.stringify({ v: 1, type: 'message.teleported', message: message(1) }));
    node.push(JSON.stringify({ v: 1, type: 'message', message: { ...message(2), seq: 'two' } }));
    node.push(JSON.stringify({ v: 1, type: 'receipt', conversationId: 'c1', address: 'dave@eng.campus.test' }));
    node.push(JSON.stringify({ v: 1, type: 'message', message: message(3) }));
    expect(errors.map((e) => e.code)).toEqual([
      'unexpected_frame',
      'unexpected_frame',
      'unexpected_frame',
      'unexpected_frame',
    ]);
    expect(errors[1]!.message).toContain('message.teleported');
    expect(messages.map((m) => m.id)).toEqual(['m3']);
    expect(sdk.state).toBe('online');
    sdk.close();
  });

  it('keeps what a newer node adds to a message, and drops what it adds to a frame', async () => {
    const { sdk, node, errors, messages } = await connected();
    node.push(
      JSON.stringify({ v: 1, type: 'message', message: { ...message(4), reactions: ['👍'] }, priority: 'high' }),
    );
    expect(errors).toEqual([]);
    expect(messages[0]).toMatchObject({ id: 'm4', reactions: ['👍'] });
    sdk.close();
  });

  it('counts the members of a view from a node before member pages, which listed them all', async () => {
    const { sdk, node, errors } = await connected();
    const views: Conversation[] = [];
    sdk.on('conversation', (c) => views.push(c));
    const member = (address: string) => ({ address, role: 'member', readSeq: 0, deliveredSeq: 0 });
    const older = {
      id: 'g1',
      kind: 'group',
      homeDomain: 'eng.campus.test',
      title: 'Older node',
      lastSeq: 1,
      updatedAt: NOW,
      joinedSeq: 0,
      readSeq: 0,
      unread: 0,
      members: [member('alice@eng.campus.test'), member('dave@eng.campus.test'), member('carol@eng.campus.test')],
    };
    node.push(JSON.stringify({ v: 1, type: 'conversation', conversation: older }));
    expect(errors).toEqual([]);
    expect(views[0]).toMatchObject({ id: 'g1', memberCount: 3 });
    // Its entries still keep the whole list, and the count with it.
    node.push(
      JSON.stringify({
        v: 1,
        type: 'message',
        message: {
          ...message(2),
          conversationId: 'g1',
          kind: 'system',
          event: 'member.left',
          members: ['carol@eng.campus.test'],
        },
      }),
    );
    expect(views.at(-1)).toMatchObject({ memberCount: 2 });
    expect(views.at(-1)!.members.map((m) => m.address)).toEqual(['alice@eng.campus.test', 'dave@eng.campus.test']);
    sdk.close();
  });

  it('passes on a group change whose fields break its event as a change it cannot name, and applies nothing of it', async () => {
    const { sdk, node, errors, messages } = await connected();
    const views: Conversation[] = [];
    sdk.on('conversation', (c) => views.push(c));
    const member = (address: string) => ({ address, role: 'member', readSeq: 0, deliveredSeq: 0 });
    const group = {
      id: 'g2',
      kind: 'group',
      homeDomain: 'law.campus.test',
      title: 'Moot court',
      lastSeq: 1,
      updatedAt: NOW,
      joinedSeq: 0,
      readSeq: 0,
      unread: 0,
      memberCount: 2,
      members: [member('alice@eng.campus.test'), member('lena@law.campus.test')],
    };
    node.push(JSON.stringify({ v: 1, type: 'conversation', conversation: group }));
    const change = (seq: number, fields: Record<string, unknown>) =>
      JSON.stringify({
        v: 1,
        type: 'message',
        message: { ...message(seq), conversationId: 'g2', sender: 'lena@law.campus.test', kind: 'system', ...fields },
      });
    const by = 'lena@law.campus.test';
    node.push(change(2, { event: 'member.joined', by, members: [42] }));
    node.push(change(3, { event: 'member.role', by, members: ['alice@eng.campus.test'], role: 'emperor' }));
    node.push(change(4, { event: 'group.renamed', by, title: { text: 'Moot' } }));
    node.push(change(5, { event: 'member.left', members: ['lena@law.campus.test'], owner: 7 }));
    // An event this version does not know is a newer node's: it passes as it came.
    node.push(change(6, { event: 'group.archived', by, members: [42] }));
    expect(errors).toEqual([]);
    expect(messages.map((m) => m.seq)).toEqual([2, 3, 4, 5, 6]);
    for (const unreadable of messages.slice(0, 4)) {
      expect(unreadable).toMatchObject({ kind: 'system', sender: by });
      for (const field of ['event', 'by', 'members', 'count', 'title', 'owner', 'role'])
        expect(unreadable).not.toHaveProperty(field);
    }
    expect(messages[4]).toMatchObject({ event: 'group.archived', members: [42] });
    expect(views).toHaveLength(1);
    expect(views[0]).toMatchObject({ title: 'Moot court', memberCount: 2 });
    // The same fields in their shape still change the group.
    node.push(change(7, { event: 'group.renamed', by, title: 'Moot court (spring)' }));
    expect(views.at(-1)).toMatchObject({ title: 'Moot court (spring)' });
    sdk.close();
  });

  it('shows collapsed typing as the node sent it', async () => {
    const { sdk, node, errors } = await connected();
    const typed: Typing[] = [];
    sdk.on('typing', (t) => typed.push(t));
    const several = {
      conversationId: 'g1',
      address: 'dave@eng.campus.test',
      several: true,
      count: 4,
      addresses: ['dave@eng.campus.test', 'carol@eng.campus.test', 'alice@eng.campus.test'],
    };
    node.push(JSON.stringify({ v: 1, type: 'typing', ...several }));
    expect(errors).toEqual([]);
    expect(typed).toEqual([{ v: 1, type: 'typing', ...several }]);
    sdk.close();
  });

  it("refuses a reply of another type than its request's", async () => {
    const { sdk, node } = await connected();
    node.answers.set('ping', (re) => ({ v: 1, type: 'ok', re }));
    await expect(sdk.request('ping')).rejects.toMatchObject({ code: 'unexpected_frame' });
    sdk.close();
  });
});
