import { describe, expect, it, vi } from 'vitest';
import { type BrowserAgent, htmlText, type Page } from '../helpers/browser-agent.ts';
import { TabbedBrowser } from '../helpers/tabbed-browser.ts';
import { gatewayForSignIns, NOT_STARTED_HERE, openSignedOut, signInAs, TOO_OLD } from '../helpers/sign-in-tabs.ts';

/**
 * A browser restoring its tabs opens the portal in two of them while signed out: each starts a sign-in. Each
 * must be able to finish, in either order, and a callback this browser did not start (or started too long
 * ago) gets a page that says so and offers to start again, signing no one in.
 */
const url = gatewayForSignIns('two-tab-sign-in');

/** Opens the portal signed out: it ends on the gateway's sign-in form of a sign-in of its own. */
const openPortal = (agent: BrowserAgent) => openSignedOut(agent, url('/'));

/** Fills in the sign-in form of one tab and follows where it leads. */
const signInOn = (agent: BrowserAgent, tab: Page, stopAt?: string) => signInAs('alice', agent, tab, stopAt);

const isSignedIn = async (agent: BrowserAgent) =>
  (await agent.request(url('/portal/api/me'), { headers: { accept: 'application/json', 'x-atrium-portal': '1' } }))
    .status === 200;

function expectPortal(page: Page) {
  expect(page.url).toBe(url('/'));
  expect(page.status).toBe(200);
}

/** The page of a callback with nothing to finish: why, and a button that starts again. */
function expectStartAgainPage(page: Page, words = NOT_STARTED_HERE) {
  expect(page.status).toBe(400);
  const text = htmlText(page.html);
  expect(text).toContain('Sign-in failed');
  expect(text).toContain(words);
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

  it('brings each tab back to the page it asked for: the account page to it, the chat to the portal', async () => {
    const agent = new TabbedBrowser();
    const account = await agent.navigate(url('/account/security'));
    expect(account.url).toContain('/interaction/');
    const chat = await openPortal(agent);
    const first = await signInOn(agent, account);
    expect(first.url).toBe(url('/account/security'));
    expect(first.status).toBe(200);
    expectPortal(await signInOn(agent, chat));
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
    expectStartAgainPage(await agent.navigate(callback.url), TOO_OLD);
    expect(await isSignedIn(agent)).toBe(false);
  });

  it('brings a used callback opened again (Back) to the portal while signed in', async () => {
    const agent = new TabbedBrowser();
    const callback = await signInOn(agent, await openPortal(agent), url('/portal/callback'));
    expectPortal(await agent.navigate(callback.url));
    expectPortal(await agent.navigate(callback.url));
  });

  it('still finishes a sign-in that comes back within its ten minutes', async () => {
    const agent = new TabbedBrowser();
    const callback = await signInOn(agent, await openPortal(agent), url('/portal/callback'));
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 50_000 });
    expectPortal(await agent.navigate(callback.url));
    expect(await isSignedIn(agent)).toBe(true);
  });
});
