import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { ENG_NODE, type TestGateway } from '../helpers/gateway.ts';
import { resetLinkIn, type Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { login } from '../helpers/node.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { chromiumMissing, launchChromium } from './browser.ts';

let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;
let browser: Browser;

beforeAll(async () => {
  if (chromiumMissing) return;
  ({ gateway, mailbox, stop } = await startMailingGateway('forgot-pw-browser', { LOGIN_IP_LIMIT: '1000' }));
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await stop?.();
});

describe.skipIf(chromiumMissing)('"forgot password" in a browser', () => {
  it('goes from the sign-in page to a mailed link, and the new password signs in while the old refresh token is dead', async () => {
    await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username: 'xena',
        displayName: 'Xena X',
        email: 'xena@campus.test',
        password: DEMO_PASSWORD,
        units: ['campus/eng/cs'],
        roles: ['student'],
      },
    );
    const elsewhere = await login(gateway, 'xena');
    await elsewhere.tokenFor(ENG_NODE);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${gateway.issuer}/`);
    await page.click('#forgot-password');
    await page.fill('#identifier', 'xena@campus.test');
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();

    const link = resetLinkIn(await mailbox.next('xena@campus.test'));
    await page.goto(link);
    await page.getByText('For xena').waitFor();
    await page.fill('#password', 'a fresh passphrase');
    await page.fill('#confirmation', 'a fresh passphrase');
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'Your password is changed' }).waitFor();

    await expect(elsewhere.tokenFor(ENG_NODE)).rejects.toMatchObject({ error: 'invalid_grant' });

    // Back to the sign-in the person started from, where the old password no longer signs in and the new
    // one does, back to the portal.
    await page.click('#return-to-sign-in');
    await page.fill('#username', 'xena');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
    await page.getByText('Wrong username or password.').waitFor();
    await page.fill('#password', 'a fresh passphrase');
    await page.click('button[type=submit]');
    await page.waitForURL(`${gateway.issuer}/`);

    // The link was spent.
    await page.goto(link);
    await page.getByRole('heading', { name: 'This link was already used to set a new password' }).waitFor();
    await context.close();
  }, 60_000);
});
