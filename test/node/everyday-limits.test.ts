import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { typedBytes } from '../helpers/typed-bytes.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { limitInWords } from '../../node/attachments/attachment-files.ts';
import { refusedKindInWords } from '../../node/attachments/kinds-in-words.ts';
import { DEFAULT_ATTACHMENT_TYPES } from '../../node/config.ts';
import type { Message } from '../../sdk/client.ts';

const MAX_TEXT = 500;
const RECALL_WINDOW = 45;
const DAVE = 'dave@eng.campus.test';

type Device = Awaited<ReturnType<typeof connectAs>>;

let gateway: TestGateway;
let eng: TestNode;
let alice: Device;
let dave: Device;

beforeAll(async () => {
  gateway = await startTestGateway('im-everyday-limits');
  await createUser(
    { ...gateway.context(null), actor: operator('test') },
    {
      username: 'chenwei',
      displayName: '陈伟',
      email: 'chenwei@campus.test',
      password: DEMO_PASSWORD,
      roles: ['student'],
      units: ['campus/eng/cs'],
    },
  );
  // The attachment types are the default ones; the size limit is small so a test can pass it.
  eng = await startTestNode(gateway, 'eng.campus.test', {
    ATTACHMENT_MAX_BYTES: String(64 * 1024),
    MAX_TEXT_CHARS: String(MAX_TEXT),
    RECALL_WINDOW_SECONDS: String(RECALL_WINDOW),
  });
  [alice, dave] = await Promise.all([connectAs(gateway, eng, 'alice'), connectAs(gateway, eng, 'dave')]);
});
afterAll(async () => {
  for (const c of [alice, dave]) c?.close();
  await eng?.stop();
  await gateway?.stop();
});

const api = (path: string) => `${eng.url}/api/v1${path}`;
const bearer = async (who: Device) => ({ authorization: `Bearer ${await who.login.tokenFor(eng.url)}` });

