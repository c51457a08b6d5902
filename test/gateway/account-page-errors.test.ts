import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret, TOTP } from 'otpauth';
import { BrowserAgent, formWithAction, signInThrough, type Page } from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let gateway: TestGateway;
const url = (path: string) => `${gateway.issuer}${path}`;

const unescape = (html: string) => html.replace(/&#x27;/g, "'").replace(/&#x3D;/g, '=');
const textOf = (page: Page, id: string) =>
  unescape(new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(page.html)?.[1] ?? '') || undefined;
// Visible ones: the passkey form keeps a hidden one for its script.
const alerts = (page: Page) => [...page.html.matchAll(/role="alert">/g)].length;
const at = (page: Page, marker: string) => {
  const index = page.html.indexOf(marker);
  expect(index, marker).toBeGreaterThan(-1);
  return index;
};

/** A six-digit code the authenticator with this key shows at no step the gateway accepts now. */
function wrongCodeFor(secret: string): string {
  const totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 });
  const now = Date.now();
  const valid = new Set([-2, -1, 0, 1, 2].map((step) => totp.generate({ timestamp: now + step * 30_000 })));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

async function accountPage(username: string): Promise<{ agent: BrowserAgent; page: Page }> {
  await addPerson(gateway, username);
  const agent = new BrowserAgent();
  await signInThrough(agent, url('/account/security'), username, DEMO_PASSWORD);
  const page = await agent.navigate(url('/account/security'));
  expect(page.html).toContain(`Signed in as <strong>${username}</strong>`);
  return { agent, page };
}

beforeAll(async () => {
  gateway = await startTestGateway('account-page-errors', { LOGIN_IP_LIMIT: '1000' });
});
afterAll(async () => gateway?.stop());

describe('errors on the account page', () => {
  it('says only that the code is wrong while an authenticator is set up, beside its form', async () => {
    const { agent, page: start } = await accountPage('uma');
    // "Set up an authenticator app" pressed: the key and the code to confirm it.
    const page = await agent.submit(start, formWithAction(start, '/account/security/totp/start'));
    const secret = /id="totp-secret">([^<]+)</.exec(page.html)![1]!.replace(/\s/g, '');
    const wrong = await agent.submit(page, formWithAction(page, '/account/security/totp'), {
      code: wrongCodeFor(secret),
    });
    expect(wrong.status).toBe(401);
    const said = textOf(wrong, 'totp-error');
    expect(said).toMatch(/^That code is not right\./);
    expect(said).toContain("check that the device's clock");
    // Someone setting one up has no recovery codes yet.
    expect(wrong.html).not.toContain('recovery code.');
    expect(said).not.toContain('recovery');
    // Below the key, just above the code to type again, which has the focus.
    expect(at(wrong, 'id="totp-secret"')).toBeLessThan(at(wrong, 'id="totp-error"'));
    expect(at(wrong, 'id="totp-error"')).toBeLessThan(at(wrong, 'id="totp-form"'));
    expect(wrong.html).toMatch(/<input id="code"[^>]* aria-invalid="true" aria-describedby="totp-error" autofocus>/);
    expect(alerts(wrong)).toBe(1);
  });

  it('shows a refused password change in the Password section, not at the top among the second factor’s', async () => {
    const here = await accountPage('vic');
    const submit = (values: Record<string, string>) =>
      here.agent.submit(here.page, formWithAction(here.page, '/account/security/password'), values);

    const wrong = await submit({
      current: 'not my password',
      password: 'a new passphrase',
      confirmation: 'a new passphrase',
    });
    // The page itself, not a redirect to #password (where Chromium skips autofocus), with no fragment.
    expect(wrong.status).toBe(401);
    expect(wrong.url).toBe(url('/account/security/password'));
    expect(wrong.headers.get('cache-control')).toBe('no-store');
    expect(textOf(wrong, 'password-error')).toBe('That is not your current password. Nothing was changed.');
    expect(at(wrong, 'id="password-heading"')).toBeLessThan(at(wrong, 'id="password-error"'));
    expect(at(wrong, 'id="password-error"')).toBeLessThan(at(wrong, 'id="change-password"'));
    // The field it is about: described by the error, focused, emptied; the new password kept as typed.
    expect(wrong.html).toMatch(
      /<input id="current-password"[^>]* value="" required aria-invalid="true" aria-describedby="password-error" autofocus>/,
    );
    expect(wrong.html).toMatch(
      /<input id="new-password"[^>]* value="a new passphrase" required aria-describedby="new-password-hint">/,
    );
    expect(wrong.html).toMatch(/<input id="new-password-again"[^>]* value="a new passphrase" required>/);
    expect([...wrong.html.matchAll(/ autofocus/g)]).toHaveLength(1);
    expect(wrong.html).not.toContain('id="account-notice"');
    expect(wrong.html).not.toContain('id="totp-error"');
    expect(alerts(wrong)).toBe(1);

    const differ = await submit({ current: DEMO_PASSWORD, password: 'a new passphrase', confirmation: 'another one' });
    expect(differ.status).toBe(400);
    expect(textOf(differ, 'password-error')).toBe('The two new passwords differ: type the same new password twice.');
    expect(differ.html).toMatch(
      /<input id="new-password"[^>]* value="" required aria-describedby="new-password-hint password-error" aria-invalid="true" autofocus>/,
    );
    expect(differ.html).toMatch(/<input id="new-password-again"[^>]* value="" required>/);

    // Said once: the page opened again shows no error.
    const again = await here.agent.navigate(url('/account/security'));
    expect(again.html).not.toContain('id="password-error"');
    expect(alerts(again)).toBe(0);
  });
});

