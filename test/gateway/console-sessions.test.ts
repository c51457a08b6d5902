import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  filledFormWithAction,
  formWithAction,
  htmlText,
  signInThrough,
  submitFilled,
  type BrowserAgent,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';

const PORTAL_API = { accept: 'application/json', 'x-atrium-portal': '1' };

let gateway: TestGateway;
const url = (path: string) => `${gateway.issuer}${path}`;

/** An administrator of the whole campus, signed in to the console in two browsers. */
async function adminInTwoBrowsers(username: string): Promise<{ id: string; here: BrowserAgent; there: BrowserAgent }> {
  const user = await addPerson(gateway, username, { units: ['campus'], roles: ['admin', 'staff'] });
  const here = await signInToConsole(gateway.issuer, username);
  const there = await signInToConsole(gateway.issuer, username);
  expect([here.page.url, there.page.url]).toEqual([url('/admin/users'), url('/admin/users')]);
  return { id: user.id, here: here.agent, there: there.agent };
}

/** What the browser's next console request meets: the console itself, or where it is sent instead. */
async function consoleOf(agent: BrowserAgent): Promise<string> {
  const response = await agent.request(url('/admin/users'));
  await response.arrayBuffer();
  return response.status === 200 ? 'the console' : `${response.status} ${response.headers.get('location')}`;
}
const SENT_TO_SIGN_IN = '303 /admin/login';

/** The account page in this browser, signed in to the portal through its gateway session (no password asked). */
async function accountPage(agent: BrowserAgent, username: string): Promise<Page> {
  await signInThrough(agent, url('/account/security'), username, DEMO_PASSWORD);
  const page = await agent.navigate(url('/account/security'));
  expect(page.html).toContain(`Signed in as <strong>${username}</strong>`);
  return page;
}

beforeAll(async () => {
  gateway = await startTestGateway('console-sessions', { LOGIN_IP_LIMIT: '1000' });
});
afterAll(async () => gateway?.stop());

describe('an admin’s console session ends with the gateway session it was signed in through', () => {
  it('ends when "Sign out this device" signs that browser out from another’s account page, and not here', async () => {
    const { here, there } = await adminInTwoBrowsers('ada');
    const page = await accountPage(here, 'ada');
    const listed = [...page.html.matchAll(/<li class="device" data-session="([^"]+)"([^>]*)>/g)];
    expect(listed.map((m) => m[2]!.includes('aria-current="true"'))).toEqual([true, false]);

    const form = filledFormWithAction(page, '/account/security/devices/sign-out');
    const done = await submitFilled(here, page, form, { session: listed[1]![1]!, understood: 'yes' });
    expect(htmlText(done.html)).toContain('Signed out an unknown browser');

    expect(await consoleOf(there)).toBe(SENT_TO_SIGN_IN);
    // Its gateway session went too: signing in to the console again asks for the password.
    const again = await there.navigate(url('/admin/login'));
    expect(again.html).toContain('name="password"');
    expect(await consoleOf(here)).toBe('the console');
  });

  it('ends when that browser signs out of the gateway (the portal’s Sign out), and not elsewhere', async () => {
    const { here, there } = await adminInTwoBrowsers('bea');
    await accountPage(there, 'bea');
    const signOut = await there.request(url('/portal/api/logout'), { method: 'POST', headers: PORTAL_API });
    const end = await there.navigate(((await signOut.json()) as { redirect: string }).redirect);
    // The page's script presses Sign out at once; this browser runs none.
    const out = await there.submit(end, formWithAction(end, '/session/end/confirm'), { logout: 'yes' });
    expect(out.url.split('?')[0]).toBe(url('/portal/signed-out'));

    expect(await consoleOf(there)).toBe(SENT_TO_SIGN_IN);
    expect(await consoleOf(here)).toBe('the console');
  });

  it('ends in every browser when the admin signs out everywhere from their account page', async () => {
    const { here, there } = await adminInTwoBrowsers('cai');
    const page = await accountPage(here, 'cai');
    const done = await here.submit(page, formWithAction(page, '/account/security/sign-out-everywhere'));
    expect(done.url).toBe(url('/account/signed-out-everywhere'));
    expect([await consoleOf(here), await consoleOf(there)]).toEqual([SENT_TO_SIGN_IN, SENT_TO_SIGN_IN]);
  });

  it('ends in every browser when the account is disabled, or the admin role is taken away', async () => {
    const ops = { ...gateway.context(null), actor: operator('test') };
    const disabled = await adminInTwoBrowsers('dov');
    const demoted = await adminInTwoBrowsers('eli');
    await updateUser(ops, disabled.id, { status: 'disabled' });
    await updateUser(ops, demoted.id, { roles: ['staff'] });
    const consoles = [disabled.here, disabled.there, demoted.here, demoted.there];
    for (const agent of consoles) expect(await consoleOf(agent)).toBe(SENT_TO_SIGN_IN);
  });
});
