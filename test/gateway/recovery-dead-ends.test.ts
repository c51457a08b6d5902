import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, mainText, type Page } from '../helpers/browser-agent.ts';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { resetLinkIn, startMailbox, type Mailbox } from '../helpers/mailbox.ts';
import { register, RESET_URL } from '../directories/fixtures.ts';

/**
 * Where "forgot password" could leave someone stuck: a refused request that hid the directories' reset
 * pages, a password too long for the form's body that ended on the error page.
 */
let gateway: TestGateway;
let mailbox: Mailbox;

const url = (path: string) => `${gateway.issuer}${path}`;

/** "Forgot password" filled in as a browser would, on the page it was opened with. */
async function askForLink(agent: BrowserAgent, identifier: string): Promise<Page> {
  const page = await agent.navigate(url('/password/forgot'));
  return agent.submit(page, formWithAction(page, '/password/forgot'), { identifier });
}

beforeAll(async () => {
  mailbox = await startMailbox();
  gateway = await startTestGateway('recovery-dead-ends', {
    SMTP_URL: mailbox.url,
    MAIL_FROM: 'Atrium <no-reply@campus.test>',
    LOGIN_IP_LIMIT: '1000',
    PASSWORD_RESET_IP_LIMIT: '2',
  });
  // Its people are never asked here: the page only lists where they reset their password.
  await register(gateway, 'campus-ldap', 'ldap://127.0.0.1:9');
  await addPerson(gateway, 'pia');
}, 60_000);
afterAll(async () => {
  await gateway?.stop();
  await mailbox?.close();
});

describe('"forgot password" refused for too many requests', () => {
  it('still sends the directory people to their own reset page', async () => {
    const agent = new BrowserAgent();
    let page = await askForLink(agent, 'pia');
    expect(page.html).toContain('Check your mail');
    await mailbox.next('pia@campus.test');
    // The third request from this address within the hour (PASSWORD_RESET_IP_LIMIT=2).
    await askForLink(agent, 'someone');
    page = await askForLink(agent, 'someone');
    expect(page.status).toBe(429);
    const text = mainText(page);
    expect(text).toContain('Too many password reset requests');
    expect(text).toContain('Signing in with your campus directory account?');
    expect(page.html).toContain(`href="${RESET_URL}"`);
  });
});
