import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, mainText, type Page } from '../helpers/browser-agent.ts';
import { addPerson, type TestGateway } from '../helpers/gateway.ts';
import { resetLinkIn, type Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { register, RESET_URL } from '../directories/fixtures.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

/**
 * Where "forgot password" could leave someone stuck: a refused request that hid the directories' reset
 * pages, a password too long for the form's body that ended on the error page.
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;

const url = (path: string) => `${gateway.issuer}${path}`;
const NEW_PASSWORD = 'a brand new secret';

let lastIp = 0;
/** Each test asks from an address of its own (the gateway trusts X-Forwarded-For here), so IP limits stay apart. */
const newIp = () => `203.0.113.${++lastIp}`;

/** "Forgot password" filled in as a browser would, on the page it was opened with, from address `ip`. */
async function askForLink(agent: BrowserAgent, identifier: string, ip: string): Promise<Page> {
  const page = await agent.navigate(url('/password/forgot'));
  const form = formWithAction(page, '/password/forgot');
  return agent.navigate(url('/password/forgot'), {
    method: 'POST',
    body: new URLSearchParams({ ...form.fields, identifier }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
  });
}

/** Far too long for any form's body: 5,000 characters of three bytes, nine once form-encoded. */
const HUGE = '€'.repeat(5000);

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('recovery-dead-ends', {
    ATRIUM_TRUST_PROXY: 'true',
    LOGIN_IP_LIMIT: '1000',
    PASSWORD_RESET_IP_LIMIT: '2',
  }));
  // Its people are never asked here: the page only lists where they reset their password.
  await register(gateway, 'campus-ldap', 'ldap://127.0.0.1:9');
  await addPerson(gateway, 'pia');
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('"forgot password" refused for too many requests', () => {
  it('still sends the directory people to their own reset page', async () => {
    const agent = new BrowserAgent();
    const ip = newIp();
    let page = await askForLink(agent, 'pia', ip);
    expect(page.html).toContain('Check your mail');
    await mailbox.next('pia@campus.test');
    // The third request from this address within the hour (PASSWORD_RESET_IP_LIMIT=2).
    await askForLink(agent, 'someone', ip);
    page = await askForLink(agent, 'someone', ip);
    expect(page.status).toBe(429);
    const text = mainText(page);
    expect(text).toContain('Too many password reset requests');
    expect(text).toContain('Signing in with your campus directory account?');
    expect(page.html).toContain(`href="${RESET_URL}"`);
  });
});

describe('a new password far too long', () => {
  it('is refused on the reset page, whose link still sets a good one', async () => {
    const agent = new BrowserAgent();
    await askForLink(agent, 'pia', newIp());
    let page = await agent.navigate(resetLinkIn(await mailbox.next('pia@campus.test')));
    // 5,000 characters typed, and as many in a script the form's body holds far fewer of.
    for (const password of ['x'.repeat(5000), HUGE]) {
      page = await agent.submit(page, formWithAction(page, '/password/reset/'), { password, confirmation: password });
      expect(page.status, `${password.length} × ${password[0]}`).toBeLessThan(500);
      const text = mainText(page);
      expect(text).toContain('Choose a new password');
      expect(text).toContain('The new password is too long.');
      expect(text).toContain('Use at most 200 characters.');
    }
    const done = await agent.submit(page, formWithAction(page, '/password/reset/'), {
      password: NEW_PASSWORD,
      confirmation: NEW_PASSWORD,
    });
    expect(done.html).toContain('Your password is changed');
  });

  it('is refused on the "forgot password" form as a name, which still lists the directories', async () => {
    const page = await askForLink(new BrowserAgent(), HUGE, newIp());
    expect(page.status).toBeLessThan(500);
    expect(mainText(page)).toContain('Enter your username or email.');
    expect(page.html).toContain(`href="${RESET_URL}"`);
  });

  it('is refused on the login page, which still signs in', async () => {
    const agent = new BrowserAgent();
    const page = await agent.navigate(url('/admin/login'));
    const refused = await agent.submit(page, formWithAction(page, '/login'), { username: 'admin', password: HUGE });
    expect(refused.status).toBeLessThan(500);
    expect(/id="login-error"[^>]*>([^<]*)</.exec(refused.html)?.[1]).toBe(
      'That password is far longer than any password here. Type it again.',
    );
    const signedIn = await agent.submit(refused, formWithAction(refused, '/login'), {
      username: 'admin',
      password: DEMO_PASSWORD,
    });
    // In the console, on its first page.
    expect(signedIn.url).toBe(url('/admin/users'));
  });
});
