import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayFromToday, startLeaveApprovalFor } from '../helpers/leave-approval.ts';
import type { Browser, Page } from 'playwright-core';
import type { LeaveApp } from '../../examples/leave-approval/main.ts';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { registerApp } from '../../gateway/apps-registry/register-app.ts';
import { callbackSecretSealer } from '../../gateway/apps-registry/secrets.ts';
import { operator } from '../../gateway/context.ts';
import {
  chromiumMissing,
  DESKTOP,
  launchChromium,
  openConversation,
  PHONE,
  signInToPortal,
  type Person,
} from './browser.ts';
import { startTestApp, type TestApp } from './test-app.ts';

let campus: Campus;
let browser: Browser;
let leave: LeaveApp;
let notes: TestApp;
let dave: Person;
let leaveTab: Page;
let notesTab: Page;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-apps');
  const gateway = campus.gateway;
  ({ app: leave } = await startLeaveApprovalFor(gateway, { eng: campus.nodes.eng.url, arts: campus.nodes.arts.url }));
  notes = await startTestApp(gateway, 'notes', 'Course Notes');
  browser = await launchChromium();
  dave = await signInToPortal(browser, gateway.issuer, 'dave');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await notes?.close();
  await leave?.close();
  await campus?.stop();
});

/** Clicks an app on the workbench and returns the tab it opens in, once that tab has settled. */
async function openFromWorkbench(person: Person, slug: string): Promise<{ tab: Page; visited: string[] }> {
  await person.page.click('a[data-nav="#/apps"]');
  const tile = person.page.locator(`.app-tile[data-app="${slug}"]`);
  await tile.waitFor();
  expect(await tile.getAttribute('target')).toBe('_blank');
  const [tab] = await Promise.all([person.context.waitForEvent('page'), tile.click()]);
  const visited: string[] = [];
  tab.on('framenavigated', (frame) => frame === tab.mainFrame() && visited.push(frame.url()));
  await tab.waitForLoadState('load');
  return { tab, visited };
}

