import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { addPerson } from '../helpers/gateway.ts';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { chromiumMissing, launchChromium, send, signInToPortal, startDirect, statusOf } from './browser.ts';

/**
 * Someone whose units move to a college another node serves (an administrator's change, or their campus
 * directory's at a sync) is still signed in: the node they left closes their socket with `left_domain`, and
 * the open portal takes them to where they chat now, never telling them they were signed out.
 */
let campus: Campus;
let browser: Browser | undefined;
const ops = () => ({ ...campus.gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  campus = await startCampus('portal-chat-moved');
  if (!chromiumMissing) browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

describe.skipIf(chromiumMissing)('an open portal tab when the person’s only chat domain changes', () => {
  it('connects to the new college’s node and says their chat moved there, signed in as before', {
    timeout: 60_000,
  }, async () => {
    await addPerson(campus.gateway, 'xia', { units: ['campus/eng/cs'] });
    const xia = await signInToPortal(browser!, campus.gateway.issuer, 'xia');
    await startDirect(xia.page, 'alice', 'Alice Chen');
    await send(xia.page, 'Moving to Music next term');
    await updateUser(ops(), 'xia', { units: ['campus/arts/music'], moveChat: true });

    await expect
      .poll(() => xia.page.locator('#toasts').textContent(), { timeout: 10_000 })
      .toContain('Your chat moved to');
    expect(await xia.page.locator('#toasts').textContent()).toContain(
      'Your groups come with you; your direct conversations on eng.campus.test stay there and are no longer shown here.',
    );
    expect(await xia.page.locator('.ended').count()).toBe(0);
    expect(await xia.page.locator('body').textContent()).not.toContain('signed out');
    expect(await xia.page.locator('.conversation-item', { hasText: 'Alice Chen' }).count()).toBe(0);
    await xia.page.waitForSelector('#connection[data-state=online]', { timeout: 10_000 });

    // Chat goes on from the new college: a message to someone there is delivered.
    await startDirect(xia.page, 'bob', 'Bob Martin');
    await send(xia.page, 'Hello from Music');
    await expect.poll(() => statusOf(xia.page, 'Hello from Music'), { timeout: 10_000 }).not.toBe('sending');
    expect(xia.errors).toEqual([]);
    await xia.context.close();
  });
});
