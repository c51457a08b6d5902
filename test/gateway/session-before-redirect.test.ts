import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Transaction } from 'sequelize';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  type Page,
  signInThrough,
} from '../helpers/browser-agent.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { testDialect } from '../helpers/database.ts';
import { storedPasskey } from '../helpers/stored-passkey.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let gateway: TestGateway;
const url = (path: string) => `${gateway.issuer}${path}`;
const noticeOf = (html: string) => /id="account-notice">([^<]*)</.exec(html)?.[1];

/**
 * Holds every stored session, as a busy database would: writing one waits until `release`, while
 * reading goes on (InnoDB's reads do not wait for row locks).
 */
async function holdSessions(): Promise<{ release(): Promise<void> }> {
  const sequelize = gateway.models.WebSession.sequelize!;
  const held: Transaction = await sequelize.transaction();
  await gateway.models.WebSession.findAll({ lock: true, transaction: held });
  return { release: () => held.commit() };
}

/**
 * Posts a form as a browser does, following the redirect as soon as its headers arrive (a browser
 * does not wait for the body of a 303); the sessions are held for the first 400 ms of the post.
 */
async function postWhileSessionsAreSlow(agent: BrowserAgent, page: Page, action: string, fields = {}) {
  const form = formWithAction(page, action);
  const hold = await holdSessions();
  const released = new Promise<void>((resolve) => setTimeout(() => hold.release().then(resolve), 400));
  try {
    const response = await agent.request(new URL(form.action, page.url).toString(), {
      method: 'POST',
      body: new URLSearchParams({ ...form.fields, ...fields }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(response.status).toBe(303);
    return await agent.navigate(new URL(response.headers.get('location')!, page.url).toString());
  } finally {
    await released;
  }
}

beforeAll(async () => {
  gateway = await startTestGateway('session-before-redirect');
});
afterAll(async () => gateway?.stop());

// SQLite has one connection, which a held write blocks for reads as well: there the next page could
// never be read before the post's session is stored, so the race exists only with a pool (MariaDB).
describe.skipIf(testDialect === 'sqlite')('the page after a form post', () => {
  it('shows the account page’s notice even when storing the session is slow', async () => {
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/portal/login'), 'alice', DEMO_PASSWORD);
    const alice = await gateway.models.User.findOne({ where: { username: 'alice' } });
    const key = await storedPasskey(gateway.models, alice!.id, 'Desk key');
    const page = await agent.navigate(url('/account/security'));
    const back = await postWhileSessionsAreSlow(agent, page, `/passkeys/${key.id}/rename`, { name: 'Drawer key' });
    expect(back.url).toBe(url('/account/security#account-notice'));
    expect(noticeOf(back.html)).toBe('Renamed the passkey to “Drawer key”.');
  });

  it('shows the console’s notice even when storing the session is slow', async () => {
    const { agent } = await signInToConsole(gateway.issuer, 'admin');
    const bob = await gateway.models.User.findOne({ where: { username: 'bob' } });
    const edit = await agent.navigate(url(`/admin/users/${bob!.id}`));
    const action = filledFormWithAction(edit, '/sign-out').action;
    const back = await postWhileSessionsAreSlow(agent, edit, action);
    expect(back.html).toContain('Signed bob out everywhere:');
  });
});
