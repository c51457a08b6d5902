import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOTP, Secret } from 'otpauth';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  formsOf,
  mainText,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { signInToConsole, type TestGateway } from '../helpers/gateway.ts';
import { RESET_SUBJECT, resetLinkIn, type Mailbox, type ReceivedMail } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { operator, type GatewayContext } from '../../gateway/context.ts';
import { createUserWithLink } from '../../gateway/accounts/new-account-link.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { requireSecondFactor } from '../../gateway/factors/policy.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import type { User } from '../../gateway/models/index.ts';
import { utcText } from '../../core/utc-text.ts';

/**
 * A newcomer's first day, as they and their helpdesk read it: the welcome mail prepares them for their
 * first sign-in, the first authenticator app's notice says nothing of codes they never had, and the
 * console's person page tells the helpdesk where the newcomer stands (their link, why a link was refused,
 * what their first sign-in will ask).
 */
const WELCOME = 'Your Atrium account: choose your password';
const APP_ADDED = 'An authenticator app was added to your Atrium account';

let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;
let admin: BrowserAgent;

const url = (path: string) => `${gateway.issuer}${path}`;
const text = (mail: ReceivedMail) => mail.text.replace(/\r\n/g, '\n').replace(/\n(?!\n)/g, ' ');
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const asOperator = (): GatewayContext => ({ ...gateway.context(null), actor: operator('test') });
const asThemselves = (user: User): GatewayContext => ({
  ...gateway.context(null),
  actor: { kind: 'user', id: user.id, name: user.username, roles: user.roles, unitPaths: [] },
});

/** A new person made in the console, mailed a link to set their password; their welcome mail. */
async function welcome(username: string, units: string[]): Promise<ReceivedMail> {
  const form = await admin.navigate(url('/admin/users/new'));
  const created = await submitFilled(admin, form, filledFormWithAction(form, '/admin/users'), {
    username,
    displayName: `New ${username}`,
    email: `${username}@campus.test`,
    units,
    roles: ['student'],
  });
  expect(created.status).toBe(200);
  return mailbox.next(`${username}@campus.test`, { subject: WELCOME });
}

/** The console's form to ask for a requirement (the one by role comes first). */
const requireForm = (page: Page) => formsOf(page.html).find((f) => f.action === '/admin/second-factor')!;

async function personPage(username: string): Promise<Page> {
  return admin.navigate(url(`/admin/users/${(await userNamed(username)).id}`));
}

/** A paragraph as read: its text, no space left where a time element ended before a comma or stop. */
const paragraph = (page: Page, id: string) =>
  mainText({ ...page, html: new RegExp(`<p id="${id}">([\\s\\S]*?)</p>`).exec(page.html)?.[1] ?? '' }).replace(
    / ([,.])/g,
    '$1',
  );

function historyRows(page: Page): string[] {
  const table = /<table class="audit" id="account-history">([\s\S]*?)<\/table>/.exec(page.html)?.[1] ?? '';
  const body = /<tbody>([\s\S]*)<\/tbody>/.exec(table)?.[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => mainText({ ...page, html: m[1]! }));
}

/** The person's one open link to set a password, as stored. */
async function linkOf(username: string) {
  const [link] = await gateway.models.PasswordReset.findAll({ where: { userId: (await userNamed(username)).id } });
  return link!;
}

/** An authenticator app set up by its owner, as the account page does; a wrong code first when asked. */
async function addApp(user: User, wrongFirst = false): Promise<string[]> {
  const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
  const binding = interactionBinding({ uid: `first-day-${user.username}` });
  const { secret } = await beginTotpEnrolment(asThemselves(user), deps, user, binding);
  const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
  if (wrongFirst) {
    const wrong = String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');
    await expect(confirmTotpEnrolment(asThemselves(user), deps, user, wrong, binding)).rejects.toThrow();
  }
  return confirmTotpEnrolment(asThemselves(user), deps, user, code, binding);
}

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('first-day', { LOGIN_IP_LIMIT: '1000' }));
  await requireSecondFactor(asOperator(), { kind: 'unit', value: 'campus/arts/music' });
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('the welcome mail', () => {
  it('says who sent it, until when the link works, where to sign in, and that a second factor is needed', async () => {
    const mail = text(await welcome('nora', ['campus/arts/music']));
    const host = new URL(gateway.issuer).host;
    expect(mail).toContain(
      `Your campus administrators at ${host} made an Atrium account for you. Your username is "nora".`,
    );
    const expires = (await linkOf('nora')).expiresAt;
    const day = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][expires.getUTCDay()];
    const time = expires.toISOString().slice(11, 16);
    expect(mail).toMatch(
      new RegExp(`Open this link by ${day} ${expires.getUTCDate()} \\w+ ${expires.getUTCFullYear()}, ${time} UTC`),
    );
    expect(mail).toContain('(within 3 days) to choose your password:');
    expect(mail).toContain(
      `The link works once. From then on, sign in at ${gateway.issuer}/ with your username and the password you chose: your chats and apps are there.`,
    );
    expect(mail).toContain(
      'Your campus requires a second factor for your account: at your first sign-in, after your password, you will be asked to set up an authenticator app on your phone or a passkey before going on.',
    );
  });

  it('names the front page, and /portal, which earlier mails named, leads there', async () => {
    const typed = await fetch(`${gateway.issuer}/portal`, { redirect: 'manual' });
    expect(typed.status).toBe(302);
    expect(typed.headers.get('location')).toBe('/');
  });

  it('says nothing of a second factor where none is required of the person', async () => {
    const mail = text(await welcome('otto', ['campus/eng/cs']));
    expect(mail).toContain('From then on, sign in at');
    expect(mail).not.toContain('second factor');
  });
});

