import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, mainText, type Page } from '../helpers/browser-agent.ts';
import { addPerson, type TestGateway } from '../helpers/gateway.ts';
import { RESET_SUBJECT, resetLinkIn, type Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { createUserWithLink } from '../../gateway/accounts/new-account-link.ts';
import { passwordSchema } from '../../gateway/accounts/schemas.ts';
import { resetPassword } from '../../gateway/accounts/update-user.ts';
import { operator } from '../../gateway/context.ts';
import { smtpMailer } from '../../gateway/recovery/mailer.ts';

/**
 * The pages of a mailed password link as a newcomer meets them on their first day: the welcome link that
 * sets a first password, its page after a refused password, the page saying it is done, and the link
 * opened again afterwards (Back, or the mail once more).
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;

const url = (path: string) => `${gateway.issuer}${path}`;
const WELCOME = 'Your Atrium account: choose your password';
/** The subject of "Forgot your password?"'s mail to an account with no password yet: there is none to reset. */
const SET_SUBJECT = 'Set your Atrium password';
const admin = () => ({ ...gateway.context(null), actor: operator('admin') });

/** The lengths the gateway allows (passwordSchema), found by what it says of passwords too short or too long. */
const refusesAs = (code: string, length: number) =>
  passwordSchema.safeParse('x'.repeat(length)).error?.issues.some((issue) => issue.code === code) ?? false;
const MIN = Array.from({ length: 100 }, (_, n) => n).find((n) => !refusesAs('too_small', n))!;
const MAX = Array.from({ length: 2000 }, (_, n) => n).findLast((n) => !refusesAs('too_big', n))!;

/** Makes `username` without a password, as the console does, and returns the welcome link as mailed. */
async function welcomeLink(username: string): Promise<string> {
  const mailer = smtpMailer(mailbox.url, 'Atrium <no-reply@campus.test>');
  const { mailed } = await createUserWithLink(
    admin(),
    { issuer: gateway.issuer, mailer },
    {
      username,
      displayName: `New ${username}`,
      email: `${username}@campus.test`,
      units: ['campus/eng/cs'],
      roles: ['student'],
    },
  );
  mailer.close();
  expect(mailed).toBe(true);
  return resetLinkIn(await mailbox.next(`${username}@campus.test`, { subject: WELCOME }));
}

/** "Forgot your password?" for `identifier`; the mail it sends, with `subject`. */
async function forgotMail(identifier: string, address: string, subject = RESET_SUBJECT) {
  const agent = new BrowserAgent();
  const forgot = await agent.navigate(url('/password/forgot'));
  await agent.submit(forgot, formWithAction(forgot, '/password/forgot'), { identifier });
  return mailbox.next(address, { subject });
}

/** Posts the link's form as the browser does, without following the answer. */
async function post(agent: BrowserAgent, page: Page, password: string, confirmation = password) {
  const form = formWithAction(page, '/password/reset/');
  return agent.request(new URL(form.action, page.url).toString(), {
    method: 'POST',
    body: new URLSearchParams({ ...form.fields, password, confirmation }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

const heading = (page: Page) => /<h1>([^<]*)<\/h1>/.exec(page.html)?.[1];
const links = (page: Page) =>
  [...page.html.matchAll(/<a href="([^"]*)"[^>]*>([^<]*)<\/a>/g)].map((m) => [m[2], m[1]] as [string, string]);
const inputOf = (page: Page, id: string) => new RegExp(`<input id="${id}"[^>]*>`).exec(page.html)?.[0] ?? '';
const autofocused = (page: Page) => [...page.html.matchAll(/<input id="([^"]+)"[^>]* autofocus[ >]/g)].map((m) => m[1]);
/** What a screen reader says after an input's label: the text of each element its aria-describedby names. */
function descriptionOf(page: Page, id: string): string[] {
  const ids = / aria-describedby="([^"]*)"/.exec(inputOf(page, id))?.[1]?.split(' ') ?? [];
  return ids.map((ref) => new RegExp(`id="${ref}"[^>]*>([^<]*)<`).exec(page.html)?.[1] ?? `(no ${ref})`);
}

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('password-link-pages', { LOGIN_IP_LIMIT: '1000' }));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('a welcome link, first opened', () => {
  it('asks to choose a first password, without a word of a reset or of signing out', async () => {
    const link = await welcomeLink('nora');
    const page = await new BrowserAgent().navigate(link);
    expect(page.status).toBe(200);
    expect(heading(page)).toBe('Choose your password');
    expect(mainText(page)).toContain('For nora .');
    expect(mainText(page)).not.toContain('signs you out');
    expect(page.html).toContain('<button type="submit">Set your password</button>');
  });

  it('takes as long a password in both fields as the gateway allows, and says how long', async () => {
    const link = await welcomeLink('nils');
    const page = await new BrowserAgent().navigate(link);
    expect(descriptionOf(page, 'password')).toEqual([`${MIN} to ${MAX} characters.`]);
    expect(inputOf(page, 'password')).toContain(`minlength="${MIN}"`);
    expect(inputOf(page, 'password')).toContain(`maxlength="${MAX}"`);
    expect(inputOf(page, 'confirmation')).toContain(`maxlength="${MAX}"`);
  });
});

describe('a refused password on the link page', () => {
  it('is answered by a redirect, said once on the page, and the first empty field has the focus', async () => {
    const link = await welcomeLink('nina');
    const agent = new BrowserAgent();
    const page = await agent.navigate(link);
    const posted = await post(agent, page, 'long enough secret', 'long enough secreT');
    // Back and Reload then ask for a page, never post the password again.
    expect(posted.status).toBe(303);
    expect(new URL(posted.headers.get('location')!, link).toString()).toBe(link);
    // Nothing of what was typed is kept for the page.
    const kept = await gateway.models.WebSession.findAll();
    expect(kept.some((row) => row.data.includes('long enough secre'))).toBe(false);

    const shown = await agent.navigate(link);
    expect(shown.status).toBe(400);
    expect(/role="alert">([^<]*)</.exec(shown.html)?.[1]).toBe('The two passwords differ.');
    // Both fields are empty: the first is to be typed first, and a screen reader hears what was wrong there.
    expect(autofocused(shown)).toEqual(['password']);
    expect(descriptionOf(shown, 'password')).toEqual([
      `${MIN} to ${MAX} characters.`,
      'Type the same new password twice.',
    ]);
    expect(inputOf(shown, 'confirmation')).toContain('aria-invalid="true"');

    const reloaded = await agent.navigate(link);
    expect(reloaded.status).toBe(200);
    expect(reloaded.html).not.toContain('role="alert"');
    expect((await gateway.models.User.findOne({ where: { username: 'nina' } }))!.passwordHash).toBeNull();
  });
});

describe('a first password set', () => {
  it('says so after a redirect, as often as the page is reloaded, and offers to sign in', async () => {
    const link = await welcomeLink('nora2');
    const agent = new BrowserAgent();
    const page = await agent.navigate(link);
    const posted = await post(agent, page, 'nora chose this one');
    expect(posted.status).toBe(303);
    const donePath = posted.headers.get('location')!;
    for (const visit of [1, 2]) {
      const done = await agent.navigate(new URL(donePath, link).toString());
      expect(done.status, `visit ${visit}`).toBe(200);
      expect(heading(done)).toBe('Your password is set');
      expect(mainText(done)).toContain('Sign in with it now.');
      expect(mainText(done)).not.toContain('session');
      expect(links(done)).toContainEqual(['Sign in', '/']);
    }
  });

  it('then, opened again, says the password was chosen with it and offers to sign in', async () => {
    const link = await welcomeLink('noah');
    const agent = new BrowserAgent();
    await post(agent, await agent.navigate(link), 'noah chose this one');
    // Back from the done page, or the mail's link once more, in any browser.
    for (const browser of [agent, new BrowserAgent()]) {
      const again = await browser.navigate(link);
      expect(again.status).toBe(410);
      expect(heading(again)).toBe('You already chose your password with this link');
      expect(mainText(again)).not.toContain('Nothing was changed');
      expect(mainText(again)).not.toContain('noah');
      expect(links(again)).toEqual([
        ['Sign in', '/'],
        ['Ask for a new link', '/password/forgot'],
      ]);
    }
  });
});

describe('a link refused, in the words of what became of it', () => {
  it('a reset link used: a new password was set with it', async () => {
    await addPerson(gateway, 'omar');
    const link = resetLinkIn(await forgotMail('omar', 'omar@campus.test'));
    const agent = new BrowserAgent();
    const page = await agent.navigate(link);
    expect(heading(page)).toBe('Choose a new password');
    await post(agent, page, 'omar chose this one');
    const again = await agent.navigate(link);
    expect(heading(again)).toBe('This link was already used to set a new password');
    expect(links(again)).toContainEqual(['Sign in', '/']);
    expect(mainText(again)).not.toContain('Nothing was changed');
  });

  it('a welcome link after a newer link from "Forgot your password?" was used: a newer link was sent', async () => {
    const link = await welcomeLink('nell');
    const newer = resetLinkIn(await forgotMail('nell', 'nell@campus.test', SET_SUBJECT));
    const agent = new BrowserAgent();
    await post(agent, await agent.navigate(newer), 'nell chose this one');
    const old = await new BrowserAgent().navigate(link);
    expect(old.status).toBe(410);
    expect(mainText(old)).toContain('A newer link was sent after this one, and a password was chosen with it');
    expect(mainText(old)).not.toContain('the account changed');
    expect(links(old)).toContainEqual(['Sign in', '/']);
  });

  it('a link cancelled by an administrator: cancelled, and nothing was changed', async () => {
    await addPerson(gateway, 'otto');
    const link = resetLinkIn(await forgotMail('otto', 'otto@campus.test'));
    await resetPassword(admin(), 'otto', 'the administrator chose this');
    const refused = await new BrowserAgent().navigate(link);
    expect(heading(refused)).toBe('This link was cancelled');
    expect(mainText(refused)).toContain('the account changed after it was sent');
    expect(mainText(refused)).toContain('Nothing was changed.');
    expect(links(refused)).toEqual([['Ask for a new link', '/password/forgot']]);
  });
});

describe('"Forgot your password?" for an account without a password', () => {
  it('mails, as "Set your Atrium password", that no password is set yet and that the link sets one', async () => {
    await welcomeLink('nadia');
    const mail = await forgotMail('nadia', 'nadia@campus.test', SET_SUBJECT);
    expect(mail.subject).toBe(SET_SUBJECT);
    const text = mail.text.replace(/\r\n/g, '\n');
    expect(text).toContain('The account has no password yet: this link sets one.');
    expect(text).not.toContain('your password stays as it is');
    expect(text).not.toContain('asked to reset');
  });
});
