import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, htmlText, mainText, signInThrough } from '../helpers/browser-agent.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

/** With an apostrophe and an ampersand, which the pages must show as written (escaped in their HTML). */
const CAMPUS = "St. Mary's College of Arts & Sciences";

let gateway: TestGateway;
const url = (path: string) => `${gateway.issuer}${path}`;

beforeAll(async () => {
  gateway = await startTestGateway('campus-portal-pages', { CAMPUS_NAME: CAMPUS });
}, 60_000);
afterAll(async () => gateway?.stop());

describe('a gateway with CAMPUS_NAME, on the portal’s and the account’s pages', () => {
  it('asks people to sign in to continue to the campus, and titles the portal with it', async () => {
    const agent = new BrowserAgent();
    let page = await agent.navigate(url('/'));
    expect(mainText(page)).toContain(`to continue to ${CAMPUS}`);
    expect(mainText(page)).not.toContain('Atrium');
    page = await agent.submit(page, formWithAction(page, '/login'), { username: 'alice', password: DEMO_PASSWORD });
    expect(page.url).toBe(url('/'));
    expect(htmlText(/<title>([^<]*)<\/title>/.exec(page.html)?.[1] ?? '')).toBe(CAMPUS);
    // The script reads the name from the page (escaped there like any text), not from a script of its own.
    expect(page.html).toContain('data-name="St. Mary&#x27;s College of Arts &amp; Sciences"');
    // Without JavaScript, too, the page names the campus's portal.
    expect(htmlText(/<noscript>([\s\S]*?)<\/noscript>/.exec(page.html)?.[1] ?? '')).toContain(
      `The ${CAMPUS} portal needs JavaScript.`,
    );
  });

  it('says the portal’s sign-out signed out of the campus', async () => {
    const page = await new BrowserAgent().navigate(url('/portal/signed-out'));
    expect(mainText(page)).toContain(`You have signed out of ${CAMPUS} in this browser`);
  });

  it('says a sign-out at the gateway signed out of the campus', async () => {
    const agent = new BrowserAgent();
    const confirm = await agent.navigate(url('/session/end'));
    const done = await agent.submit(confirm, formWithAction(confirm, '/session/end/confirm'), { logout: 'yes' });
    expect(mainText(done)).toContain(`You have signed out of ${CAMPUS}. You can close this window.`);
  });

  it('says a device signed out on the account page is signed out of the campus', async () => {
    await signInThrough(new BrowserAgent(), url('/account/security'), 'alice', DEMO_PASSWORD);
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'alice', DEMO_PASSWORD);
    const page = await agent.navigate(url('/account/security'));
    const devices = htmlText(/<section[^>]*id="devices">([\s\S]*?)<\/section>/.exec(page.html)?.[1] ?? '');
    expect(devices).toContain(`it is signed out of ${CAMPUS} and of its apps at once`);
    // A second browser of hers is listed with its sign-out form, which asks her to confirm what it does.
    expect(devices).toContain(`is signed out of ${CAMPUS} and its apps at once.`);
    expect(devices).toContain(`Signed in to: ${CAMPUS} portal and chat`);
  });

  it('leads from a portal sign-in that is over back to the campus', async () => {
    const agent = new BrowserAgent();
    // The sign-in page keeps in this browser that its sign-in is the portal's.
    const login = await agent.navigate(url('/'));
    expect(login.url).toContain('/interaction/');
    const over = await agent.navigate(url('/interaction/gone/over'));
    expect(over.html).toContain(`id="way-on">Go to St. Mary&#x27;s College of Arts &amp; Sciences</a>`);
  });
});
