import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeaveApp } from '../../examples/leave-approval/main.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { type BrowserAgent, formWithAction, htmlText, type Page } from '../helpers/browser-agent.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startLeaveApprovalFor } from '../helpers/leave-approval.ts';
import { TabbedBrowser } from '../helpers/tabbed-browser.ts';
import { gatewayToken } from './helpers.ts';

/**
 * Two tabs of one browser signing in to the leave-approval example at once (two links opened, a browser
 * restoring its tabs): each sign-in keeps its own state, PKCE verifier and nonce, so both finish, in
 * either order; a callback this browser did not start signs no one in.
 */
let gateway: TestGateway;
let app: LeaveApp;
let appUrl: string;

beforeAll(async () => {
  gateway = await startTestGateway('leave-tabs', { LOGIN_IP_LIMIT: '1000' });
  // Nobody files leave here, so the chat nodes are never reached.
  ({ app, url: appUrl } = await startLeaveApprovalFor(gateway, {
    eng: 'http://127.0.0.1:9',
    arts: 'http://127.0.0.1:9',
  }));
}, 60_000);
afterAll(async () => {
  await app?.close();
  await gateway?.stop();
});

/** Opens the app's sign-in in a tab: it ends on the gateway's sign-in form of a sign-in of its own. */
async function openSignIn(agent: BrowserAgent): Promise<Page> {
  const page = await agent.navigate(`${appUrl}/login`);
  expect(page.url).toContain('/interaction/');
  expect(page.html).toContain('/login"');
  return page;
}

/** Fills in one tab's sign-in form and follows where it leads (stopping at `stopAt`, when given). */
function signInOn(agent: BrowserAgent, tab: Page, username: string, stopAt?: string): Promise<Page> {
  return agent.submit(tab, formWithAction(tab, '/login'), { username, password: DEMO_PASSWORD }, stopAt);
}

function expectSignedIn(page: Page, name: string) {
  expect(page.url).toBe(`${appUrl}/`);
  expect(page.status).toBe(200);
  expect(htmlText(page.html)).toContain(`Signed in as ${name}`);
}

/** Whether the app's own session of the browser is signed in (no sign-in is started by asking). */
const isSignedIn = async (agent: BrowserAgent) => {
  const response = await agent.request(`${appUrl}/`);
  return response.status === 200 && (await response.text()).includes('Signed in as');
};

describe('signing in to the leave-approval example from two tabs of one browser', () => {
  it('lets both sign-ins finish when the first tab signs in first', async () => {
    const agent = new TabbedBrowser();
    const first = await openSignIn(agent);
    const second = await openSignIn(agent);
    expectSignedIn(await signInOn(agent, first, 'dave'), 'Dave Okafor');
    expectSignedIn(await signInOn(agent, second, 'dave'), 'Dave Okafor');
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('lets both sign-ins finish when the later tab signs in first', async () => {
    const agent = new TabbedBrowser();
    const first = await openSignIn(agent);
    const second = await openSignIn(agent);
    expectSignedIn(await signInOn(agent, second, 'alice'), 'Alice Chen');
    expectSignedIn(await signInOn(agent, first, 'alice'), 'Alice Chen');
  });

  it('signs both tabs in silently when they are opened from the workbench at once', async () => {
    const { agent } = await gatewayToken(gateway, 'bob', new TabbedBrowser());
    const callback = `${appUrl}/auth/callback`;
    // Both tabs have started their sign-in before either comes back.
    const first = await agent.navigate(`${appUrl}/`, {}, callback);
    const second = await agent.navigate(`${appUrl}/`, {}, callback);
    expect(first.url).toContain('code=');
    expect(second.url).toContain('code=');
    expectSignedIn(await agent.navigate(first.url), 'Bob Martin');
    expectSignedIn(await agent.navigate(second.url), 'Bob Martin');
  });

  it('signs no one in with a callback this browser did not start, or a forged one', async () => {
    const attacker = new TabbedBrowser();
    const stolen = await signInOn(attacker, await openSignIn(attacker), 'dave', `${appUrl}/auth/callback`);
    expect(stolen.url).toContain('code=');
    const victim = new TabbedBrowser();
    await openSignIn(victim);
    const landed = await victim.navigate(stolen.url);
    expect(landed.url).toBe(`${appUrl}/`);
    expect(landed.html).toContain('href="/login"');
    expect(await isSignedIn(victim)).toBe(false);

    const forged = await victim.navigate(`${appUrl}/auth/callback?code=made-up&state=forged`);
    expect(forged.html).toContain('href="/login"');
    expect(await isSignedIn(victim)).toBe(false);
    // The attacker's own browser still finishes its sign-in: the victim's visit did not use it up.
    expectSignedIn(await attacker.navigate(stolen.url), 'Dave Okafor');
  });
});
