import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayFromToday, startLeaveApprovalFor } from '../helpers/leave-approval.ts';
import type { Browser, Page } from 'playwright-core';
import { registerApp } from '../../gateway/apps-registry/register-app.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { callbackSecretSealer } from '../../gateway/apps-registry/secrets.ts';
import type { LeaveApp } from '../../examples/leave-approval/main.ts';
import { operator } from '../../gateway/context.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import { chromiumMissing, DESKTOP, launchChromium, openConversation, PHONE, signInToPortal } from './browser.ts';

/**
 * Regenerates docs/screenshots/*.png (the README shows them): `ATRIUM_SCREENSHOTS=1 npx vitest run
 * test/portal/screenshots.browser.test.ts`. Skipped otherwise, so ordinary runs leave the committed files alone.
 */
const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
const wanted = Boolean(process.env.ATRIUM_SCREENSHOTS);

let campus: Campus;
let browser: Browser;
let leave: LeaveApp;

// A small picture to share: a 96×64 gradient PNG drawn by the browser itself.
async function picture(page: Page): Promise<Buffer> {
  const data = await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    canvas.width = 96;
    canvas.height = 64;
    const g = canvas.getContext('2d')!;
    const fill = g.createLinearGradient(0, 0, 96, 64);
    fill.addColorStop(0, '#2452c9');
    fill.addColorStop(1, '#0f7b6c');
    g.fillStyle = fill;
    g.fillRect(0, 0, 96, 64);
    g.fillStyle = '#fff';
    g.font = 'bold 18px sans-serif';
    g.fillText('Lab 3', 22, 38);
    return canvas.toDataURL('image/png').split(',')[1]!;
  });
  return Buffer.from(data, 'base64');
}

async function seed(): Promise<void> {
  const { gateway, nodes } = campus;
  const ctx = { ...gateway.context(null), actor: operator('screenshots') };
  ({ app: leave } = await startLeaveApprovalFor(gateway, { eng: nodes.eng.url, arts: nodes.arts.url }));
  // The machine drawing these has no emoji font: the example's palm tree would show as a box.
  await updateApp(ctx, 'leave-approval', { icon: 'LA' });
  const sealer = callbackSecretSealer(gateway.config.secretKey);
  for (const [slug, name, icon, description] of [
    ['library', 'Library', 'LIB', 'Search the catalogue, renew loans, book a study room.'],
    ['timetable', 'Timetable', 'TT', 'Your classes, rooms and exams.'],
    ['grades', 'Grades', 'GR', 'Marks and feedback, as soon as they are published.'],
  ] as const) {
    await registerApp(
      ctx,
      {
        name,
        slug,
        icon,
        description,
        homeUrl: `https://${slug}.campus.example/`,
        redirectUris: [`https://${slug}.campus.example/cb`],
        firstParty: true,
      },
      sealer,
    );
  }

  const alice = await connectAs(gateway, nodes.eng, 'alice');
  const bob = await connectAs(gateway, nodes.arts, 'bob');
  const carol = await connectAs(gateway, nodes.arts, 'carol');
  const dave = await connectAs(gateway, nodes.eng, 'dave');
  try {
    const talk = async (from: typeof alice, to: string, text: string) => from.send({ to, text });
    await talk(alice, 'bob@arts.campus.test', 'Hi Bob! Are you still up for the robotics × history project?');
    await talk(bob, 'alice@eng.campus.test', 'Absolutely. I found scans of the 1920s factory automata in the archive.');
    await talk(alice, 'bob@arts.campus.test', 'Amazing. Can we meet Thursday at the makerspace?');
    const last = await talk(bob, 'alice@eng.campus.test', 'Thursday 4pm works. I will bring the scans.');
    // Bob's node holds a copy of this conversation (hosted by Alice's); read once the copy has caught up.
    await new Promise((r) => setTimeout(r, 1_000));
    await bob.markRead(last.conversationId, last.seq);

    const orchestra = await carol.createGroup('Campus Orchestra', [
      'bob@arts.campus.test',
      'alice@eng.campus.test',
      'dave@eng.campus.test',
    ]);
    await carol.send({ conversationId: orchestra.id, text: 'Rehearsal moves to the Great Hall this Friday, 6pm.' });
    await new Promise((r) => setTimeout(r, 400));
    await bob.send({ conversationId: orchestra.id, text: 'I can bring the spare music stands.' });
    await new Promise((r) => setTimeout(r, 400));
    await dave.send({
      conversationId: orchestra.id,
      text: '@alice can you check the hall has power for the keyboard?',
      mentions: ['alice@eng.campus.test'],
    });

    await talk(dave, 'alice@eng.campus.test', 'Lab report draft is in the shared folder.');
    await talk(dave, 'alice@eng.campus.test', 'Section 3 still needs the plots.');
  } finally {
    for (const c of [alice, bob, carol, dave]) c.close();
  }
}