describe.skipIf(chromiumMissing)('apps from the portal', () => {
  it('lists the apps the person may see and opens each in a new tab, signed in without a second login', {
    timeout: 60_000,
  }, async () => {
    await dave.page.click('a[data-nav="#/apps"]');
    await expect.poll(() => dave.page.locator('.app-tile').count(), { timeout: 10_000 }).toBe(2);
    expect(await dave.page.locator('.app-tile[data-app="leave-approval"]').textContent()).toContain('Leave Approval');

    const opened = await openFromWorkbench(dave, 'notes');
    notesTab = opened.tab;
    await expect
      .poll(
        () =>
          notesTab
            .locator('h1')
            .textContent()
            .catch(() => null),
        { timeout: 10_000 },
      )
      .toBe('Signed in as Dave Okafor');
    expect(opened.visited.some((u) => u.includes('/interaction/'))).toBe(false);

    const leaveOpened = await openFromWorkbench(dave, 'leave-approval');
    leaveTab = leaveOpened.tab;
    // No link to click either: the app asks the gateway silently when it has no session of its own.
    await expect
      .poll(() => leaveTab.locator('body').textContent(), { timeout: 10_000 })
      .toContain('Signed in as Dave Okafor');
    expect(leaveOpened.visited.some((u) => u.includes('/interaction/'))).toBe(false);
    expect(await leaveTab.locator('input[type=password]').count()).toBe(0);
  });

  it('shows each app’s icon in a tile that always draws, and the apps under the names of their units', {
    timeout: 30_000,
  }, async () => {
    // An emoji icon would be an empty box without an emoji font: apps show their letters or initials.
    await registerApp(
      { ...campus.gateway.context(null), actor: operator('test') },
      {
        name: 'Engineering Labs',
        slug: 'eng-labs',
        icon: '🧪',
        homeUrl: 'https://eng-labs.campus.example/',
        redirectUris: ['https://eng-labs.campus.example/cb'],
        ownerUnit: 'campus/eng',
      },
      callbackSecretSealer(campus.gateway.config.secretKey),
    );
    const p = dave.page;
    await p.click('a[data-nav="#/search"]');
    await p.click('a[data-nav="#/apps"]');
    const groups = p.locator('.app-group');
    await expect
      .poll(() => groups.locator('h3').allTextContents(), { timeout: 10_000 })
      .toEqual(['Campus-wide', 'College of Engineering']);
    const slugs = (i: number) =>
      groups
        .nth(i)
        .locator('.app-tile')
        .evaluateAll((tiles) => tiles.map((t) => t.getAttribute('data-app')));
    expect(await slugs(0)).toEqual(['notes', 'leave-approval']);
    expect(await slugs(1)).toEqual(['eng-labs']);
    const icon = (slug: string) => p.locator(`.app-tile[data-app="${slug}"] .app-icon`);
    expect(await icon('leave-approval').textContent()).toBe('LA');
    expect(await icon('notes').textContent()).toBe('TA');
    expect(await icon('eng-labs').textContent()).toBe('EL');
    expect(await groups.nth(1).getByRole('list', { name: 'College of Engineering' }).count()).toBe(1);
    expect(dave.errors).toEqual([]);
  });

  it('approves a leave request from its card in chat, and both sides see the decision', {
    timeout: 60_000,
  }, async () => {
    await leaveTab.fill('#from', dayFromToday(7));
    await leaveTab.fill('#to', dayFromToday(9));
    await leaveTab.fill('#reason', 'Family <wedding>');
    await leaveTab.click('button[type=submit]:has-text("Send to my approver")');
    await expect
      .poll(() => leaveTab.locator('body').textContent(), { timeout: 10_000 })
      .toContain('Sent to carol@arts.campus.test');
    const [request] = leave.store.all();

    const carol = await signInToPortal(browser, campus.gateway.issuer, 'carol');
    await openConversation(carol.page, 'Leave Approval');
    // Apps answer through their cards: the chat says so, for whoever would type to it.
    await expect
      .poll(() => carol.page.locator('.app-note').textContent(), { timeout: 10_000 })
      .toBe(
        'Leave Approval is an app: it can read what is written here, and answers through the buttons on its cards.',
      );
    expect(await carol.page.locator('.app-note').isVisible()).toBe(true);
    const card = carol.page.locator('.message.has-card', { hasText: 'Leave request from Dave Okafor' });
    await expect
      .poll(() => card.locator('.card-action').allTextContents(), { timeout: 10_000 })
      .toEqual(['Approve', 'Reject']);
    expect(await card.locator('.card-fields').textContent()).toContain('Family <wedding>');
    await card.locator('.card-action[data-action=approve]').click();
    await expect.poll(() => carol.page.locator('.toast').allTextContents(), { timeout: 10_000 }).toContain('Approved.');
    // The notice leaves the message box, its Send button and the note about the app free, on a desktop and on a phone.
    for (const size of [DESKTOP, PHONE]) {
      await carol.page.setViewportSize(size);
      const toast = (await carol.page.locator('.toast', { hasText: 'Approved.' }).boundingBox())!;
      const composer = (await carol.page.locator('.conversation .composer').boundingBox())!;
      const note = (await carol.page.locator('.app-note').boundingBox())!;
      expect(toast.y + toast.height).toBeLessThanOrEqual(composer.y);
      expect(toast.y + toast.height).toBeLessThanOrEqual(note.y);
      expect(toast.y).toBeGreaterThan(0);
    }
    await carol.page.setViewportSize(DESKTOP);
    await expect
      .poll(() => card.locator('.card').textContent(), { timeout: 10_000 })
      .toContain('Approved by Carol Silva');
    expect(await card.locator('.card-action').count()).toBe(0);
    expect(leave.store.get(request!.id)).toMatchObject({ status: 'approved', decidedBy: 'Carol Silva' });

    // The student's status card changes too, in his own portal.
    await openConversation(dave.page, 'Leave Approval');
    await expect
      .poll(() => dave.page.locator('.message.has-card .card').last().textContent(), { timeout: 10_000 })
      .toContain('Approved by Carol Silva');
    expect(carol.errors).toEqual([]);
    await carol.context.close();
  });

  it('signs out of everything: the session’s chat sockets close on every tab and the apps’ sessions end', {
    timeout: 60_000,
  }, async () => {
    // A second portal tab of the same session (no sign-in: the session cookie is shared).
    const other = await dave.context.newPage();
    await other.goto(`${campus.gateway.issuer}/`);
    await other.waitForSelector('#connection[data-state=online]');
    expect([...notes.sessions.values()].map((s) => s.name)).toEqual(['Dave Okafor']);

    // The portal's own Sign out asks nothing more at the gateway.
    await dave.page.getByRole('button', { name: 'Sign out' }).click();
    await dave.page.waitForURL((at) => at.href.startsWith(`${campus.gateway.issuer}/portal/signed-out`));
    expect(await dave.page.locator('h1').textContent()).toBe('You are signed out');

    // The gateway told every node: the other tab's sockets were closed by the nodes, not by the page.
    await expect
      .poll(
        () =>
          other
            .locator('.ended h2')
            .textContent()
            .catch(() => null),
        { timeout: 10_000 },
      )
      .toBe('You were signed out');
    // And every app that registered a back-channel logout URI.
    await expect.poll(() => notes.sessions.size, { timeout: 10_000 }).toBe(0);
    await notesTab.reload();
    await expect.poll(() => notesTab.locator('input[type=password]').count(), { timeout: 10_000 }).toBe(1);
    // Signing in to the portal again asks for the password.
    await dave.page.goto(`${campus.gateway.issuer}/`);
    expect(await dave.page.locator('input[type=password]').count()).toBe(1);
    expect(dave.errors).toEqual([]);
  });
});
