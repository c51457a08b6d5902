import { afterAll, afterEach, beforeAll, expect, vi } from 'vitest';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { type BrowserAgent, formWithAction, type Page } from './browser-agent.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';

/** What a callback says when this browser never started the sign-in it would finish. */
export const NOT_STARTED_HERE =
  'This sign-in was not started in this browser, so it cannot be finished here. Sign in again.';
/** What a callback says when its sign-in was started more than ten minutes before. */
export const TOO_OLD = 'This sign-in could not be finished: it was started more than 10 minutes ago. Sign in again.';

/**
 * A demo gateway for a file of sign-in tests, started before them and stopped after them; a test that moved
 * the clock forward gets it put back after it. Returns the gateway's URL of a path.
 */
export function gatewayForSignIns(label: string, env: Record<string, string> = {}): (path: string) => string {
  let gateway: TestGateway | undefined;
  beforeAll(async () => {
    gateway = await startTestGateway(label, env);
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  return (path) => `${gateway!.issuer}${path}`;
}

/** Opens a page signed out: it ends on the gateway's sign-in form of a sign-in of its own. */
export async function openSignedOut(agent: BrowserAgent, address: string): Promise<Page> {
  const page = await agent.navigate(address);
  expect(page.url).toContain('/interaction/');
  expect(page.html).toContain('/login"');
  return page;
}

/** Fills in the sign-in form of one tab as `username` and follows where it leads, up to `stopAt` if given. */
export async function signInAs(username: string, agent: BrowserAgent, tab: Page, stopAt?: string): Promise<Page> {
  let page = await agent.submit(tab, formWithAction(tab, '/login'), { username, password: DEMO_PASSWORD }, stopAt);
  if (page.url.includes('/interaction/') && page.html.includes('/confirm"'))
    page = await agent.submit(page, formWithAction(page, '/confirm'), {}, stopAt);
  return page;
}

/** Whether the browser is signed in to the admin console, at the gateway whose URLs `url` makes. */
export const signedInToConsole = async (agent: BrowserAgent, url: (path: string) => string) =>
  (await agent.request(url('/admin/users'))).status === 200;