beforeAll(async () => {
  if (chromiumMissing || !wanted) return;
  mkdirSync(OUT, { recursive: true });
  campus = await startCampus('screenshots');
  browser = await launchChromium();
  await seed();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await leave?.close();
  await campus?.stop();
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(OUT, `${name}.png`), animations: 'disabled', caret: 'hide' });

async function screens(size: 'desktop' | 'phone'): Promise<void> {
  const viewport = size === 'desktop' ? DESKTOP : PHONE;
  const phone = size === 'phone';
  // The sign-in page, as the portal sends people to it.
  const context = await browser.newContext({ viewport, hasTouch: phone, isMobile: phone, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${campus.gateway.issuer}/`);
  await page.waitForSelector('#username');
  await shot(page, `${size}-sign-in`);
  await page.fill('#username', 'alice');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('#connection[data-state=online]');
  await expect.poll(() => page.locator('.conversation-item').count(), { timeout: 10_000 }).toBe(3);
  await page.waitForTimeout(800);
  await page.locator('#app').click({ position: { x: 5, y: viewport.height - 5 } });
  await shot(page, `${size}-conversations`);

  await openConversation(page, 'Bob Martin');
  if (!phone) {
    await page
      .locator('.conversation input[type=file]')
      .setInputFiles({ name: 'lab-3.png', mimeType: 'image/png', buffer: await picture(page) });
    await page.waitForSelector('.upload.uploaded');
  }
  await page.locator('.conversation .composer-input').fill(phone ? '' : 'Here is the room plan.');
  if (!phone) {
    await page.locator('.conversation .composer-input').press('Enter');
    await page.waitForSelector('.message.mine img.preview[src^="blob:"]');
  }
  await page.locator('.conversation .composer-input').fill('See you Thursday @bo');
  await page.waitForSelector('.suggestions [role=option]');
  await page.waitForTimeout(300);
  await shot(page, `${size}-conversation`);
  await page.locator('.conversation .composer-input').fill('');

  await (phone ? page.getByRole('button', { name: 'Back to conversations' }).click() : Promise.resolve());
  await openConversation(page, 'Campus Orchestra');
  await page.waitForSelector('.message.mentions-me');
  await page.waitForTimeout(300);
  await shot(page, `${size}-group`);

  await page.click('a[data-nav="#/apps"]');
  await expect.poll(() => page.locator('.app-tile').count(), { timeout: 10_000 }).toBe(4);
  await page.waitForTimeout(300);
  await shot(page, `${size}-workbench`);
  await context.close();
}

describe.skipIf(chromiumMissing || !wanted)('screenshots for the README', () => {
  it('captures the main screens at desktop size (1280×800)', { timeout: 90_000 }, async () => {
    await screens('desktop');
  });

  it('captures the main screens at phone size (390×844), and an approval card answered on the phone', {
    timeout: 120_000,
  }, async () => {
    await screens('phone');
    // A student asks for leave; the approver sees the card on her phone.
    const student = await browser.newContext();
    const page = await student.newPage();
    await page.goto(`${leave.url}/login`);
    await page.fill('#username', 'dave');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
    await page.fill('#from', dayFromToday(7));
    await page.fill('#to', dayFromToday(9));
    await page.fill('#reason', 'Robotics competition in Lyon');
    await page.click('button[type=submit]:has-text("Send to my approver")');
    await page.waitForSelector('text=Sent to carol@arts.campus.test');
    await student.close();

    const carol = await signInToPortal(browser, campus.gateway.issuer, 'carol', { viewport: PHONE, hasTouch: true });
    await openConversation(carol.page, 'Leave Approval');
    await carol.page.waitForSelector('.card-action[data-action=approve]');
    await carol.page.waitForTimeout(300);
    await shot(carol.page, 'phone-approval-card');
    await carol.context.close();
  });
});
