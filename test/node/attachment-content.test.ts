import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { HEADS, PROGRAM, typedBytes } from '../helpers/typed-bytes.ts';
import type { Message } from '../../sdk/client.ts';

const MAX_BYTES = 4 * 1024 * 1024;
const DAVE = 'dave@eng.campus.test';

type Device = Awaited<ReturnType<typeof connectAs>>;

let gateway: TestGateway;
let eng: TestNode;
let alice: Device;
let dave: Device;

beforeAll(async () => {
  gateway = await startTestGateway('im-attachment-content');
  // The default types: pictures, PDFs, Office documents, text, CSV and zip files.
  eng = await startTestNode(gateway, 'eng.campus.test', { ATTACHMENT_MAX_BYTES: String(MAX_BYTES) });
  [alice, dave] = await Promise.all([connectAs(gateway, eng, 'alice'), connectAs(gateway, eng, 'dave')]);
});
afterAll(async () => {
  for (const c of [alice, dave]) c?.close();
  await eng?.stop();
  await gateway?.stop();
});

const api = (path: string) => `${eng.url}/api/v1${path}`;
const bearer = async (who: Device) => ({ authorization: `Bearer ${await who.login.tokenFor(eng.url)}` });
const download = async (who: Device, id: string) => fetch(api(`/attachments/${id}`), { headers: await bearer(who) });
const savedAs = async (who: Device, id: string) =>
  /filename\*=UTF-8''(.*)$/.exec((await download(who, id)).headers.get('content-disposition') ?? '')?.[1];

/** What a refused upload must not leave behind: files on disk (`.part` ones too) and attachment rows. */
async function stored() {
  const dir = eng.config.attachments.dir;
  return { files: existsSync(dir) ? readdirSync(dir).sort() : [], rows: await eng.models.Attachment.count() };
}

async function post(name: string, type: string, body: BodyInit, extra: RequestInit = {}) {
  const response = await fetch(api(`/attachments?name=${encodeURIComponent(name)}`), {
    method: 'POST',
    headers: { ...(await bearer(alice)), 'content-type': type },
    body,
    ...extra,
  } as RequestInit);
  return { status: response.status, body: await response.json() };
}

describe("a file's bytes must be of the type it is sent as", () => {
  it('refuses a program sent as a picture, a PDF, a text or a CSV, saying why, and keeps nothing of it', async () => {
    const before = await stored();
    for (const [name, type, called] of [
      ['setup.exe', 'image/png', 'a PNG picture'],
      ['Exam-solutions.pdf.exe', 'application/pdf', 'a PDF'],
      ['grades.html', 'text/plain', 'a text file'],
      ['run.bat', 'text/csv', 'a text file'],
      ['x.svg', 'image/png', 'a PNG picture'],
    ]) {
      expect(await post(name!, type!, PROGRAM), name).toEqual({
        status: 415,
        body: {
          error: {
            code: 'unsupported_media_type',
            message: `This file is not really ${called} (was it renamed from another kind of file?), so it was not saved.`,
          },
        },
      });
    }
    expect(await stored()).toEqual(before);
  });

  it('takes each default type whose bytes begin as its files do, and refuses a program sent as any of them', async () => {
    const before = await stored();
    for (const type of Object.keys(HEADS)) {
      expect((await post('x', type, PROGRAM)).status, type).toBe(415);
      expect((await post('x', type, typedBytes(type, 100))).body, type).toMatchObject({ contentType: type });
    }
    expect((await stored()).rows).toBe(before.rows + Object.keys(HEADS).length);
    // A PDF reader finds the header after a few stray bytes, a Word document may be RTF, a zip may be empty.
    expect((await post('a.pdf', 'application/pdf', '\r\n%PDF-1.4\n')).status).toBe(201);
    expect((await post('old.doc', 'application/msword', '{\\rtf1\\ansi hello}')).status).toBe(201);
    expect(
      (await post('empty.zip', 'application/zip', new Uint8Array([0x50, 0x4b, 5, 6, ...new Array(18).fill(0)]))).status,
    ).toBe(201);
  });

  it('takes text in any encoding Windows or a Mac saves, and refuses text with binary bytes anywhere in it', async () => {
    const western = new Uint8Array([
      ...new TextEncoder().encode('name;grade\r\nM'),
      0xfc,
      ...new TextEncoder().encode('ller;2\r\n'),
    ]);
    expect((await post('grades.csv', 'text/csv', western)).status).toBe(201);
    expect((await post('notes.txt', 'text/plain', '\ufeffÉtudes\t✓\f\x1b[1mlog\x1b[0m\n')).status).toBe(201);
    const utf16 = new Uint8Array([0xff, 0xfe, ...[...'Noten\t1,3\r\n'].flatMap((c) => [c.charCodeAt(0), 0])]);
    expect((await post('unicode.txt', 'text/plain', utf16)).status).toBe(201);

    const before = await stored();
    const late = new Uint8Array(300 * 1024).fill(0x61);
    late[200 * 1024] = 0;
    expect(await post('long.txt', 'text/plain', late)).toMatchObject({
      status: 415,
      body: { error: { code: 'unsupported_media_type' } },
    });
    // UTF-16 cut in the middle of a character is not text either.
    expect((await post('cut.txt', 'text/plain', utf16.subarray(0, 5))).status).toBe(415);
    expect(await stored()).toEqual(before);
  });

  it('judges a streamed upload by its first bytes: refused for its type before its size, kept whole when right', async () => {
    const before = await stored();
    // Twice the size limit, with no length announced: a node that read it all first would say it is too large.
    let sent = 0;
    const oversized = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 2 * MAX_BYTES) return controller.close();
        controller.enqueue(sent === 0 ? PROGRAM : new Uint8Array(64 * 1024));
        sent += sent === 0 ? PROGRAM.length : 64 * 1024;
      },
    });
    const refused = await post('photo.png', 'image/png', oversized, { duplex: 'half' } as RequestInit);
    expect(refused).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    await expect.poll(() => stored()).toEqual(before);

    // A picture whose first bytes come one at a time is judged once they are all in.
    const png = typedBytes('image/png', 1000);
    let at = 0;
    const trickled = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (at >= png.length) return controller.close();
        await new Promise((r) => setTimeout(r, at < 10 ? 20 : 0));
        const size = at < 10 ? 1 : png.length - at;
        controller.enqueue(png.slice(at, at + size));
        at += size;
      },
    });
    const taken = await post('trickled.png', 'image/png', trickled, { duplex: 'half' } as RequestInit);
    expect(taken).toMatchObject({ status: 201, body: { name: 'trickled.png', size: 1000 } });
    expect(new Uint8Array(await (await download(alice, taken.body.id)).arrayBuffer())).toEqual(png);
  });

  it('stores a .csv that Windows sends as an Excel sheet as the CSV it is', async () => {
    const csv = await post('marks.csv', 'application/vnd.ms-excel', 'name,mark\r\nDave,A\r\n');
    expect(csv).toMatchObject({ status: 201, body: { name: 'marks.csv', contentType: 'text/csv' } });
    expect((await download(alice, csv.body.id)).headers.get('content-type')).toContain('text/csv');
    // A real old workbook stays one; text named as a workbook is not one.
    expect((await post('marks.xls', 'application/vnd.ms-excel', typedBytes('application/vnd.ms-excel'))).status).toBe(
      201,
    );
    expect((await post('marks.xls', 'application/vnd.ms-excel', 'name,mark\r\n')).status).toBe(415);
  });
});

