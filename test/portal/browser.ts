import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { pageErrors } from '../helpers/page-errors.ts';

/** Debian's Chromium; never a downloaded browser (.ci/run installs it when missing). */
export const CHROMIUM = '/usr/bin/chromium';
export const chromiumMissing = !existsSync(CHROMIUM);
if (chromiumMissing)
  console.warn(`Skipping the portal's browser tests: ${CHROMIUM} is missing (apt-get install chromium).`);

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    headless: true,
  });
}

export type Person = { context: BrowserContext; page: Page; errors: string[] };

/**
 * A person in a browser of their own (a context: own cookies), signed in to the portal through the
 * gateway's login form, with the chat online. Page errors and CSP violations are collected.
 */
export async function signInToPortal(
  browser: Browser,
  issuer: string,
  username: string,
  options: {
    viewport?: { width: number; height: number };
    hasTouch?: boolean;
    /** The browser's language and time zone (the machine's when not given), which dates and times follow. */
    locale?: string;
    timezoneId?: string;
  } = {},
): Promise<Person> {
  const context = await browser.newContext({
    viewport: options.viewport ?? DESKTOP,
    hasTouch: options.hasTouch ?? false,
    isMobile: options.hasTouch ?? false,
    ...(options.locale ? { locale: options.locale } : {}),
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
  });
  const page = await context.newPage();
  const errors = pageErrors(page);
  await page.goto(`${issuer}/`);
  await page.fill('#username', username);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${issuer}/`);
  await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
  return { context, page, errors };
}

/** Opens the conversation whose list entry has this accessible name fragment. */
export async function openConversation(page: Page, title: string): Promise<void> {
  await page.locator('.conversation-item', { hasText: title }).first().click();
  await page.waitForSelector('.conversation .composer-input');
}

/** Sends a message as its writer would: Enter, or on a touch-first phone (where Enter adds a line) the Send button. */
export async function send(page: Page, text: string): Promise<void> {
  const input = page.locator('.conversation .composer-input');
  await input.fill(text);
  if (await page.evaluate(() => matchMedia('(pointer: coarse)').matches))
    await page.locator('.conversation .composer button.send').click();
  else await input.press('Enter');
}

/** The list item of the newest own message with this text, for its receipt. */
export function ownMessage(page: Page, text: string) {
  return page.locator('.message.mine:not(.pending)', { hasText: text }).last();
}

/** Starts a direct chat with someone found in the directory; the conversation opens. */
export async function startDirect(page: Page, query: string, name: string): Promise<void> {
  await page.click('a[data-nav="#/new"]');
  await page.fill('#people-query', query);
  await page.click(`button[aria-label="Message ${name}"]`);
  await page.waitForSelector('.conversation .composer-input');
}

/** The status shown under one's own message: sending, sent, delivered or read. */
export function statusOf(page: Page, text: string) {
  return ownMessage(page, text)
    .locator('.status')
    .getAttribute('data-status')
    .catch(() => null);
}

/** The buttons, links and fields under `selector` a person sees that are smaller than 44×44 CSS px. */
export function smallTargets(page: Page, selector: string): Promise<string[]> {
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
