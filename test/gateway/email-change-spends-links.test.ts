import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { type TestGateway } from '../helpers/gateway.ts';
import { resetLinkIn, type Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { createUserWithLink } from '../../gateway/accounts/new-account-link.ts';
import { editUser } from '../../gateway/accounts/update-user.ts';
import { operator } from '../../gateway/context.ts';
import { smtpMailer } from '../../gateway/recovery/mailer.ts';

/**
 * A new account's link to choose a password went to the address the account had then. A new address, set
 * in the console or at the command line, spends it, as it does a forgotten-password link
 * (forgot-password.test.ts): whoever reads the old mailbox now may not be the person.
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;

const SUBJECT = 'Your Atrium account: choose your password';
const admin = () => ({ ...gateway.context(null), actor: operator('admin') });

/** Makes `username` with a link to set their password, and returns the link as mailed. */
async function newAccountLink(username: string): Promise<string> {
  const { mailed } = await createUserWithLink(
    admin(),
    { issuer: gateway.issuer, mailer: smtpMailer(mailbox.url, 'Atrium <no-reply@campus.test>') },
    {
      username,
      displayName: `New ${username}`,
      email: `${username}@campus.test`,
      units: ['campus/eng/cs'],
      roles: ['student'],
    },
  );
  expect(mailed).toBe(true);
  return resetLinkIn(await mailbox.next(`${username}@campus.test`, { subject: SUBJECT }));
}

const opened = (link: string) => new BrowserAgent().navigate(link);

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('email-spends-links'));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe("a new address spends a new account's link mailed to the old one", () => {
  it('when an administrator changes it in the console', async () => {
    const link = await newAccountLink('ada');
    await editUser(admin(), 'ada', { email: 'ada.new@campus.test' });
    const refused = await opened(link);
    expect(refused.status).toBe(410);
    expect(refused.html).toContain('This password link was cancelled');
  });

  it('when an operator changes it at the command line', async () => {
    const link = await newAccountLink('bea');
    const done = await runAtrium(gateway.db, ['users', 'update', 'bea', '--email', 'bea.new@campus.test']);
    expect(done.code).toBe(0);
    const refused = await opened(link);
    expect(refused.status).toBe(410);
    expect(refused.html).toContain('This password link was cancelled');
  });

  it('and a change of the name alone leaves the link working', async () => {
    const link = await newAccountLink('cai');
    await editUser(admin(), 'cai', { displayName: 'Cai Renamed' });
    expect((await opened(link)).status).toBe(200);
  });
});
