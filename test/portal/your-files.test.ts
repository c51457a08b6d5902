import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import { chromiumMissing, launchChromium, openConversation, PHONE, signInToPortal, type Person } from './browser.ts';

const KIB = 1024;
/** ATTACHMENT_MAX_BYTES below: four of them fill the storage quota of 1 MiB. */
const MAX_BYTES = 256 * KIB;
/** A name with markup in it: it must show as typed, never as markup. */
const SLIDES = '<img src=x onerror=alert(1)> slides.pdf';

let campus: Campus;
let browser: Browser;
let alice: Person;
let bob: Person;
let sdk: { alice: Awaited<ReturnType<typeof connectAs>>; bob: Awaited<ReturnType<typeof connectAs>> };

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
  };
  browser = await launchChromium();
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice');
  bob = await signInToPortal(browser, campus.gateway.issuer, 'bob');
}, 90_000);

afterAll(async () => {
  sdk?.alice.close();
  sdk?.bob.close();
  await browser?.close();
  await campus?.stop();
});

const pdf = (size: number) => new Uint8Array(size).fill(0x25);

/** The buttons, links and fields under `selector` a person sees that are smaller than 44×44 CSS px. */
function smallTargets(page: Page, selector: string): Promise<string[]> {
  return page.evaluate(
    (within) =>
      [...document.querySelectorAll<HTMLElement>(within)]
        .filter((el) => el.getClientRects().length > 0)
        .map((el) => ({ what: el.getAttribute('aria-label') ?? el.textContent, box: el.getBoundingClientRect() }))
        .filter(({ box }) => box.width < 44 || box.height < 44)
        .map(({ what, box }) => `${what}: ${box.width}×${box.height}`),
    selector,
  );
}

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
    const phone = await signInToPortal(browser, campus.gateway.issuer, 'alice', { viewport: PHONE, hasTouch: true });
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
});
