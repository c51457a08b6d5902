import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { BrowserAgent, formWithAction, htmlText, type Page } from '../helpers/browser-agent.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * A browser restoring its tabs opens the portal in two of them while signed out: each starts a sign-in. Each
 * must be able to finish, in either order, and a callback this browser did not start (or started too long
 * ago) gets a page that says so and offers to start again, signing no one in.
 */
let gateway: TestGateway;
const url = (path: string) => `${gateway.issuer}${path}`;

beforeAll(async () => {
  gateway = await startTestGateway('two-tab-sign-in');
}, 60_000);
afterAll(async () => {
  await gateway?.stop();
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * A browser's cookie jar keeps cookies of one name for different paths apart: the gateway's sign-in keeps
 * one `_interaction` cookie per sign-in, under its own path, and ending one sign-in clears only its own.
 * (BrowserAgent keeps one cookie per name, which would let the first tab's sign-in erase the second's.)
 */
class TabbedBrowser extends BrowserAgent {
  private readonly jar = new Map<string, { name: string; path: string; value: string }>();

  override cookieHeader(target: URL): string {
    const fits = (path: string) =>
      target.pathname === path || target.pathname.startsWith(path.endsWith('/') ? path : `${path}/`);
    return [...this.jar.entries()]
      .filter(([key, cookie]) => key.startsWith(`${target.host} `) && fits(cookie.path))
      .sort(([, a], [, b]) => b.path.length - a.path.length)
      .map(([, cookie]) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  override async request(address: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(address);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(target);
    if (cookie) headers.set('cookie', cookie);
    if (!headers.has('accept')) headers.set('accept', 'text/html');
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((part) => part.trim());
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) || '/';
      const expired = attrs.some(
        (a) => /^max-age=0/i.test(a) || (/^expires=/i.test(a) && new Date(a.slice(8)) < new Date()),
      );
      const key = `${target.host} ${path} ${name}`;
      if (expired || value === '') this.jar.delete(key);
      else this.jar.set(key, { name, path, value });
    }
    return response;
  }
}

/** Opens the portal signed out: it ends on the gateway's sign-in form of a sign-in of its own. */
async function openPortal(agent: BrowserAgent): Promise<Page> {
  const page = await agent.navigate(url('/'));
  expect(page.url).toContain('/interaction/');
  expect(page.html).toContain('/login"');
  return page;
}

/** Fills in the sign-in form of one tab and follows where it leads. */
async function signInOn(agent: BrowserAgent, tab: Page, stopAt?: string): Promise<Page> {
  let page = await agent.submit(
    tab,
    formWithAction(tab, '/login'),
    { username: 'alice', password: DEMO_PASSWORD },
    stopAt,
  );
  if (page.url.includes('/interaction/') && page.html.includes('/confirm"'))
    page = await agent.submit(page, formWithAction(page, '/confirm'), {}, stopAt);
  return page;
}

const isSignedIn = async (agent: BrowserAgent) =>
  (await agent.request(url('/portal/api/me'), { headers: { accept: 'application/json', 'x-atrium-portal': '1' } }))
    .status === 200;

function expectPortal(page: Page) {
  expect(page.url).toBe(url('/'));
  expect(page.status).toBe(200);
}

function expectStartAgainPage(page: Page) {
  expect(page.status).toBe(400);
  const text = htmlText(page.html);
  expect(text).toContain('Sign-in failed');
  expect(text).toContain('not started in this browser, or was started more than ten minutes ago');
  expect(text).not.toMatch(/Unable to verify/i);
  expect(page.html).toContain('href="/portal/login"');
}

describe('signing in to the portal from two tabs of one browser', () => {
  it('lets both sign-ins finish when the first tab signs in first, both landing in the portal', async () => {
    const agent = new TabbedBrowser();
    const first = await openPortal(agent);
    const second = await openPortal(agent);
    expectPortal(await signInOn(agent, first));
    expect(await isSignedIn(agent)).toBe(true);
    expectPortal(await signInOn(agent, second));
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('lets both sign-ins finish when the later tab signs in first', async () => {
    const agent = new TabbedBrowser();
    const first = await openPortal(agent);
    const second = await openPortal(agent);
    expectPortal(await signInOn(agent, second));
    expectPortal(await signInOn(agent, first));
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('refuses a forged state with a page to start again, signing no one in', async () => {
    const agent = new TabbedBrowser();
    await openPortal(agent);
    const page = await agent.navigate(url('/portal/callback?code=made-up&state=forged'));
    expectStartAgainPage(page);
    expect(await isSignedIn(agent)).toBe(false);
    // Its button starts a sign-in that works.
    const again = await agent.navigate(url('/portal/login'));
    expectPortal(await signInOn(agent, again));
  });

  it('refuses a real callback another browser started, so no one is signed in as its owner', async () => {
    const attacker = new TabbedBrowser();
    const callback = await signInOn(attacker, await openPortal(attacker), url('/portal/callback'));
    expect(callback.url).toContain('state=');
    const victim = new TabbedBrowser();
    await openPortal(victim);
    expectStartAgainPage(await victim.navigate(callback.url));
    expect(await isSignedIn(victim)).toBe(false);
  });

  it('refuses a sign-in that comes back after more than ten minutes, with a page to start again', async () => {
    const agent = new TabbedBrowser();
    const callback = await signInOn(agent, await openPortal(agent), url('/portal/callback'));
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 11 * 60_000 });
    expectStartAgainPage(await agent.navigate(callback.url));
    expect(await isSignedIn(agent)).toBe(false);
  });

  it('still finishes a sign-in that comes back within its ten minutes', async () => {
    const agent = new TabbedBrowser();
    const callback = await signInOn(agent, await openPortal(agent), url('/portal/callback'));
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 50_000 });
    expectPortal(await agent.navigate(callback.url));
    expect(await isSignedIn(agent)).toBe(true);
  });
});