describe('the addresses the page’s forms leave in the address bar', () => {
  it('open the page itself when reloaded or kept, never a bare Not Found', async () => {
    const { agent } = await accountPage('wyn');
    const opened: Record<string, { status: number; url: string }> = {};
    for (const path of ['/confirm', '/confirm/passkey', '/password', '/passkeys', '/totp', '/recovery-codes']) {
      const page = await agent.navigate(url(`/account/security${path}`));
      expect(page.html, path).toContain('Signed in as <strong>wyn</strong>');
      opened[path] = { status: page.status, url: page.url.replace(gateway.issuer, '') };
    }
    const page = { status: 200, url: '/account/security' };
    expect(opened).toEqual({
      '/confirm': page,
      '/confirm/passkey': page,
      '/password': page,
      '/passkeys': page,
      // Where the authenticator's setup is: its key, while it is open.
      '/totp': { status: 200, url: '/account/security?setup=authenticator' },
      // No codes were made here: nothing to say of them.
      '/recovery-codes': page,
    });

    // A refused form is shown at the address it posted to; opening that address again is the page.
    const start = await agent.navigate(url('/account/security'));
    const refused = await agent.submit(start, formWithAction(start, '/account/security/password'), {
      current: 'not my password',
      password: 'a new passphrase',
      confirmation: 'a new passphrase',
    });
    expect(refused.url).toBe(url('/account/security/password'));
    const again = await agent.navigate(refused.url);
    expect(again.url).toBe(url('/account/security'));
    expect(again.html).not.toContain('id="password-error"');

    // Signed out, the address leads to sign-in like the page does.
    const stranger = await new BrowserAgent().navigate(url('/account/security/recovery-codes'));
    expect(stranger.html).toContain('/login"');
  });
});

describe('the icon', () => {
  it('is linked from the pages and the console, served from the gateway, and allowed by its policy', async () => {
    const login = (await signInToConsole(gateway.issuer, 'alice')).page;
    const admin = (await signInToConsole(gateway.issuer, 'admin')).page;
    for (const page of [login, admin]) {
      const href = /<link rel="icon" href="([^"]+)"/.exec(page.html)?.[1];
      expect(href, page.url).toBe('/assets/favicon.svg');
      expect(page.headers.get('content-security-policy')).toMatch(/img-src 'self'/);
    }
    const icon = await fetch(url('/assets/favicon.svg'));
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await icon.text()).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  });
});
