import { describe, expect, it, vi } from 'vitest';
import { type BrowserAgent, htmlText, type Page } from '../helpers/browser-agent.ts';
import { gatewayForSignIns, NOT_STARTED_HERE, signedInToConsole, signInAs, TOO_OLD } from '../helpers/sign-in-tabs.ts';
import { TabbedBrowser } from '../helpers/tabbed-browser.ts';

/**
 * A console callback with no sign-in of this browser to finish says why, as what the administrator did:
 * a sign-in this browser never started (a forged link, another browser's), one whose page was opened again
 * after it was used, or one started more than ten minutes ago. Each offers to sign in again.
 */
const url = gatewayForSignIns('console-not-finished', { LOGIN_IP_LIMIT: '1000' });

const USED = 'This sign-in could not be finished: its page was opened again after it was used. Sign in again.';

/** Opens the console signed out and signs in as the administrator, stopping at the console's callback. */
async function callbackOf(agent: BrowserAgent): Promise<string> {
  const form = await agent.navigate(url('/admin/users'));
  expect(form.url).toContain('/interaction/');
  const page = await signInAs('admin', agent, form, url('/admin/callback'));
  expect(page.url).toContain('/admin/callback?code=');
  return page.url;
}

function expectSaid(page: Page, words: string) {
  expect(page.status).toBe(401);
  const text = htmlText(page.html);
  expect(text).toContain('Sign-in failed');
  expect(text).toContain(words);
  expect(page.html).toContain('<a class="button" href="/admin/login">Try signing in again</a>');
}

const isSignedIn = (agent: BrowserAgent) => signedInToConsole(agent, url);

describe('a console callback with no sign-in to finish', () => {
  it('says a forged state was not started in this browser', async () => {
    const agent = new TabbedBrowser();
    await agent.navigate(url('/admin/users'));
    expectSaid(await agent.navigate(url('/admin/callback?code=made-up&state=forged')), NOT_STARTED_HERE);
    expect(await isSignedIn(agent)).toBe(false);
  });

  it("says another browser's callback was not started in this one, not that it was used", async () => {
    const callback = await callbackOf(new TabbedBrowser());
    const other = new TabbedBrowser();
    await other.navigate(url('/admin/users'));
    expectSaid(await other.navigate(callback), NOT_STARTED_HERE);
    expect(await isSignedIn(other)).toBe(false);
  });

  it('says a callback opened again after it signed in was used', async () => {
    const agent = new TabbedBrowser();
    const callback = await callbackOf(agent);
    expect((await agent.navigate(callback)).url).toBe(url('/admin/users'));
    expectSaid(await agent.navigate(callback), USED);
  });

  it('says a sign-in that comes back after more than ten minutes was started too long ago', async () => {
    const agent = new TabbedBrowser();
    const callback = await callbackOf(agent);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 11 * 60_000 });
    expectSaid(await agent.navigate(callback), TOO_OLD);
    expect(await isSignedIn(agent)).toBe(false);
    // Opened once more, it is still too old, not unknown.
    expectSaid(await agent.navigate(callback), TOO_OLD);
  });

  it('says a sign-in too old even after a newer one was started and signed in with in this browser', async () => {
    const agent = new TabbedBrowser();
    const old = await callbackOf(agent);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 11 * 60_000 });
    // Signed in at the gateway already: a new start comes straight back, and signs in.
    expect((await agent.navigate(url('/admin/units'))).url).toBe(url('/admin/units'));
    expect(await isSignedIn(agent)).toBe(true);
    expectSaid(await agent.navigate(old), TOO_OLD);
  });
});
