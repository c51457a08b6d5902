import { describe, expect, it, vi } from 'vitest';
import { type BrowserAgent, htmlText, type Page } from '../helpers/browser-agent.ts';
import { gatewayForSignIns, openSignedOut, signedInToConsole, signInAs } from '../helpers/sign-in-tabs.ts';
import { TabbedBrowser } from '../helpers/tabbed-browser.ts';

/**
 * An administrator opens two console links while signed out (or the browser restores two console tabs):
 * each starts a sign-in. Each must let them in, in either order, on the page that tab asked for; a callback
 * this browser did not start (or started too long ago) gets a page that says so and offers to start again,
 * signing no one in.
 */
// Every sign-in in this file comes from 127.0.0.1; the per-address login limit is not under test here.
const url = gatewayForSignIns('console-two-tabs', { LOGIN_IP_LIMIT: '1000' });

/** Opens a console page signed out: it ends on the gateway's sign-in form of a sign-in of its own. */
const openConsole = (agent: BrowserAgent, path: string) => openSignedOut(agent, url(path));

/** Fills in the sign-in form of one tab as the administrator and follows where it leads. */
const signInOn = (agent: BrowserAgent, tab: Page, stopAt?: string) => signInAs('admin', agent, tab, stopAt);

const isSignedIn = (agent: BrowserAgent) => signedInToConsole(agent, url);

function expectConsoleAt(page: Page, path: string) {
  expect(page.url).toBe(url(path));
  expect(page.status).toBe(200);
  expect(page.html).toContain('Signed in as <strong>admin</strong>');
}

function expectStartAgainPage(page: Page) {
  expect(page.status).toBeGreaterThanOrEqual(400);
  expect(page.status).toBeLessThan(500);
  const text = htmlText(page.html);
  expect(text).toContain('Sign-in failed');
  expect(text).toContain('Sign in again.');
  expect(text).not.toMatch(/Unable to verify|authorization request state/i);
  expect(page.html).toContain('<a class="button" href="/admin/login">Try signing in again</a>');
}

describe('signing in to the admin console from two tabs of one browser', () => {
  it('lets both sign-ins finish when the later tab signs in first, each on the page it asked for', async () => {
    const agent = new TabbedBrowser();
    const first = await openConsole(agent, '/admin/users?q=dave');
    const second = await openConsole(agent, '/admin/units');
    expectConsoleAt(await signInOn(agent, second), '/admin/units');
    expectConsoleAt(await signInOn(agent, first), '/admin/users?q=dave');
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('lets both sign-ins finish when the first tab signs in first', async () => {
    const agent = new TabbedBrowser();
    const first = await openConsole(agent, '/admin/users?q=dave');
    const second = await openConsole(agent, '/admin/units');
    expectConsoleAt(await signInOn(agent, first), '/admin/users?q=dave');
    expect(await isSignedIn(agent)).toBe(true);
    expectConsoleAt(await signInOn(agent, second), '/admin/units');
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('refuses a forged state with a page to start again, signing no one in', async () => {
    const agent = new TabbedBrowser();
    await openConsole(agent, '/admin/users');
    expectStartAgainPage(await agent.navigate(url('/admin/callback?code=made-up&state=forged')));
    expect(await isSignedIn(agent)).toBe(false);
    // Its button starts a sign-in that works.
    expectConsoleAt(await signInOn(agent, await agent.navigate(url('/admin/login'))), '/admin/users');
  });

  it('refuses a real callback another browser started, so no one is signed in as its owner', async () => {
    const attacker = new TabbedBrowser();
    const callback = await signInOn(attacker, await openConsole(attacker, '/admin/users'), url('/admin/callback'));
    expect(callback.url).toContain('state=');
    const victim = new TabbedBrowser();
    await openConsole(victim, '/admin/users');
    expectStartAgainPage(await victim.navigate(callback.url));
    expect(await isSignedIn(victim)).toBe(false);
  });

  it('refuses a sign-in that comes back after more than ten minutes, with a page to start again', async () => {
    const agent = new TabbedBrowser();
    const callback = await signInOn(agent, await openConsole(agent, '/admin/users'), url('/admin/callback'));
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 11 * 60_000 });
    expectStartAgainPage(await agent.navigate(callback.url));
    expect(await isSignedIn(agent)).toBe(false);
  });

  it('still finishes a sign-in that comes back within its ten minutes', async () => {
    const agent = new TabbedBrowser();
    const callback = await signInOn(agent, await openConsole(agent, '/admin/units'), url('/admin/callback'));
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 50_000 });
    expectConsoleAt(await agent.navigate(callback.url), '/admin/units');
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('keeps the console’s and the portal’s sign-ins of one browser apart: both finish', async () => {
    const agent = new TabbedBrowser();
    const portal = await agent.navigate(url('/'));
    expect(portal.url).toContain('/interaction/');
    const console = await openConsole(agent, '/admin/units');
    expectConsoleAt(await signInOn(agent, console), '/admin/units');
    const back = await signInOn(agent, portal);
    expect(back.url).toBe(url('/'));
    expect(back.status).toBe(200);
    expect(await isSignedIn(agent)).toBe(true);
  });
});
