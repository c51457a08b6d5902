import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import { typedBytes } from '../helpers/typed-bytes.ts';
import { portalPeople } from './portal-people.ts';
import { DEFAULT_ATTACHMENT_TYPES } from '../../node/config.ts';
import {
  chromiumMissing,
  launchChromium,
  openConversation,
  PHONE,
  signInToPortal,
  smallTargets,
  type Person,
} from './browser.ts';

const KIB = 1024;
/** ATTACHMENT_MAX_BYTES below: four of them fill the storage quota of 1 MiB. */
const MAX_BYTES = 256 * KIB;
/** A name with markup in it: it must show as typed, never as markup. */
const SLIDES = '<img src=x onerror=alert(1)> slides.pdf';

let campus: Campus;
let browser: Browser;
let alice: Person;
let bob: Person;
type Device = Awaited<ReturnType<typeof connectAs>>;
let sdk: { alice: Device; bob: Device; dave: Device; lena: Device };

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-files', {
    nodeEnv: {
      ATTACHMENT_MAX_BYTES: String(MAX_BYTES),
      ATTACHMENT_UNSHARED_QUOTA_MB: '1',
      ATTACHMENT_STORAGE_QUOTA_MB: '1',
    },
  });
  sdk = {
    alice: await connectAs(campus.gateway, campus.nodes.eng, 'alice'),
    bob: await connectAs(campus.gateway, campus.nodes.arts, 'bob'),
    dave: await connectAs(campus.gateway, campus.nodes.eng, 'dave'),
    lena: await connectAs(campus.gateway, campus.nodes.law, 'lena'),
  };
  browser = await launchChromium();
  alice = await signIn('alice');
  bob = await signIn('bob');
}, 90_000);

const { signIn, connect } = portalPeople(
  () => campus,
  () => browser,
);

afterAll(async () => {
  sdk?.alice.close();
  sdk?.bob.close();
  sdk?.dave.close();
  sdk?.lena.close();
  await browser?.close();
  await campus?.stop();
});

const pdf = (size: number) => typedBytes('application/pdf', size);
/** A picture of one pixel. */
const PIXEL = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);
const text = (name: string, content: string) => ({ name, mimeType: 'text/plain', buffer: Buffer.from(content) });