const OFFICE = [
  ['essay.docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  ['marks.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
  ['lecture.pptx', 'application/vnd.openxmlformats-officedocument.presentationml.presentation'],
  ['old essay.doc', 'application/msword'],
  ['old marks.xls', 'application/vnd.ms-excel'],
  ['old lecture.ppt', 'application/vnd.ms-powerpoint'],
  ['notes.odt', 'application/vnd.oasis.opendocument.text'],
  ['budget.ods', 'application/vnd.oasis.opendocument.spreadsheet'],
  ['talk.odp', 'application/vnd.oasis.opendocument.presentation'],
  ['readme.txt', 'text/plain'],
  ['grades.csv', 'text/csv'],
] as const;

describe('attachments a campus shares, by default', () => {
  it('takes Word, Excel, PowerPoint, OpenDocument, text and CSV files, and serves each only as a download', async () => {
    for (const [name, type] of OFFICE) {
      const script = new TextEncoder().encode(`<script>alert(1)</script> ${name}`);
      // Each begins as its kind of file does; what follows is a page's script, which no browser runs from here.
      const bytes = type.startsWith('text/') ? script : new Uint8Array([...typedBytes(type, 16), ...script]);
      const uploaded = await alice.upload(bytes, name, type);
      expect(uploaded).toMatchObject({ name, contentType: type });
      const served = await fetch(api(`/attachments/${uploaded.id}`), { headers: await bearer(alice) });
      expect(served.status).toBe(200);
      expect(served.headers.get('content-type')).toContain(type);
      expect(served.headers.get('content-disposition')).toMatch(/^attachment;/);
      expect(served.headers.get('x-content-type-options')).toBe('nosniff');
      expect(served.headers.get('content-security-policy')).toMatch(/sandbox/);
    }
  });

  it('still refuses a type a browser would run, such as HTML or SVG', async () => {
    for (const type of ['text/html', 'image/svg+xml']) {
      await expect(alice.upload(new Uint8Array([60, 98, 62]), 'page', type)).rejects.toMatchObject({
        code: 'unsupported_media_type',
      });
    }
  });

  it('says in a short sentence which kinds it takes when it refuses one, and tells clients the types', async () => {
    const takes = 'pictures, PDFs, Office documents, text files and zip files can.';
    const refusal = async (type: string) => {
      const refused = await fetch(api('/attachments?name=x'), {
        method: 'POST',
        headers: { ...(await bearer(alice)), 'content-type': type },
        body: new Uint8Array([1]),
      });
      const { error } = await refused.json();
      return [refused.status, error.code, error.message];
    };
    expect(await refusal('video/mp4')).toEqual([415, 'unsupported_media_type', `Videos cannot be sent here; ${takes}`]);
    expect(await refusal('text/html; charset=utf-8')).toEqual([
      415,
      'unsupported_media_type',
      `Web pages cannot be sent here; ${takes}`,
    ]);
    // A type of a kind it takes in other types is named; what is no type at all is not repeated back.
    expect((await refusal('image/svg+xml'))[2]).toBe(`Files of type image/svg+xml cannot be sent here; ${takes}`);
    expect((await refusal(`x/${'<b>'.repeat(50)}`))[2]).toBe(`Files of an unknown type cannot be sent here; ${takes}`);
    // The exact types, for a file picker, come with `ready`.
    expect(alice.attachmentTypes).toEqual(DEFAULT_ATTACHMENT_TYPES);
    // A node that takes fewer kinds names just those.
    expect(refusedKindInWords('application/pdf', ['image/png', 'image/jpeg'])).toBe(
      'PDFs cannot be sent here; pictures can.',
    );
    expect(refusedKindInWords('audio/ogg', [])).toBe('Files cannot be sent here.');
  });

  it('says the size limit in words people use', async () => {
    const refused = await fetch(api('/attachments?name=big.zip'), {
      method: 'POST',
      headers: { ...(await bearer(alice)), 'content-type': 'application/zip' },
      body: new Uint8Array(64 * 1024 + 1),
    });
    expect(refused.status).toBe(413);
    expect((await refused.json()).error.message).toBe('Attachments may be at most 64 KB');
    expect(limitInWords(20 * 1024 * 1024)).toBe('20 MB');
    expect(limitInWords(1.55 * 1024 * 1024)).toBe('1.5 MB');
    expect(limitInWords(1000)).toBe('1000 bytes');
  });
});

describe('the text limit', () => {
  it('is told to a client when it connects, and stated when a longer text is refused', async () => {
    expect(alice.maxTextChars).toBe(MAX_TEXT);
    await expect(alice.send({ to: DAVE, text: 'x'.repeat(MAX_TEXT + 1) })).rejects.toMatchObject({
      message: `The message is too long (at most ${MAX_TEXT} characters)`,
    });
  });
});

describe('the recall window', () => {
  it('is told to a client when it connects, so that it offers a recall only while the node takes one', () => {
    expect(alice.recallWindowMs).toBe(RECALL_WINDOW * 1000);
  });
});

describe('searching with one Chinese, Japanese or Korean character', () => {
  it('finds messages by one ideograph, kana or hangul, and still refuses one Latin letter', async () => {
    const pushed = dave.once('message', (m: Message) => m.text === '陈老师明天到 カメラ 김선생님');
    await alice.send({ to: DAVE, text: '陈老师明天到 カメラ 김선생님' });
    await pushed;
    for (const one of ['陈', 'カ', '김']) {
      await expect
        .poll(async () => (await dave.search(one)).map((m) => m.text))
        .toEqual(['陈老师明天到 カメラ 김선생님']);
    }
    await expect(dave.search('a')).rejects.toMatchObject({ code: 'invalid_frame' });
  });

  it('finds a person by a one-character surname in the directory, and still refuses one Latin letter', async () => {
    const found = await fetch(api(`/directory?q=${encodeURIComponent('陈')}`), { headers: await bearer(alice) });
    expect(found.status).toBe(200);
    expect((await found.json()).people.map((p: { username: string }) => p.username)).toEqual(['chenwei']);
    const refused = await fetch(api('/directory?q=c'), { headers: await bearer(alice) });
    expect(refused.status).toBe(400);
  });
});