describe('the console page of a newcomer without a password yet', () => {
  it('says when their link was mailed and until when it works, and what their first sign-in asks', async () => {
    const link = await linkOf('nora');
    const page = await personPage('nora');
    expect(paragraph(page, 'password-status')).toBe(
      `nora has no password yet and cannot sign in until one is set. A link to set it was mailed on ${utcText(link.createdAt)}, working until ${utcText(link.expiresAt)}. Otherwise, set one here and tell them through a separate channel, or they ask for a new link with “Forgot your password?” on the sign-in page, where the gateway can send mail.`,
    );
    expect(paragraph(page, 'factor-status')).toBe(
      'None set up; their units require one, so they will be asked to set one up when they first sign in.',
    );
    // The entry's own time and the link's end as the audit recorded them (a database may round the link's).
    const [mailed] = await gateway.models.AuditEvent.findAll({
      where: { action: 'password_reset.request', target: 'nora' },
    });
    const until = new Date(JSON.parse(mailed!.details!).expiresAt);
    expect(Math.abs(until.getTime() - link.expiresAt.getTime())).toBeLessThan(1_000);
    expect(historyRows(page)).toContainEqual(
      `${utcText(mailed!.at)} A link to set their first password was mailed to them; it works once, until ${utcText(until)} admin 127.0.0.1`,
    );
    // otto: no requirement covers him.
    expect(paragraph(await personPage('otto'), 'factor-status')).toBe('None set up.');
  });

  it('tells no open link once it has expired, and says why it was refused when opened', async () => {
    const link = await linkOf('otto');
    const mail = (await mailbox.received.find((m) => m.to.includes('otto@campus.test')))!;
    await link.update({ expiresAt: new Date(Date.now() - 60_000) });
    const opened = await new BrowserAgent().navigate(resetLinkIn(mail));
    expect(opened.status).toBe(410);
    const page = await personPage('otto');
    expect(paragraph(page, 'password-status')).toBe(
      'otto has no password yet and cannot sign in until one is set. Set one here and tell them through a separate channel, or they ask for a link with “Forgot your password?” on the sign-in page, where the gateway can send mail.',
    );
    expect(historyRows(page)[0]).toMatch(/ refused A password reset link was refused: it had expired — /);
  });
});

describe('the console page of a newcomer whose link the mail server refused', () => {
  it('says the link was made but not mailed, so the helpdesk does not send them looking for it', async () => {
    const refusing = { send: () => Promise.reject(new Error('550 mailbox unavailable')), close: () => undefined };
    const { mailed } = await createUserWithLink(
      asOperator(),
      { issuer: gateway.issuer, mailer: refusing },
      {
        username: 'pavel',
        displayName: 'New pavel',
        email: 'pavel@campus.test',
        units: ['campus/eng/cs'],
        roles: ['student'],
      },
    );
    expect(mailed).toBe(false);
    const link = await linkOf('pavel');
    expect(paragraph(await personPage('pavel'), 'password-status')).toContain(
      `A link to set it was made on ${utcText(link.createdAt)}, working until ${utcText(link.expiresAt)}, but the mail server did not take it. Otherwise, set one here`,
    );
  });
});

describe('a newcomer’s first steps, in their notices and on the helpdesk’s page', () => {
  it('says a used link was refused as used, a wrong setup code as such, and no codes were replaced', async () => {
    const mail = await mailbox.received.find((m) => m.to.includes('nora@campus.test') && m.subject === WELCOME)!;
    const link = resetLinkIn(mail);
    for (const attempt of [1, 2]) {
      const agent = new BrowserAgent();
      const page = await agent.navigate(link);
      if (attempt === 2) {
        expect(page.status).toBe(410);
        break;
      }
      const password = 'nora-chose-this-one';
      const done = await agent.submit(page, formWithAction(page, '/password/reset/'), {
        password,
        confirmation: password,
      });
      expect(done.status).toBe(200);
    }
    await addApp(await userNamed('nora'), true);
    const notice = text(await mailbox.next('nora@campus.test', { subject: APP_ADDED }));
    expect(notice).toContain('Recovery codes were made with it, shown once to whoever set it up.');
    expect(notice).not.toContain('no longer work');

    const rows = historyRows(await personPage('nora'));
    expect(rows.some((r) => r.includes('refused A password reset link was refused: it had already been used'))).toBe(
      true,
    );
    expect(rows.some((r) => r.includes('refused Setting up an authenticator app failed: a wrong code'))).toBe(true);
    // Nor a link of "Forgot your password?", which to an account without a password is to set one.
    const linkSubjects = [RESET_SUBJECT, 'Set your Atrium password'];
    expect(mailbox.received.filter((m) => linkSubjects.includes(m.subject))).toEqual([]);
  });
});

describe('requiring a second factor of a role the administrator has', () => {
  it('says the administrator is among those covered, and among those to set one up', async () => {
    let page = await admin.navigate(url('/admin/second-factor'));
    page = await admin.submit(page, requireForm(page), { kind: 'role', value: 'admin' });
    expect(paragraph(page, 'policy-reach')).toMatch(
      /^This covers \d+ active (person|people) \(you among them\)\. \d+ of them (has|have) no second factor yet \(you among them\): at their next sign-in/,
    );
    page = await admin.navigate(url('/admin/second-factor'));
    page = await admin.submit(page, requireForm(page), { kind: 'role', value: 'student' });
    expect(paragraph(page, 'policy-reach')).not.toContain('you among them');
  });
});