describe.skipIf(chromiumMissing)('Your files in the portal', () => {
  it('leads someone at their storage quota to their files, deletes one for everyone, and lets them upload again', {
    timeout: 90_000,
  }, async () => {
    // Alice has filled her room at eng: a message to Bob with two files, one with a third, one not sent yet.
    const slides = await sdk.alice.upload(pdf(MAX_BYTES), SLIDES, 'application/pdf');
    const notes = await sdk.alice.upload(pdf(MAX_BYTES), 'notes.pdf', 'application/pdf');
    const photo = await sdk.alice.upload(pdf(MAX_BYTES), 'photo.pdf', 'application/pdf');
    await sdk.alice.upload(pdf(MAX_BYTES), 'draft.pdf', 'application/pdf');
    await sdk.alice.send({ to: 'bob@arts.campus.test', text: 'Slides and notes', attachments: [slides.id, notes.id] });
    await sdk.alice.send({ to: 'bob@arts.campus.test', text: 'A photo', attachments: [photo.id] });
    // Bob's files are his own, wherever they are shared.
    const his = await sdk.bob.upload(new TextEncoder().encode('his'), 'bobs-reply.txt', 'text/plain');
    await sdk.bob.send({ to: 'alice@eng.campus.test', text: 'Mine', attachments: [his.id] });

    const a = alice.page;
    const b = bob.page;
    await openConversation(b, 'Alice Chen');
    const bobsCopy = b.locator('.message:not(.mine)', { hasText: 'Slides and notes' });
    await bobsCopy.locator('.attachment.file button', { hasText: SLIDES }).waitFor({ timeout: 10_000 });

    // Another upload is refused, and the notice leads to her files.
    await openConversation(a, 'Bob Martin');
    await a.locator('.conversation input[type=file]').setInputFiles({
      name: 'more.pdf',
      mimeType: 'application/pdf',
      buffer: Buffer.from(pdf(KIB)),
    });
    const notice = a.locator('.toast', { hasText: 'You have used your storage:' });
    await notice.waitFor({ timeout: 10_000 });
    expect(await notice.innerText()).toBe('You have used your storage: delete files you no longer need');
    await notice.getByRole('link', { name: 'delete files you no longer need' }).click();
    await a.getByRole('heading', { name: 'Your files' }).waitFor();

    // Hers alone, newest first, each with its size, when and where it went.
    const rows = a.locator('.own-file');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(4);
    expect(await rows.locator('.own-file-name').allInnerTexts()).toEqual([
      'draft.pdf',
      'photo.pdf',
      'notes.pdf',
      SLIDES,
    ]);
    expect(await a.locator('.usage').innerText()).toContain('1.0 MB of 1.0 MB used');
    const row = rows.filter({ hasText: SLIDES });
    expect(await row.innerText()).toMatch(/256\.0 KB · .+ · In Bob Martin/);
    expect(await rows.filter({ hasText: 'draft.pdf' }).innerText()).toContain('Not sent yet');
    expect(await a.locator('.own-files img').count()).toBe(0);
    // Each Delete is named for its file, markup and all as text: a list of the buttons tells them apart.
    for (const name of ['draft.pdf', 'photo.pdf', 'notes.pdf', SLIDES])
      expect(await a.getByRole('button', { name: `Delete “${name}”`, exact: true }).count()).toBe(1);

    // Delete asks first; Cancel keeps it.
    await row.getByRole('button', { name: 'Delete' }).click();
    const dialog = a.getByRole('alertdialog', { name: `Delete “${SLIDES}”?` });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await rows.count()).toBe(4);
    await row.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(3);
    await expect.poll(() => a.locator('.usage').innerText()).toContain('768.0 KB of 1.0 MB used');

    // Bob, of another college, sees it removed at once, and the other file of the message still offered.
    const removed = bobsCopy.locator('.attachment.removed');
    await removed.waitFor({ timeout: 10_000 });
    expect(await removed.innerText()).toBe(`File removed by the sender (${SLIDES})`);
    expect(await bobsCopy.locator('.attachment.file button').allInnerTexts()).toEqual(['⬇ notes.pdf']);
    // His node answers a download of it with why.
    const arts = campus.nodes.arts.url;
    const download = await fetch(`${arts}/api/v1/attachments/${slides.id}?from=eng.campus.test`, {
      headers: { authorization: `Bearer ${await sdk.bob.login.tokenFor(arts)}` },
    });
    expect(download.status).toBe(410);
    expect(await download.json()).toMatchObject({
      error: { code: 'attachment_removed', message: 'The sender removed this file' },
    });
    // Opened again later, the conversation still says so.
    await b.reload();
    await b.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    await openConversation(b, 'Alice Chen');
    await b
      .locator('.message:not(.mine)', { hasText: 'Slides and notes' })
      .locator('.attachment.removed', { hasText: 'File removed by the sender' })
      .waitFor({ timeout: 10_000 });

    // Alice has room again.
    await openConversation(a, 'Bob Martin');
    expect(
      await a.locator('.message.mine', { hasText: 'Slides and notes' }).locator('.attachment.removed').innerText(),
    ).toBe(`You removed this file (${SLIDES})`);
    await a.locator('.conversation input[type=file]').setInputFiles({
      name: 'more.pdf',
      mimeType: 'application/pdf',
      buffer: Buffer.from(pdf(KIB)),
    });
    await expect.poll(() => a.locator('.upload.uploaded').count(), { timeout: 10_000 }).toBe(1);
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it('opens Your files from the account menu on a phone, with everything to tap at least 44 px', {
    timeout: 60_000,
  }, async () => {
    const phone = await signIn('alice', { viewport: PHONE, hasTouch: true });
    try {
      const p = phone.page;
      await p.getByRole('button', { name: 'Account' }).click();
      const menu = p.locator('.account-menu');
      expect(await menu.locator('.menu-who').innerText()).toBe('Alice Chen');
      expect(await smallTargets(p, '.topbar a, .topbar button')).toEqual([]);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      // Escape closes the menu and stays where it was.
      await p.keyboard.press('Escape');
      await expect.poll(() => menu.isVisible()).toBe(false);
      await p.getByRole('button', { name: 'Account' }).click();
      await menu.getByRole('link', { name: 'Your files' }).click();
      await p.getByRole('heading', { name: 'Your files' }).waitFor();
      await expect.poll(() => menu.isVisible()).toBe(false);
      await p.locator('.own-file').first().waitFor({ timeout: 10_000 });
      expect(await smallTargets(p, '.files-panel button')).toEqual([]);
      await p.locator('.own-file').first().getByRole('button', { name: 'Delete' }).click();
      expect(await smallTargets(p, '.dialog button')).toEqual([]);
      await p.getByRole('button', { name: 'Cancel' }).click();
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      expect(phone.errors).toEqual([]);
    } finally {
      await phone.context.close();
    }
  });

  it('keeps what is typed and attached in each conversation while one is elsewhere, and drops a file deleted meanwhile, saying so', {
    timeout: 90_000,
  }, async () => {
    await sdk.dave.send({ to: 'alice@eng.campus.test', text: 'About the lab' });
    await sdk.dave.send({ to: 'bob@arts.campus.test', text: 'About the trip' });
    const dave = await signIn('dave');
    try {
      const d = dave.page;
      const input = d.locator('.conversation .composer-input');
      const uploads = d.locator('.conversation .upload');
      await openConversation(d, 'Alice Chen');
      await input.fill('draft text');
      await d
        .locator('.conversation input[type=file]')
        .setInputFiles([text('pending.txt', 'not for Alice after all'), text('agenda.txt', 'Monday: lab')]);
      await expect.poll(() => d.locator('.conversation .upload.uploaded').count(), { timeout: 10_000 }).toBe(2);
      await openConversation(d, 'Bob Martin');
      expect(await input.inputValue()).toBe('');
      expect(await uploads.count()).toBe(0);
      await input.fill('for Bob');

      // Each conversation has its own again, files uploaded and all; also after a reload of the page.
      for (const reload of [false, true]) {
        if (reload) {
          await d.reload();
          await d.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
        }
        await openConversation(d, 'Alice Chen');
        await expect.poll(() => input.inputValue()).toBe('draft text');
        expect(await d.locator('.conversation .upload.uploaded .upload-name').allInnerTexts()).toEqual([
          'pending.txt (23 B)',
          'agenda.txt (11 B)',
        ]);
        await openConversation(d, 'Bob Martin');
        expect(await input.inputValue()).toBe('for Bob');
      }

      // Deleted in Your files, a file leaves the draft that carried it, which says so.
      await d.getByRole('button', { name: 'Account' }).click();
      await d.locator('.account-menu').getByRole('link', { name: 'Your files' }).click();
      const row = d.locator('.own-file', { hasText: 'pending.txt' });
      await row.waitFor({ timeout: 10_000 });
      expect(await row.innerText()).toContain('Not sent yet');
      await row.getByRole('button', { name: 'Delete' }).click();
      await d.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
      const deleted = d.locator('.toast', { hasText: 'Deleted pending.txt.' });
      await deleted.waitFor();
      await openConversation(d, 'Alice Chen');
      expect(await d.locator('.conversation .composer-notice').innerText()).toBe(
        'pending.txt was deleted, so it is no longer attached.',
      );
      expect(await d.locator('.conversation .upload-name').allInnerTexts()).toEqual(['agenda.txt (11 B)']);
      // The notice from Your files, still up, sits above the message box, not on it.
      const toast = (await deleted.boundingBox())!;
      const composer = (await d.locator('.conversation .composer').boundingBox())!;
      expect(toast.y + toast.height).toBeLessThanOrEqual(composer.y);

      const arrived = sdk.alice.once('message', (m) => m.text === 'draft text', 10_000);
      await input.press('Enter');
      const got = await arrived;
      expect(got.attachments?.map((a) => a.name)).toEqual(['agenda.txt']);
      expect(await input.inputValue()).toBe('');
      expect(await uploads.count()).toBe(0);
      expect(dave.errors).toEqual([]);
    } finally {
      await dave.context.close();
    }
  });

  it('deletes a file taken off the message box from the node, so Your files no longer lists it', {
    timeout: 60_000,
  }, async () => {
    await sdk.alice.send({ to: 'dave@eng.campus.test', text: 'Send me the minutes' });
    const dave = await signIn('dave');
    try {
      const d = dave.page;
      const yourFiles = async () => {
        await d.getByRole('button', { name: 'Account' }).click();
        await d.locator('.account-menu').getByRole('link', { name: 'Your files' }).click();
        await d.locator('.own-file', { hasText: 'minutes.txt' }).first().waitFor({ timeout: 10_000 });
        return d.locator('.own-file .own-file-name').allInnerTexts();
      };
      await openConversation(d, 'Alice Chen');
      await d
        .locator('.conversation input[type=file]')
        .setInputFiles([text('wrong minutes.txt', 'last year'), text('minutes.txt', 'this year')]);
      await expect.poll(() => d.locator('.conversation .upload.uploaded').count(), { timeout: 10_000 }).toBe(2);
      expect(await yourFiles()).toEqual(expect.arrayContaining(['wrong minutes.txt', 'minutes.txt']));

      await openConversation(d, 'Alice Chen');
      await d.getByRole('button', { name: 'Remove wrong minutes.txt' }).click();
      expect(await d.locator('.conversation .upload-name').allInnerTexts()).toEqual(['minutes.txt (9 B)']);
      await expect
        .poll(async () => (await sdk.dave.listFiles()).files.map((f) => f.name), { timeout: 10_000 })
        .not.toContain('wrong minutes.txt');
      const listed = await yourFiles();
      expect(listed).toContain('minutes.txt');
      expect(listed).not.toContain('wrong minutes.txt');
      // Quietly: nothing said of it.
      expect(await d.locator('.toast').count()).toBe(0);
      expect(dave.errors).toEqual([]);
    } finally {
      await dave.context.close();
    }
  });

  it('says once, in plain words, that files would pass one’s storage, with each refused file readable on a phone', {
    timeout: 90_000,
  }, async () => {
    // Lena uses 868 KB of her 1 MB at law.
    for (const name of ['one.pdf', 'two.pdf', 'three.pdf'])
      await sdk.lena.upload(pdf(MAX_BYTES), name, 'application/pdf');
    await sdk.lena.upload(pdf(100 * KIB), 'four.pdf', 'application/pdf');
    await sdk.lena.send({ to: 'alice@eng.campus.test', text: 'Forms for the trip' });
    const lena = await signIn('lena', { viewport: PHONE, hasTouch: true });
    try {
      const p = lena.page;
      await openConversation(p, 'Alice Chen');
      await p.locator('.conversation .composer-input').fill('Both forms');
      await p.locator('.conversation input[type=file]').setInputFiles(
        ['Trip form.pdf', 'Consent form.pdf'].map((name) => ({
          name,
          mimeType: 'application/pdf',
          buffer: Buffer.from(pdf(200 * KIB)),
        })),
      );
      const refused = p.locator('.conversation .upload.failed');
      await expect.poll(() => refused.count(), { timeout: 10_000 }).toBe(2);
      expect(await refused.locator('.status-failed').allInnerTexts()).toEqual([
        'You use 868 KB of your 1 MB here; this file (200 KB) would pass it.',
        'You use 868 KB of your 1 MB here; this file (200 KB) would pass it.',
      ]);
      // One notice for both.
      await expect.poll(() => p.locator('.toast').count()).toBe(1);
      expect(await p.locator('.toast').innerText()).toBe('You have used your storage: delete files you no longer need');

      // Each file's name keeps a line of its own width, the reason under it, and nothing goes off the side.
      for (const file of await refused.all()) {
        const name = (await file.locator('.upload-name').boundingBox())!;
        const why = (await file.locator('.status-failed').boundingBox())!;
        const line = await file
          .locator('.upload-name')
          .evaluate((el) => Number.parseFloat(getComputedStyle(el).lineHeight));
        expect(name.height).toBeLessThan(line * 1.5);
        expect(why.y).toBeGreaterThanOrEqual(name.y + name.height);
      }
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);

      // Followed, the notice does not stay on the page it leads to; back, the message is as it was.
      await p.locator('.toast').getByRole('link', { name: 'delete files you no longer need' }).click();
      await p.getByRole('heading', { name: 'Your files' }).waitFor();
      expect(await p.locator('.toast').count()).toBe(0);
      await p.goBack();
      await p.waitForSelector('.conversation .composer-input');
      expect(await p.locator('.conversation .composer-input').inputValue()).toBe('Both forms');
      expect(await refused.locator('.upload-name').allInnerTexts()).toEqual([
        'Trip form.pdf (200.0 KB)',
        'Consent form.pdf (200.0 KB)',
      ]);
      expect(lena.errors).toEqual([]);
    } finally {
      await lena.context.close();
    }
  });

  it('offers in the picker the types the node takes, and says in a sentence that fits a phone why it refuses a video', {
    timeout: 60_000,
  }, async () => {
    await sdk.dave.send({ to: 'alice@eng.campus.test', text: 'Did you film the lab?' });
    const dave = await signIn('dave', { viewport: PHONE, hasTouch: true });
    try {
      const p = dave.page;
      await openConversation(p, 'Alice Chen');
      const chosen = p.waitForEvent('filechooser');
      await p.getByRole('button', { name: 'Attach files' }).click();
      const picker = await chosen;
      expect((await picker.element().getAttribute('accept'))?.split(',')).toEqual(DEFAULT_ATTACHMENT_TYPES);
      // Chosen all the same (a picker's "All files"): refused, in words, under each file's name.
      await picker.setFiles([
        { name: 'Lab session, week 3.mp4', mimeType: 'video/mp4', buffer: Buffer.from('video') },
        { name: 'notes.html', mimeType: 'text/html', buffer: Buffer.from('<p>') },
      ]);
      const refused = p.locator('.conversation .upload.failed');
      await expect.poll(() => refused.count(), { timeout: 10_000 }).toBe(2);
      const takes = 'pictures, PDFs, Office documents, text files and zip files can.';
      expect(await refused.locator('.status-failed').allInnerTexts()).toEqual([
        `Videos cannot be sent here; ${takes}`,
        `Web pages cannot be sent here; ${takes}`,
      ]);
      // Each reason wraps within the screen, and the messages keep a good part of it.
      for (const why of await refused.locator('.status-failed').all())
        expect((await why.boundingBox())!.x + (await why.boundingBox())!.width).toBeLessThanOrEqual(PHONE.width);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      expect((await p.locator('.conversation .messages').boundingBox())!.height).toBeGreaterThan(PHONE.height / 3);
      expect(dave.errors).toEqual([]);
    } finally {
      await dave.context.close();
    }
  });

  it('says in an open picture viewer that its sender deleted the picture, offers no download, and goes back to the message', {
    timeout: 60_000,
  }, async () => {
    const carol = await connect('carol');
    try {
      const picture = await carol.upload(PIXEL, 'poster.png', 'image/png');
      const sent = await carol.send({ to: 'bob@arts.campus.test', text: 'The poster', attachments: [picture.id] });
      const b = bob.page;
      await openConversation(b, 'Carol Silva');
      const message = b.locator(`#m-${sent.messageId}`);
      await message.locator('.attachment.image img[src^="blob:"]').waitFor({ timeout: 10_000 });
      await message.getByRole('button', { name: 'View poster.png' }).click();
      const viewer = b.getByRole('dialog', { name: 'poster.png' });
      await viewer.getByRole('button', { name: 'Download' }).focus();

      await carol.deleteFile(picture.id);
      await expect
        .poll(() => viewer.getByRole('status').textContent(), { timeout: 10_000 })
        .toBe('The sender removed this file.');
      expect(await viewer.getByRole('button', { name: 'Download' }).count()).toBe(0);
      expect(await viewer.locator('img').count()).toBe(0);
      expect(await b.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Close');
      await message.locator('.attachment.removed').waitFor();

      await b.keyboard.press('Escape');
      await expect.poll(() => viewer.count()).toBe(0);
      expect(await b.evaluate(() => document.activeElement?.closest('.message')?.id)).toBe(`m-${sent.messageId}`);
      expect(bob.errors).toEqual([]);
    } finally {
      carol.close();
    }
  });

  it('says which college cannot be reached when a file in a conversation does not download', {
    timeout: 90_000,
  }, async () => {
    const carol = await connect('carol');
    const b = bob.page;
    let down: ('eng' | 'arts')[] = [];
    try {
      const file = await carol.upload(new TextEncoder().encode('Room 4'), 'seating.txt', 'text/plain');
      await carol.send({ to: 'bob@arts.campus.test', text: 'The seating', attachments: [file.id] });
      await openConversation(b, 'Carol Silva');
      const download = b.getByRole('button', { name: '⬇ seating.txt' });
      await download.waitFor({ timeout: 10_000 });
      const notice = b.locator('.toast', { hasText: 'Could not download seating.txt' });

      // The college that keeps the file (Carol's) is down: Bob's node says so, and the page names it.
      await campus.stopNode('eng');
      down = ['eng'];
      await download.click();
      await notice.waitFor({ timeout: 15_000 });
      expect(await notice.innerText()).toBe(
        'Could not download seating.txt: College of Engineering cannot be reached right now; try again when it is back',
      );
      await b.locator('.toast').evaluateAll((toasts) => toasts.forEach((t) => t.remove()));

      // Bob's own college's node is down too: nothing answers at all.
      await campus.stopNode('arts');
      down = ['eng', 'arts'];
      await download.click();
      await notice.waitFor({ timeout: 15_000 });
      expect(await notice.innerText()).toBe(
        'Could not download seating.txt: College of Arts cannot be reached right now; try again when it is back',
      );

      await campus.restartNode('eng');
      await campus.restartNode('arts');
      down = [];
      await b.waitForSelector('#connection[data-state=online]', { timeout: 30_000 });
      const saved = b.waitForEvent('download');
      await download.click();
      expect((await saved).suggestedFilename()).toBe('seating.txt');
      expect(bob.errors).toEqual([]);
    } finally {
      carol.close();
      for (const name of down) await campus.restartNode(name);
    }
  });

  it('no longer saves a file from the page once it is deleted elsewhere', { timeout: 60_000 }, async () => {
    const carolElsewhere = await connect('carol');
    const carol = await signIn('carol');
    const c = carol.page;
    try {
      const file = await carolElsewhere.upload(new TextEncoder().encode('old rooms'), 'old plan.txt', 'text/plain');
      await carolElsewhere.send({ to: 'bob@arts.campus.test', text: 'The old plan', attachments: [file.id] });
      await c.getByRole('button', { name: 'Account' }).click();
      await c.locator('.account-menu').getByRole('link', { name: 'Your files' }).click();
      const name = c.locator('.own-file', { hasText: 'old plan.txt' }).locator('.own-file-name');
      await name.waitFor({ timeout: 10_000 });
      const saved = c.waitForEvent('download');
      await name.click();
      expect((await saved).suggestedFilename()).toBe('old plan.txt');

      // Deleted from another device while this list is on screen: it cannot be saved from here any more.
      await carolElsewhere.deleteFile(file.id);
      const notice = c.locator('.toast', { hasText: 'Could not download old plan.txt' });
      await expect
        .poll(
          async () => {
            await name.click();
            return notice.count();
          },
          { timeout: 10_000 },
        )
        .toBeGreaterThan(0);
      expect(await notice.first().innerText()).toBe('Could not download old plan.txt: it was deleted');
      expect(carol.errors).toEqual([]);
    } finally {
      carolElsewhere.close();
      await carol.context.close();
    }
  });

  it('says which college cannot be reached, in Delete, in a download and in the list, and shows its files once it is back', {
    timeout: 90_000,
  }, async () => {
    // Carol keeps files at Engineering and at Arts.
    const carolAtEng = await connect('carol');
    await carolAtEng.upload(new TextEncoder().encode('Mondays at nine'), 'timetable.txt', 'text/plain');
    carolAtEng.close();
    const carol = await signIn('carol');
    const c = carol.page;
    const openFiles = async () => {
      await c.getByRole('button', { name: 'Account' }).click();
      await c.locator('.account-menu').getByRole('link', { name: 'Your files' }).click();
      await c.getByRole('heading', { name: 'Your files' }).waitFor();
    };
    const atEng = c.locator('.node-files', { has: c.getByRole('heading', { name: 'College of Engineering' }) });
    const timetable = atEng.locator('.own-file', { hasText: 'timetable.txt' });
    try {
      await openFiles();
      await timetable.waitFor({ timeout: 10_000 });

      // Engineering goes down with its files on screen: Delete and a download say so, in words.
      await campus.stopNode('eng');
      await timetable.getByRole('button', { name: 'Delete' }).click();
      await c.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
      const notice = (what: string) => c.locator('.toast', { hasText: `Could not ${what} timetable.txt` });
      await notice('delete').waitFor({ timeout: 10_000 });
      expect(await notice('delete').innerText()).toBe(
        'Could not delete timetable.txt: College of Engineering cannot be reached right now; try again when it is back',
      );
      await timetable.locator('.own-file-name').click();
      await notice('download').waitFor({ timeout: 10_000 });
      expect(await notice('download').innerText()).toBe(
        'Could not download timetable.txt: College of Engineering cannot be reached right now; try again when it is back',
      );

      // Opened while it is down: Arts' part shows, Engineering's says why it does not, and comes when it is back.
      await c.reload();
      await c.waitForSelector('#connection[data-state=partial]', { timeout: 15_000 });
      await openFiles();
      const atArts = c.locator('.node-files', { has: c.getByRole('heading', { name: 'College of Arts' }) });
      await expect
        .poll(() => atArts.getByRole('status').textContent(), { timeout: 10_000 })
        .toBe('You have no files here.');
      await expect
        .poll(() => atEng.getByRole('status').textContent(), { timeout: 10_000 })
        .toBe('College of Engineering cannot be reached right now; your files there show when it is back.');
      await campus.restartNode('eng');
      await timetable.waitFor({ timeout: 30_000 });
      expect(await atEng.getByRole('status').textContent()).toBe('');
      expect(carol.errors).toEqual([]);
    } finally {
      await carol.context.close();
    }
  });
});