describe("a file's name must agree with its type", () => {
  it('adds the type’s extension to a name that would run or open as something else, and offers it so', async () => {
    for (const [name, type, safe] of [
      ['setup.exe', 'image/png', 'setup.exe.png'],
      ['Exam-solutions.pdf.exe', 'application/pdf', 'Exam-solutions.pdf.exe.pdf'],
      ['grades.html', 'text/plain', 'grades.html.txt'],
      ['run.bat', 'text/csv', 'run.bat.csv'],
      ['x.svg', 'image/png', 'x.svg.png'],
      ['report.js', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'report.js.docx'],
      ['setup.exe. ', 'image/gif', 'setup.exe.gif'],
      ['scan', 'application/pdf', 'scan.pdf'],
      // Names that agree stay as typed.
      ['Holiday.JPEG', 'image/jpeg', 'Holiday.JPEG'],
      ['lab log.log', 'text/plain', 'lab log.log'],
    ]) {
      const uploaded = await alice.upload(typedBytes(type!), name!, type!);
      expect(uploaded.name, name).toBe(safe);
      expect(await savedAs(alice, uploaded.id)).toBe(encodeURIComponent(safe!));
      expect((await download(alice, uploaded.id)).headers.get('content-disposition')).toMatch(
        new RegExp(`^attachment; filename="${safe!.replace(/\./g, '\\.')}";`),
      );
    }
    // A name at the length limit gives way at its end to the extension.
    const long = await alice.upload(typedBytes('image/png'), `${'a'.repeat(251)}.exe`, 'image/png');
    expect(long.name).toBe(`${'a'.repeat(251)}.png`);
  });

  it('shows the safe name in the message the receiver gets, in history and in the uploader’s files', async () => {
    const uploaded = await alice.upload(typedBytes('image/png'), 'setup.exe', 'image/png');
    const pushed = dave.once('message', (m: Message) => m.attachments?.[0]?.id === uploaded.id);
    const sent = await alice.send({ to: DAVE, text: 'the installer, honest', attachments: [uploaded.id] });
    expect((await pushed).attachments?.[0]?.name).toBe('setup.exe.png');
    const { messages } = await dave.history(sent.conversationId);
    expect(messages.find((m) => m.id === sent.messageId)?.attachments?.[0]?.name).toBe('setup.exe.png');
    expect(await savedAs(dave, uploaded.id)).toBe('setup.exe.png');
    const own = await fetch(api('/attachments'), { headers: await bearer(alice) });
    expect((await own.json()).files.find((f: { id: string }) => f.id === uploaded.id).name).toBe('setup.exe.png');
  });

  it('offers a file stored before this check under a safe name too, wherever it is shown', async () => {
    // As an earlier node stored it: the name as typed, the bytes as sent.
    const id = randomUUID();
    await mkdir(eng.config.attachments.dir, { recursive: true });
    await writeFile(`${eng.config.attachments.dir}/${id}`, PROGRAM);
    await eng.models.Attachment.create({
      id,
      name: 'Exam-solutions.pdf.exe',
      contentType: 'application/pdf',
      size: PROGRAM.length,
      sha256: '0'.repeat(64),
      owner: 'alice@eng.campus.test',
      conversationId: null,
      createdAt: new Date(),
    });
    const pushed = dave.once('message', (m: Message) => m.attachments?.[0]?.id === id);
    await alice.send({ to: DAVE, text: 'solutions', attachments: [id] });
    expect((await pushed).attachments?.[0]?.name).toBe('Exam-solutions.pdf.exe.pdf');
    expect(await savedAs(dave, id)).toBe('Exam-solutions.pdf.exe.pdf');
    const own = await fetch(api('/attachments'), { headers: await bearer(alice) });
    expect((await own.json()).files.find((f: { id: string }) => f.id === id).name).toBe('Exam-solutions.pdf.exe.pdf');
  });
});
