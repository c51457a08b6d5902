import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import {
  chromiumMissing,
  launchChromium,
  openConversation,
  PHONE,
  signInToPortal,
  smallTargets,
  type Person,
} from './browser.ts';

let campus: Campus;
let browser: Browser;
/** The group's owner, on a phone 390 px wide. */
let alice: Person;
/** A plain member. */
let dave: Person;
let groupId: string;

const GROUP = 'Robotics lab';

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-webhooks');
  browser = await launchChromium();
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice', { viewport: PHONE });
  dave = await signInToPortal(browser, campus.gateway.issuer, 'dave');
  await alice.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: campus.gateway.issuer });
  const laptop = await connectAs(campus.gateway, campus.nodes.eng, 'alice');
  try {
    groupId = (await laptop.createGroup(GROUP, ['dave@eng.campus.test'])).id;
  } finally {
    laptop.close();
  }
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

/** Opens the group's details; the dialog. */
async function openDetails(person: Person) {
  await openConversation(person.page, GROUP);
  await person.page.getByRole('button', { name: 'Group details' }).click();
  const panel = person.page.getByRole('dialog', { name: 'Group details' });
  await panel.locator('.member').first().waitFor({ timeout: 10_000 });
  return panel;
}

const post = (url: string, text: string) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });

