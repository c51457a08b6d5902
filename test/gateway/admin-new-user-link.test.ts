import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '@node-rs/argon2';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  mainText,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { resetLinkIn, type Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway, type MailingGateway } from '../helpers/mailing-gateway.ts';
import { createUserWithLink } from '../../gateway/accounts/new-account-link.ts';
import { operator } from '../../gateway/context.ts';

// The console's new-person form: with SMTP it offers to mail a link to set a password (the default);
// without, it asks for an initial password as it always did.

const SUBJECT = 'Your Atrium account: choose your password';

let withMail: TestGateway;
let withoutMail: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;
let admin: BrowserAgent;
let adminWithoutMail: BrowserAgent;

const newPerson = (username: string) => ({
  username,
  displayName: `${username[0]!.toUpperCase()}${username.slice(1)} New`,
  email: `${username}@campus.test`,
  units: ['campus/eng/cs'],
  roles: ['student'],
});

async function createThrough(gateway: TestGateway, agent: BrowserAgent, changes: Record<string, string | string[]>) {
  const form = await agent.navigate(`${gateway.issuer}/admin/users/new`);
  return submitFilled(agent, form, filledFormWithAction(form, '/admin/users'), changes);
}

/** Opens the mailed link and chooses a password on the reset page. */
async function choosePassword(link: string, password: string): Promise<Page> {
  const agent = new BrowserAgent();
  const page = await agent.navigate(link);
  expect(page.status).toBe(200);
  return agent.submit(page, formWithAction(page, '/password/reset/'), { password, confirmation: password });
}

beforeAll(async () => {
  let mailing: MailingGateway;
  [mailing, withoutMail] = await Promise.all([
    startMailingGateway('new-user-link', { LOGIN_IP_LIMIT: '1000' }),
    startTestGateway('new-user-nomail', { LOGIN_IP_LIMIT: '1000' }),
  ]);
  ({ gateway: withMail, mailbox, stop } = mailing);
  admin = (await signInToConsole(withMail.issuer, 'admin')).agent;
  adminWithoutMail = (await signInToConsole(withoutMail.issuer, 'admin')).agent;
}, 60_000);
afterAll(async () => {
  await stop?.();
  await withoutMail?.stop();
});

