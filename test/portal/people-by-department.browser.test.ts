import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { chromiumMissing, launchChromium, signInToPortal, type Person } from './browser.ts';

let campus: Campus;
let browser: Browser;
let bob: Person;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-people-department');
  browser = await launchChromium();
  bob = await signInToPortal(browser, campus.gateway.issuer, 'bob');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

describe.skipIf(chromiumMissing)("New chat's search", () => {
  it("finds a department's people by the department's name, and says so before one types", {
    timeout: 60_000,
  }, async () => {
    const b = bob.page;
    await b.click('a[data-nav="#/new"]');
    const status = b.locator('#people-status');
    expect(await b.getByLabel('Find people').getAttribute('id')).toBe('people-query');
    expect(await b.locator('label[for=people-query]').textContent()).toContain('department');
    expect(await status.textContent()).toContain('a department');
    const found = b.locator('.people .person');
    const search = async (query: string) => {
      // Emptied first, the status says the hint again: what it says next is this search's answer.
      await b.fill('#people-query', '');
      await b.fill('#people-query', query);
      await expect.poll(() => status.textContent(), { timeout: 10_000 }).toMatch(/found/);
      return found.locator('strong').allTextContents();
    };

    // Bob, a newcomer of arts, looks for the Computer Science people: Alice (eng) and only her.
    expect(await search('Computer')).toEqual(['Alice Chen']);
    expect(await found.first().locator('.person-units').textContent()).toContain(
      'Department of Computer Science, College of Engineering',
    );
    expect(await search('music')).toEqual(['Carol Silva']);
    // Every address is at campus.test: the mail's domain finds nobody.
    expect(await search('campus')).toEqual([]);
    expect(await status.textContent()).toBe('Nobody found.');
  });
});
