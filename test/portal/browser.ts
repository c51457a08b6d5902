import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Cookie, type Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { BrowserAgent, formWithAction } from '../helpers/browser-agent.ts';
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
    /**
     * Fills in the same login form over HTTP (BrowserAgent, with this browser's User-Agent) and hands the
     * browser the cookies it got, as the browser would have kept them: the browser then loads the portal
     * alone, not the sign-in pages before it (about half a second less per person on a busy machine). For
     * tests of what the portal does once signed in; tests of signing in itself fill the form in the browser.
     */
    overHttp?: boolean;
    /** Done to the browser before the portal first opens in it (init scripts, permissions): no reload for them. */
    beforeOpening?: (context: BrowserContext) => Promise<unknown>;
  } = {},
): Promise<Person> {
  const context = await browser.newContext({
    viewport: options.viewport ?? DESKTOP,
    hasTouch: options.hasTouch ?? false,
    isMobile: options.hasTouch ?? false,
    ...(options.locale ? { locale: options.locale } : {}),
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
  });
  await options.beforeOpening?.(context);
  const page = await context.newPage();
  const errors = pageErrors(page);
  if (options.overHttp) {
    const userAgent = await page.evaluate(() => navigator.userAgent);
    await context.addCookies(await signInOverHttp(issuer, username, userAgent));
    await page.goto(`${issuer}/`);
  } else {
    await page.goto(`${issuer}/`);
    await page.fill('#username', username);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
  }
  await page.waitForURL(`${issuer}/`);
  await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
  return { context, page, errors };
}

/** A BrowserAgent that also keeps each Set-Cookie line whole, attributes and all, in the order received. */
class CookieLineAgent extends BrowserAgent {
  readonly lines: { url: URL; line: string }[] = [];

  override async request(url: string, init: RequestInit = {}): Promise<Response> {
    const response = await super.request(url, init);
    for (const line of response.headers.getSetCookie()) this.lines.push({ url: new URL(url), line });
    return response;
  }
}

/** Signs in to the portal through the gateway's login form over HTTP; the cookies a browser would keep then. */
async function signInOverHttp(issuer: string, username: string, userAgent: string): Promise<Cookie[]> {
  const agent = new CookieLineAgent({ userAgent });
  const form = await agent.navigate(`${issuer}/`);
  const portal = await agent.submit(form, formWithAction(form, '/login'), { username, password: DEMO_PASSWORD });
  if (portal.url !== `${issuer}/` || portal.status !== 200)
    throw new Error(`Signing in over HTTP ended at ${portal.url} (${portal.status})`);
  const kept = new Map<string, Cookie>();
  const now = Date.now() / 1000;
  for (const { url, line } of agent.lines) {
    const [pair, ...attrs] = line.split(';').map((part) => part.trim());
    const eq = pair!.indexOf('=');
    const attr = (name: string) =>
      attrs.find((a) => a.toLowerCase().startsWith(`${name}=`))?.slice(name.length + 1) ??
      (attrs.some((a) => a.toLowerCase() === name) ? '' : undefined);
    const maxAge = attr('max-age');
    const expiresAt = attr('expires');
    const expires = maxAge !== undefined ? now + Number(maxAge) : expiresAt ? Date.parse(expiresAt) / 1000 : -1;
    const sameSite = attr('samesite')?.toLowerCase();
    const cookie: Cookie = {
      name: pair!.slice(0, eq),
      value: pair!.slice(eq + 1),
      domain: url.hostname,
      path: attr('path') || '/',
      expires,
      httpOnly: attr('httponly') !== undefined,
      secure: attr('secure') !== undefined,
      sameSite: sameSite === 'strict' ? 'Strict' : sameSite === 'none' ? 'None' : 'Lax',
    };
    const key = `${cookie.name};${cookie.path}`;
    if (cookie.value === '' || (expires !== -1 && expires <= now)) kept.delete(key);
    else kept.set(key, cookie);
  }
  return [...kept.values()];
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