describe('a new person mailed a link to set their password', () => {
  it('offers the link as the default where the gateway can send mail', async () => {
    const form = await admin.navigate(`${withMail.issuer}/admin/users/new`);
    expect(form.html).toMatch(/<input type="radio" name="passwordChoice" value="link"[^>]* checked>/);
    expect(form.html).toMatch(/<input type="radio" name="passwordChoice" value="now"(?![^>]* checked)[^>]*>/);
    expect(mainText(form)).toContain('Mail them a link to set their password');
    expect(mainText(form)).toContain('Set a password now');
  });

  it('creates the account without a password, mails the link, which sets one, and the person signs in', async () => {
    const created = await createThrough(withMail, admin, newPerson('gina'));
    expect(created.status).toBe(200);
    expect(mainText(created)).toContain(
      'Created gina. A link to set their password was mailed to gina@campus.test; it works once, within 3 days.',
    );
    const gina = await withMail.models.User.findOne({ where: { username: 'gina' } });
    expect(gina!.passwordHash).toBeNull();
    expect(mainText(created)).toContain('no password yet');

    const mail = await mailbox.next('gina@campus.test', { subject: SUBJECT });
    expect(mail.text).toContain(
      `Your campus administrators at ${new URL(withMail.issuer).host} made an Atrium account for you. Your username is "gina".`,
    );
    expect(mail.text).toContain('to choose your password');
    expect(mail.text).not.toContain('asked to reset');
    // A new account's link lasts days, not a forgotten password's half hour.
    const [reset] = await withMail.models.PasswordReset.findAll({ where: { userId: gina!.id } });
    const hoursLeft = (reset!.expiresAt.getTime() - Date.now()) / 3_600_000;
    expect(hoursLeft).toBeGreaterThan(71);
    expect(hoursLeft).toBeLessThanOrEqual(72);
    const [audited] = await withMail.models.AuditEvent.findAll({
      where: { action: 'password_reset.request', target: 'gina' },
    });
    expect(audited!.actorName).toBe('admin');
    expect(JSON.parse(audited!.details!)).toMatchObject({ newAccount: true });

    const done = await choosePassword(resetLinkIn(mail), 'gina-chose-this-one');
    expect(done.status).toBe(200);
    expect(done.html).toContain('Your password is set');
    const after = await withMail.models.User.findOne({ where: { username: 'gina' } });
    expect(await verify(after!.passwordHash!, 'gina-chose-this-one')).toBe(true);
    // Through the gateway's login with her own password (a student, so the console then refuses her).
    const { page } = await signInToConsole(withMail.issuer, 'gina', 'gina-chose-this-one');
    expect(page.status).toBe(403);
    expect(mainText(page)).toContain('only for administrators');
  });

  it('refuses the link without an email beside the field, and creates and mails nothing', async () => {
    const before = mailbox.received.length;
    const page = await createThrough(withMail, admin, { ...newPerson('hugo'), email: '' });
    expect(page.status).toBe(400);
    expect(/id="email-error">([^<]*)</.exec(page.html)?.[1]).toBe(
      'Enter their email: the link to set their password is mailed there.',
    );
    expect(page.html).toMatch(/<input id="email"[^>]* autofocus>/);
    // The choice made stays made, and nobody is asked to type a password they were not asked for.
    expect(page.html).toMatch(/name="passwordChoice" value="link"[^>]* checked>/);
    expect(page.html).not.toContain('id="password-again"');
    expect(await withMail.models.User.count({ where: { username: 'hugo' } })).toBe(0);
    expect(await withMail.models.PasswordReset.count()).toBe(1);
    expect(mailbox.received.length).toBe(before);
  });

  it('still sets a password now when that is chosen, and mails no link', async () => {
    const created = await createThrough(withMail, admin, {
      ...newPerson('ivan'),
      passwordChoice: 'now',
      password: 'ivan-initial-pass',
    });
    expect(mainText(created)).toContain('Created ivan.');
    expect(mainText(created)).not.toContain('mailed');
    const ivan = await withMail.models.User.findOne({ where: { username: 'ivan' } });
    expect(await verify(ivan!.passwordHash!, 'ivan-initial-pass')).toBe(true);
    expect(await withMail.models.PasswordReset.count({ where: { userId: ivan!.id } })).toBe(0);
  });
});

describe('a link the mail server refuses', () => {
  it('keeps the account, says the link was not mailed, and audits the refusal', async () => {
    const refusing = { send: () => Promise.reject(new Error('550 mailbox unavailable')), close: () => undefined };
    const ctx = { ...withMail.context(null), actor: operator('test') };
    const { user, mailed } = await createUserWithLink(
      ctx,
      { issuer: withMail.issuer, mailer: refusing },
      { ...newPerson('kira'), password: '' },
    );
    expect(mailed).toBe(false);
    expect(user.passwordHash).toBeNull();
    const refusal = await withMail.models.AuditEvent.findOne({
      where: { action: 'password_reset.request', target: 'kira', outcome: 'failure' },
    });
    expect(JSON.parse(refusal!.details!)).toMatchObject({ newAccount: true, reason: 'mail_refused' });
  });
});

describe('the new-person form without mail', () => {
  it('offers no link, says why, and requires a password as before', async () => {
    const form = await adminWithoutMail.navigate(`${withoutMail.issuer}/admin/users/new`);
    expect(form.html).not.toContain('name="passwordChoice"');
    expect(mainText(form)).toContain('This gateway cannot send mail (SMTP_URL is not set)');
    expect(form.html).toMatch(/<input id="password"[^>]* required/);

    // A link asked for all the same is not mailed: the password is missing, and nobody is created.
    const page = await createThrough(withoutMail, adminWithoutMail, { ...newPerson('jana'), passwordChoice: 'link' });
    expect(page.status).toBe(400);
    expect(page.html).toContain('id="password-error"');
    expect(await withoutMail.models.User.count({ where: { username: 'jana' } })).toBe(0);
  });
});