describe.skipIf(chromiumMissing)('a group’s webhooks in the portal', () => {
  it('shows a plain member no Webhooks part, and shows it once they are made an admin', {
    timeout: 30_000,
  }, async () => {
    const panel = await openDetails(dave);
    const part = panel.getByRole('region', { name: 'Webhooks' });
    expect(await part.count()).toBe(0);
    expect(await panel.getByRole('button', { name: 'Create a webhook' }).count()).toBe(0);
    const laptop = await connectAs(campus.gateway, campus.nodes.eng, 'alice');
    try {
      await laptop.setRole(groupId, 'dave@eng.campus.test', 'admin');
      await expect.poll(() => part.textContent(), { timeout: 10_000 }).toContain('This group has no webhooks.');
      await laptop.setRole(groupId, 'dave@eng.campus.test', 'member');
      await expect.poll(() => part.count(), { timeout: 10_000 }).toBe(0);
    } finally {
      laptop.close();
    }
    await dave.page.keyboard.press('Escape');
    await expect.poll(() => panel.count()).toBe(0);
  });

  it('shows the node’s refusal of a name beside the field', { timeout: 30_000 }, async () => {
    const a = alice.page;
    const panel = await openDetails(alice);
    const part = panel.getByRole('region', { name: 'Webhooks' });
    await expect.poll(() => part.textContent(), { timeout: 10_000 }).toContain('This group has no webhooks.');
    await part.getByRole('button', { name: 'Create a webhook' }).click();
    const name = part.getByLabel('Name of the new webhook');
    expect(await a.evaluate(() => document.activeElement?.id)).toBe(await name.getAttribute('id'));
    // A member's name, typed otherwise: the node compares names as a search does.
    await name.fill('dave  OKAFOR');
    await name.press('Enter');
    const refusal = part.locator('.webhook-form [role=alert]');
    await expect
      .poll(() => refusal.textContent(), { timeout: 10_000 })
      .toBe(
        'Choose another name for the webhook. Dave Okafor is the name of a member of this group: a webhook ' +
          'cannot take the name of a person or an app, so that nobody takes its posts for theirs.',
      );
    expect(await name.getAttribute('aria-invalid')).toBe('true');
    expect(await a.evaluate(() => document.activeElement?.id)).toBe(await name.getAttribute('id'));
    expect(await campus.nodes.eng.services.apps.Webhook.count({ where: { conversationId: groupId } })).toBe(0);
    // Escape in the field gives up creating one, and leaves the dialog open.
    await name.press('Escape');
    expect(await part.getByRole('button', { name: 'Create a webhook' }).isVisible()).toBe(true);
    expect(await panel.count()).toBe(1);
  });

  it('lets the owner create a webhook, copy its address once, and revoke it', { timeout: 60_000 }, async () => {
    const a = alice.page;
    const panel = a.getByRole('dialog', { name: 'Group details' });
    const part = panel.getByRole('region', { name: 'Webhooks' });
    await part.getByRole('button', { name: 'Create a webhook' }).click();
    await part.getByLabel('Name of the new webhook').fill('<b>CI</b> & builds');
    await part.getByRole('button', { name: 'Create webhook' }).click();

    // The address, shown this once, focused and selected, with a plain warning.
    const created = part.getByRole('group', { name: 'Webhook “<b>CI</b> & builds” created' });
    await created.waitFor({ timeout: 10_000 });
    const field = created.getByLabel('The webhook’s address');
    const url = await field.inputValue();
    expect(url).toMatch(new RegExp(`^${campus.nodes.eng.url}/hooks/[0-9a-f]{16}/\\S+$`));
    expect(await a.evaluate(() => document.activeElement?.id)).toBe(await field.getAttribute('id'));
    expect(await created.textContent()).toContain(
      'it will not be shown again. Anyone who has it can post into this group',
    );
    await created.getByRole('button', { name: 'Copy address' }).click();
    await expect.poll(() => created.locator('[aria-live]').textContent()).toContain('The address is copied.');
    expect(await a.evaluate(() => navigator.clipboard.readText())).toBe(url);

    // Listed, its name as typed (text, not markup), with who made it; everything fits the phone.
    const row = part.locator('.webhook', { hasText: '<b>CI</b> & builds' });
    await expect.poll(() => row.locator('.muted').textContent(), { timeout: 10_000 }).toMatch(/^Made by you today at /);
    expect(await part.locator('.webhook b').count()).toBe(0);
    expect(await smallTargets(a, '.group-webhooks button, .group-webhooks textarea')).toEqual([]);
    const sticksOut = await a.evaluate(() => {
      const dialog = document.querySelector<HTMLElement>('.group-dialog')!;
      const right = Math.max(...[...dialog.querySelectorAll('*')].map((el) => el.getBoundingClientRect().right));
      return { scroll: dialog.scrollWidth - dialog.clientWidth, right: right - window.innerWidth };
    });
    expect(sticksOut.scroll).toBeLessThanOrEqual(0);
    expect(sticksOut.right).toBeLessThanOrEqual(0);

    // Done: the address leaves the page.
    await created.getByRole('button', { name: 'Done' }).click();
    expect(await a.evaluate(() => document.activeElement?.textContent)).toBe('Create a webhook');
    const kept = await a.evaluate(
      (u) => [...document.querySelectorAll('input, textarea')].some((i) => (i as HTMLInputElement).value === u),
      url,
    );
    expect(kept).toBe(false);

    // What is posted to it shows in the group, for a member, as the webhook's.
    const posted = await post(url, 'Nightly build passed');
    expect(posted.status).toBe(201);
    await openConversation(dave.page, GROUP);
    const message = dave.page.locator('.conversation .message', { hasText: 'Nightly build passed' });
    await expect.poll(() => message.count(), { timeout: 10_000 }).toBe(1);
    expect(await message.locator('.sender').textContent()).toContain('<b>CI</b> & builds webhook');

    // Revoking asks first; Cancel keeps it.
    const revoke = part.getByRole('button', { name: 'Revoke webhook “<b>CI</b> & builds”' });
    await revoke.click();
    const asked = a.getByRole('alertdialog', { name: 'Revoke “<b>CI</b> & builds”?' });
    await asked.getByRole('button', { name: 'Cancel' }).click();
    expect(await a.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(
      'Revoke webhook “<b>CI</b> & builds”',
    );
    expect((await post(url, 'Still here')).status).toBe(201);
    await revoke.click();
    await asked.getByRole('button', { name: 'Revoke' }).click();
    await expect
      .poll(() => part.locator('.dialog-notice[aria-live]').first().textContent(), { timeout: 10_000 })
      .toBe('“<b>CI</b> & builds” is revoked: its address no longer works.');
    await expect.poll(() => revoke.count()).toBe(0);
    expect(await part.textContent()).toContain('This group has no webhooks.');
    expect(await part.locator('summary').textContent()).toBe('Revoked webhooks (1)');
    const refused = await post(url, 'Too late');
    expect(refused.status).toBe(410);
    expect(await refused.json()).toMatchObject({ error: { code: 'webhook_revoked' } });
    expect([...alice.errors, ...dave.errors]).toEqual([]);
  });

  it('tells an admin from another college that the group’s webhooks are made at its home', {
    timeout: 30_000,
  }, async () => {
    const bob = await signInToPortal(browser, campus.gateway.issuer, 'bob');
    const laptop = await connectAs(campus.gateway, campus.nodes.eng, 'alice');
    try {
      const club = await laptop.createGroup('Drone club', ['bob@arts.campus.test']);
      await laptop.setRole(club.id, 'bob@arts.campus.test', 'admin');
      await openConversation(bob.page, 'Drone club');
      await bob.page.getByRole('button', { name: 'Group details' }).click();
      const panel = bob.page.getByRole('dialog', { name: 'Group details' });
      await expect
        .poll(() => panel.locator('.member', { hasText: 'Bob Martin (you)' }).locator('.role').textContent(), {
          timeout: 10_000,
        })
        .toBe('Admin');
      expect(await panel.locator('.group-name .muted').textContent()).toContain(
        'Its webhooks are made there too, by an owner or admin who chats on',
      );
      expect(await panel.getByRole('region', { name: 'Webhooks' }).count()).toBe(0);
      expect(bob.errors).toEqual([]);
    } finally {
      laptop.close();
      await bob.context.close();
    }
  });

  it('names the app a webhook was made through', { timeout: 30_000 }, async () => {
    const a = alice.page;
    const laptop = await connectAs(campus.gateway, campus.nodes.eng, 'alice');
    try {
      const { webhook } = await laptop.createWebhook(groupId, 'Lab bookings');
      // As the node records one made with a person's token issued to a registered app.
      await campus.nodes.eng.services.apps.Webhook.update(
        { clientId: 'lab-booking', appName: 'Lab Booking' },
        { where: { id: webhook.id } },
      );
    } finally {
      laptop.close();
    }
    // Its details opened again (on the phone, over the conversation still open) read the list again.
    await a.keyboard.press('Escape');
    await a.getByRole('button', { name: 'Group details' }).click();
    const panel = a.getByRole('dialog', { name: 'Group details' });
    const row = panel.locator('.group-webhooks .webhook', { hasText: 'Lab bookings' });
    await expect
      .poll(() => row.locator('.muted').textContent(), { timeout: 10_000 })
      .toMatch(/^Made by you through Lab Booking today at /);
    expect(alice.errors).toEqual([]);
  });
});
