import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, registerTestApp, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';

const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';
const CONTROL = /control characters/;
const INVISIBLE = /needs a visible character/;

/** Titles and names that would show other than typed, or show nothing, with what each is refused for. */
const UNPLAIN: [string, RegExp][] = [
  ['Exam results \u202Eevil', CONTROL],
  ['NUL\u0000inside', CONTROL],
  ['two\nlines', CONTROL],
  ['isolated \u2066name\u2069', CONTROL],
  ['\u200B', INVISIBLE],
  ['\u200B\u3000\u2060\uFEFF', INVISIBLE],
];

let gateway: TestGateway;
let eng: TestNode;
let alice: Awaited<ReturnType<typeof connectAs>>;

beforeAll(async () => {
  gateway = await startTestGateway('plain-names');
  eng = await startTestNode(gateway, 'eng.campus.test');
  alice = await connectAs(gateway, eng, 'alice');
  await registerTestApp(gateway, {
    name: 'Leave Approval',
    slug: 'leave-desk',
    redirectUris: ['https://leave.test/cb'],
  });
});
afterAll(async () => {
  alice?.close();
  await eng?.stop();
  await gateway?.stop();
});

/** Alice's request to her node's HTTP API, with her token. */
async function api(path: string, body: unknown) {
  const response = await fetch(`${eng.localUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await alice.login.tokenFor(eng.url)}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: Record<string, unknown> } };
}

const titles = async () => (await alice.conversations()).map((c) => c.title);

describe('group titles', () => {
  it('with control or bidi characters, or nothing visible, are refused on a socket and over HTTP, and no group is made', async () => {
    const before = await titles();
    for (const [title, why] of UNPLAIN) {
      await expect(alice.createGroup(title, [DAVE])).rejects.toMatchObject({
        code: 'invalid_frame',
        fields: { title: expect.stringMatching(why) },
      });
      expect(await api('/conversations', { title, members: [DAVE] })).toMatchObject({
        status: 400,
        body: { error: { code: 'invalid_input', fields: { title: expect.stringMatching(why) } } },
      });
    }
    expect(await titles()).toEqual(before);
  });

  it('with control or bidi characters, or nothing visible, are refused on rename, and the title stays', async () => {
    const group = await alice.createGroup('Reading club', [DAVE]);
    for (const [title, why] of UNPLAIN) {
      await expect(alice.renameGroup(group.id, title)).rejects.toMatchObject({
        code: 'invalid_frame',
        fields: { title: expect.stringMatching(why) },
      });
    }
    expect((await alice.conversations()).find((c) => c.id === group.id)?.title).toBe('Reading club');
  });

  it('in right-to-left scripts, with their marks, joiners and emoji, are kept as typed', async () => {
    for (const title of ['مجموعة الدراسة', 'קבוצה \u200Fא', 'می\u200Cخواهم', '👩‍💻 Devs']) {
      expect((await alice.createGroup(title, [DAVE])).title).toBe(title);
    }
  });
});

describe('webhook names', () => {
  it('with control or bidi characters, or nothing visible, are refused on a socket and over HTTP, and no webhook is made', async () => {
    const group = await alice.createGroup('Build results', [DAVE]);
    for (const [name, why] of UNPLAIN) {
      await expect(alice.createWebhook(group.id, name)).rejects.toMatchObject({
        code: 'invalid_frame',
        fields: { name: expect.stringMatching(why) },
      });
      expect(await api(`/conversations/${group.id}/webhooks`, { name })).toMatchObject({
        status: 400,
        body: { error: { code: 'invalid_input', fields: { name: expect.stringMatching(why) } } },
      });
    }
    expect(await alice.webhooks(group.id)).toEqual([]);
  });

  it("that pass for a member's name, however written, are refused on a socket and over HTTP", async () => {
    const group = await alice.createGroup('Course team', [DAVE, CAROL]);
    const written = [
      'Carol Silva',
      'CAROL SILVA',
      'Cárol  Silva.',
      'Ｃａｒｏｌ Ｓｉｌｖａ',
      'Carol\u200B Silva',
      'carol',
    ];
    for (const name of written) {
      await expect(alice.createWebhook(group.id, name)).rejects.toMatchObject({
        code: 'invalid_input',
        fields: { name: expect.stringMatching(/is the name of a member of this group: a webhook cannot take/) },
      });
    }
    expect(await api(`/conversations/${group.id}/webhooks`, { name: 'Dave Okafor' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: { name: expect.stringMatching(/^Dave Okafor is the name/) } } },
    });
    expect(await alice.webhooks(group.id)).toEqual([]);
    // A name of its own, one that says whose it is, is fine.
    const { webhook } = await alice.createWebhook(group.id, "Carol Silva's reminders");
    expect(webhook.name).toBe("Carol Silva's reminders");
  });

  it("that pass for an app's name or someone's on campus outside the group are refused", async () => {
    const group = await alice.createGroup('Lab notices', [DAVE]);
    for (const name of ['Leave Approval', 'LEAVE-APPROVAL', 'leave desk']) {
      await expect(alice.createWebhook(group.id, name)).rejects.toMatchObject({
        code: 'invalid_input',
        fields: {
          name: 'Leave Approval is the name of an app: a webhook cannot take the name of a person or an app, so that nobody takes its posts for theirs',
        },
      });
    }
    await expect(alice.createWebhook(group.id, 'Enzo Engineer')).rejects.toMatchObject({
      code: 'invalid_input',
      fields: { name: expect.stringMatching(/^Enzo Engineer is the name of someone on campus/) },
    });
    expect(await alice.webhooks(group.id)).toEqual([]);
  });
});
