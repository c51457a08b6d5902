import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction } from '../helpers/browser-agent.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { resetLinkIn, startMailbox, type Mailbox } from '../helpers/mailbox.ts';
import { inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { register, sync } from './fixtures.ts';

/**
 * A reset link went to the address the person had then. A directory sync that gives them another address
 * spends it, as a console edit of the address does: whoever reads the old mailbox now may not be them.
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let ldap: TestSlapd;

const ida = { uid: 'ida', name: 'Ida Innes', password: 'ida-directory-pw', ous: ['Library'] };
const jon = { uid: 'jon', name: 'Jon Jones', password: 'jon-directory-pw', ous: ['Library'] };

/**
 * Asks "forgot password" for `identifier` as a browser would, and returns the link mailed to `address`: the
 * people of a directory have no Atrium password, so the link sets one.
 */
async function linkMailedTo(identifier: string, address: string): Promise<string> {
  const agent = new BrowserAgent();
  const page = await agent.navigate(`${gateway.issuer}/password/forgot`);
  const sent = await agent.submit(page, formWithAction(page, '/password/forgot'), { identifier });
  expect(sent.status).toBe(200);
  return resetLinkIn(await mailbox.next(address, { subject: 'Set your Atrium password' }));
}

beforeAll(async () => {
  mailbox = await startMailbox();
  gateway = await startTestGateway('dir-email-links', {
    SMTP_URL: mailbox.url,
    MAIL_FROM: 'Atrium <no-reply@campus.test>',
  });
  ldap = await startTestSlapd({ ldif: [ouLdif([['Library']]), inetOrgPerson(ida), inetOrgPerson(jon)].join('\n') });
  await register(gateway, 'campus-ldap', ldap.url);
  // A registration from before a reset page was asked for: its people are mailed Atrium's own links.
  await gateway.models.Directory.update({ resetUrl: null }, { where: { name: 'campus-ldap' } });
  await sync(gateway, 'campus-ldap');
}, 60_000);
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
  await mailbox?.close();
});

describe('a directory sync that changes an email address', () => {
  it('cancels the reset link mailed to the old address', async () => {
    const link = await linkMailedTo('ida', 'ida@campus.test');
    await ldap.replace(personDn(ida), 'mail', ['ida.innes@library.campus.test']);
    expect((await sync(gateway, 'campus-ldap')).updated).toBe(1);

    const refused = await new BrowserAgent().navigate(link);
    expect(refused.status).toBe(410);
    expect(refused.html).toContain('This password link was cancelled');
  });

  it('leaves the link of a person whose address a sync leaves as it was', async () => {
    const link = await linkMailedTo('jon', 'jon@campus.test');
    await ldap.replace(personDn(jon), 'displayName', ['Jon Jones-Jay']);
    expect((await sync(gateway, 'campus-ldap')).updated).toBe(1);

    const page = await new BrowserAgent().navigate(link);
    expect(page.status).toBe(200);
    expect(page.html).toContain('form');
  });
});
