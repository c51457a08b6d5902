import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, mainText, type Page } from '../helpers/browser-agent.ts';
import { addPerson, ENG_NODE, registerTestApp, type TestGateway } from '../helpers/gateway.ts';
import { RESET_SUBJECT, resetLinkIn, type Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { login } from '../helpers/node.ts';
import { codeFlow } from '../helpers/rp.ts';
import { portalClient } from '../helpers/node.ts';
import { operator } from '../../gateway/context.ts';
import { resetPassword, updateUser } from '../../gateway/accounts/update-user.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { admitResetRequest, mailResetLink, type RecoveryDeps } from '../../gateway/recovery/request-reset.ts';
import { smtpMailer } from '../../gateway/recovery/mailer.ts';
import { createRateLimiter } from '../../core/rate-limit.ts';
import { createLogger } from '../../core/logger.ts';
import { ConfigError } from '../../core/errors.ts';
import { sweepPasswordResets } from '../../gateway/recovery/sweep-resets.ts';

let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;
let lastIp = 0;

const url = (path: string) => `${gateway.issuer}${path}`;
const REDIRECT = 'http://localhost:9/cb';
/** Each test asks from addresses of its own (the gateway trusts X-Forwarded-For here), so IP limits stay apart. */
const newIp = () => `203.0.113.${++lastIp}`;

const seedUser = (username: string) => addPerson(gateway, username);

/** Posts "forgot password" as a browser would, from the given client address, without following the answer. */
async function postForgot(identifier: string, ip = newIp(), agent = new BrowserAgent()): Promise<Response> {
  const page = await agent.navigate(url('/password/forgot'));
  const form = formWithAction(page, '/password/forgot');
  return agent.request(url('/password/forgot'), {
    method: 'POST',
    body: new URLSearchParams({ ...form.fields, identifier }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
  });
}

/** Fills in "forgot password" as a browser would, from the given client address: the page it lands on. */
async function askForLink(identifier: string, ip = newIp(), agent = new BrowserAgent()): Promise<Page> {
  const response = await postForgot(identifier, ip, agent);
  const location = response.headers.get('location');
  if (response.status !== 303 || !location) {
    return {
      url: url('/password/forgot'),
      status: response.status,
      html: await response.text(),
      headers: response.headers,
    };
  }
  await response.arrayBuffer();
  return agent.navigate(new URL(location, url('/')).toString());
}

async function choosePassword(
  link: string,
  password: string,
  confirmation = password,
  agent = new BrowserAgent(),
): Promise<Page> {
  const page = await agent.navigate(link);
  if (page.status !== 200) {
    // The link is refused already: post anyway, with a valid form token, to show a post changes nothing.
    const forgot = await agent.navigate(url('/password/forgot'));
    const csrf = formWithAction(forgot, '/password/forgot').fields._csrf!;
    return agent.navigate(link, {
      method: 'POST',
      body: new URLSearchParams({ _csrf: csrf, password, confirmation }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }
  return agent.submit(page, formWithAction(page, '/password/reset/'), { password, confirmation });
}

const operatorContext = () => ({ ...gateway.context(null), actor: operator('test') });
const passwordHashOf = async (username: string) =>
  (await gateway.models.User.findOne({ where: { username } }))!.passwordHash;
const auditOf = (action: string, target: string) =>
  gateway.models.AuditEvent.findAll({ where: { action, target }, order: [['id', 'ASC']] });

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('forgot-pw', {
    ATRIUM_TRUST_PROXY: 'true',
    LOGIN_IP_LIMIT: '1000',
    PASSWORD_RESET_IP_LIMIT: '4',
    PASSWORD_RESET_ACCOUNT_LIMIT: '3',
  }));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('"forgot password" by mail', () => {
  it('mails a link that sets a new password and ends every session and refresh token of the person', async () => {
    await seedUser('pia');
    const phone = await login(gateway, 'pia');
    await phone.tokenFor(ENG_NODE);
    // The browser that signed in holds a gateway session: starting another sign-in asks for no password.
    const signInPage = (agent: BrowserAgent) => agent.navigate(url('/admin/login'));
    expect((await signInPage(phone.agent)).html).not.toContain('name="password"');

    const answer = await askForLink('pia@campus.test');
    expect(answer.status).toBe(200);
    expect(answer.html).toContain('Check your mail');
    const mail = await mailbox.next('pia@campus.test');
    expect(mail.subject).toBe('Reset your Atrium password');
    // The greeting on its own, then a sentence of its own.
    expect(mail.text.replace(/\r\n/g, '\n')).toMatch(
      /^Hello [^\n]+,\n\nSomeone \(hopefully you\) asked to reset the password of the Atrium account "pia"\.\n/,
    );
    const link = resetLinkIn(mail);
    expect(link.startsWith(`${gateway.issuer}/password/reset/`)).toBe(true);
    // Only the hash of the token is stored.
    const [row] = await gateway.models.PasswordReset.findAll();
    expect(link).not.toContain(row!.tokenHash);

    const done = await choosePassword(link, 'a brand new secret');
    expect(done.status).toBe(200);
    expect(done.html).toContain('Your password is changed');

    await expect(phone.tokenFor(ENG_NODE)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await signInPage(phone.agent)).html).toContain('name="password"');
    await expect(login(gateway, 'pia')).rejects.toThrow();
    const portal = await portalClient(gateway);
    const fresh = await codeFlow(
      portal,
      'http://localhost:9/portal-cb',
      'pia',
      {},
      new BrowserAgent(),
      'a brand new secret',
    );
    expect(fresh.tokens.access_token).toBeTruthy();
    expect((await auditOf('password_reset.request', 'pia'))[0]?.outcome).toBe('success');
    expect((await auditOf('password_reset.use', 'pia'))[0]?.outcome).toBe('success');
  });

  it('gives the same answer for an address that belongs to nobody, and mails nothing', async () => {
    await seedUser('quinn');
    const known = await askForLink('quinn@campus.test');
    const unknown = await askForLink('nobody@campus.test');
    expect(unknown.status).toBe(known.status);
    expect(unknown.html).toBe(known.html);
    await mailbox.next('quinn@campus.test');
    // The lookup happens after the answer; its audit entry says what it found.
    await expect
      .poll(async () =>
        (await auditOf('password_reset.request', 'nobody@campus.test')).map((e) => [e.outcome, JSON.parse(e.details!)]),
      )
      .toEqual([['failure', { reason: 'unknown_account' }]]);
    expect(mailbox.received.some((m) => m.to.includes('nobody@campus.test'))).toBe(false);
  });

  it('refuses an expired link with a clear page and changes nothing', async () => {
    await seedUser('rosa');
    await askForLink('rosa');
    const link = resetLinkIn(await mailbox.next('rosa@campus.test'));
    const user = (await gateway.models.User.findOne({ where: { username: 'rosa' } }))!;
    await gateway.models.PasswordReset.update(
      { expiresAt: new Date(Date.now() - 1000) },
      { where: { userId: user.id } },
    );
    const before = await passwordHashOf('rosa');

    const page = await new BrowserAgent().navigate(link);
    expect(page.status).toBe(410);
    expect(page.html).toContain('This password link has expired');
    const posted = await choosePassword(link, 'another new secret');
    expect(posted.status).toBe(410);
    expect(await passwordHashOf('rosa')).toBe(before);
    const refusals = await auditOf('password_reset.refused', 'rosa');
    // Opening the link twice and posting to it: each refusal is audited.
    expect(refusals.map((e) => JSON.parse(e.details!).reason)).toEqual(['expired', 'expired', 'expired']);
  });

  it('forgets links a day after they expired, answering "expired" until then', async () => {
    const zoe = await seedUser('zoe');
    await askForLink('zoe');
    const link = resetLinkIn(await mailbox.next('zoe@campus.test'));
    const day = 24 * 3_600_000;
    await gateway.models.PasswordReset.update(
      { expiresAt: new Date(Date.now() - day + 60_000) },
      { where: { userId: zoe.id } },
    );
    await sweepPasswordResets(gateway.models);
    expect((await new BrowserAgent().navigate(link)).html).toContain('has expired');
    await gateway.models.PasswordReset.update(
      { expiresAt: new Date(Date.now() - day - 60_000) },
      { where: { userId: zoe.id } },
    );
    await sweepPasswordResets(gateway.models);
    expect(await gateway.models.PasswordReset.count({ where: { userId: zoe.id } })).toBe(0);
    const gone = await new BrowserAgent().navigate(link);
    expect(gone.status).toBe(410);
    expect(gone.html).toContain('is not valid');
  });

  it('refuses a link used once already, keeping the password it set', async () => {
    await seedUser('sam');
    await askForLink('sam');
    const link = resetLinkIn(await mailbox.next('sam@campus.test'));
    expect((await choosePassword(link, 'first new secret')).status).toBe(200);
    const afterFirst = await passwordHashOf('sam');

    const again = await choosePassword(link, 'second new secret');
    expect(again.status).toBe(410);
    expect(again.html).toContain('This link was already used to set a new password');
    expect(await passwordHashOf('sam')).toBe(afterFirst);
    expect((await auditOf('password_reset.refused', 'sam')).map((e) => JSON.parse(e.details!).reason)).toContain(
      'used',
    );
  });

  it('keeps the link usable when the new password is refused', async () => {
    await seedUser('tara');
    await askForLink('tara');
    const link = resetLinkIn(await mailbox.next('tara@campus.test'));
    const before = await passwordHashOf('tara');
    const short = await choosePassword(link, 'short');
    expect(short.status).toBe(400);
    // Sentences, each beside the field it is about and tied to it for screen readers.
    expect(/role="alert">([^<]*)</.exec(short.html)?.[1]).toBe('The new password is too short.');
    expect(short.html).toMatch(
      /<input id="password"[^>]* aria-describedby="password-hint password-error" aria-invalid="true" autofocus>/,
    );
    expect(short.html).toContain('<p class="field-error" id="password-error">Use at least 10 characters.</p>');
    const spaces = await choosePassword(link, ' '.repeat(12));
    expect(spaces.status).toBe(400);
    expect(/role="alert">([^<]*)</.exec(spaces.html)?.[1]).toBe('The new password is only spaces.');
    const differing = await choosePassword(link, 'long enough secret', 'long enough secreT');
    expect(differing.status).toBe(400);
    expect(/role="alert">([^<]*)</.exec(differing.html)?.[1]).toBe('The two passwords differ.');
    // Both fields are empty again: the first has the focus, and the mismatch is said there.
    expect(differing.html).toMatch(
      /<input id="password"[^>]* aria-describedby="password-hint password-error" autofocus>/,
    );
    expect(differing.html).toMatch(
      /<input id="confirmation"[^>]* aria-invalid="true" aria-describedby="password-error">/,
    );
    expect(differing.html).toContain(
      '<p class="field-error" id="password-error">Type the same new password twice.</p>',
    );
    expect(await passwordHashOf('tara')).toBe(before);
    expect((await choosePassword(link, 'long enough secret')).status).toBe(200);
  });

  const reasonsRefused = async (username: string) =>
    (await auditOf('password_reset.refused', username)).map((e) => JSON.parse(e.details!).reason);

  it('refuses a link mailed before an administrator set a new password, saying it was cancelled', async () => {
    await seedUser('ned');
    // Someone reading ned's mailbox asks for a link; the administrator, told of it, sets a new password.
    await askForLink('ned');
    const link = resetLinkIn(await mailbox.next('ned@campus.test'));
    await resetPassword(operatorContext(), 'ned', 'the administrator chose this one');
    const chosen = await passwordHashOf('ned');

    const refused = await choosePassword(link, 'the intruder chose this one');
    expect(refused.status).toBe(410);
    expect(refused.html).toContain('This password link was cancelled');
    expect(refused.html).not.toContain('already used');
    expect(await passwordHashOf('ned')).toBe(chosen);
    expect(await reasonsRefused('ned')).toEqual(['cancelled', 'cancelled']);
  });

  it('refuses a link mailed to the old address once the address is changed', async () => {
    const oli = await seedUser('oli');
    await askForLink('oli');
    const link = resetLinkIn(await mailbox.next('oli@campus.test'));
    await updateUser(operatorContext(), oli.id, { email: 'oli.new@campus.test' });
    const refused = await new BrowserAgent().navigate(link);
    expect(refused.status).toBe(410);
    expect(refused.html).toContain('This password link was cancelled');
    expect(await reasonsRefused('oli')).toEqual(['cancelled']);
  });

  it('refuses a link mailed before the person was disabled, even once they are enabled again', async () => {
    const pat = await seedUser('pat');
    await askForLink('pat');
    const link = resetLinkIn(await mailbox.next('pat@campus.test'));
    await updateUser(operatorContext(), pat.id, { status: 'disabled' });
    await updateUser(operatorContext(), pat.id, { status: 'active' });
    const refused = await new BrowserAgent().navigate(link);
    expect(refused.status).toBe(410);
    expect(refused.html).toContain('This password link was cancelled');
    expect(await reasonsRefused('pat')).toEqual(['cancelled']);
  });

  it('spends every other link of the person once one of them set a new password', async () => {
    await seedUser('quin');
    await askForLink('quin');
    const first = resetLinkIn(await mailbox.next('quin@campus.test'));
    await askForLink('quin');
    const second = resetLinkIn(await mailbox.next('quin@campus.test'));
    expect((await choosePassword(second, 'quin chose this one')).status).toBe(200);
    const refused = await choosePassword(first, 'and then this one');
    expect(refused.status).toBe(410);
    // In the words of what happened: the person's own newer link set the password.
    expect(mainText(refused)).toContain('A newer link was sent after this one, and a password was chosen with it');
    expect(mainText(refused)).toContain('The password typed just now was not saved.');
  });

  it('mails one account at most the allowed number of times an hour, answering the same', async () => {
    await seedUser('uma');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await askForLink('uma'));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.html)).size).toBe(1);
    for (let i = 0; i < 3; i++) await mailbox.next('uma@campus.test');
    const reasons = async () =>
      (await auditOf('password_reset.request', 'uma')).map((e) => JSON.parse(e.details!).reason ?? 'mailed').sort();
    await expect.poll(reasons).toEqual(['account_rate_limited', 'mailed', 'mailed', 'mailed']);
    expect(mailbox.received.filter((m) => m.to.includes('uma@campus.test'))).toHaveLength(3);
  });

  it('refuses a client address that asks too often', async () => {
    const ip = newIp();
    const statuses = [];
    let last: Page | undefined;
    for (let i = 0; i < 5; i++) {
      last = await askForLink(`someone-${i}`, ip);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    // Said to be the network's, with when to come back (the limit's hour, in minutes).
    expect(/role="alert">([^<]*)</.exec(last!.html)?.[1]).toBe(
      'Too many password reset requests have come from your network. Try again in 60 minutes.',
    );
    expect(last!.html).toContain('value="someone-4"');
    // Another address is not held back.
    expect((await askForLink('someone-else')).status).toBe(200);
  });

  it('answers with a redirect to "Check your mail", whose reload and Back send nothing', async () => {
    await seedUser('ravi');
    const agent = new BrowserAgent();
    const posted = await postForgot('ravi', newIp(), agent);
    // Post/redirect/get: the browser's history holds a page, not a form to send again.
    expect(posted.status).toBe(303);
    const location = posted.headers.get('location')!;
    expect(new URL(location, url('/')).pathname).toBe('/password/forgot/sent');
    // The same redirect for an account that does not exist.
    const unknown = await postForgot('nobody-at-all', newIp());
    expect([unknown.status, unknown.headers.get('location')]).toEqual([303, location]);

    const sent = await agent.navigate(new URL(location, url('/')).toString());
    expect(sent.status).toBe(200);
    expect(sent.html).toContain('Check your mail');
    expect(sent.html).toContain('<a href="/" id="back-to-sign-in">Back to sign in</a>');
    await mailbox.next('ravi@campus.test');
    for (let i = 0; i < 3; i++) {
      const reloaded = await agent.navigate(sent.url);
      expect(reloaded.html).toBe(sent.html);
    }
    // One request, one mail: a further request is the second (the account's limit is three).
    await askForLink('ravi', newIp(), agent);
    await mailbox.next('ravi@campus.test');
    const requests = await auditOf('password_reset.request', 'ravi');
    expect(requests.map((e) => e.outcome)).toEqual(['success', 'success']);
    expect(mailbox.received.filter((m) => m.to.includes('ravi@campus.test'))).toHaveLength(2);
  });

  it('says a refusal once, after its redirect, and the form is as usual on reload', async () => {
    const ip = newIp();
    const agent = new BrowserAgent();
    for (let i = 0; i < 4; i++) expect((await askForLink(`held-${i}`, ip)).status).toBe(200);
    const refused = await postForgot('held-4', ip, agent);
    expect(refused.status).toBe(303);
    const page = await agent.navigate(new URL(refused.headers.get('location')!, url('/')).toString());
    expect(page.status).toBe(429);
    expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(page.html).toContain('Too many password reset requests have come from your network.');
    const reloaded = await agent.navigate(page.url);
    expect(reloaded.status).toBe(200);
    expect(reloaded.html).not.toContain('role="alert"');
    expect(reloaded.headers.get('retry-after')).toBeNull();
  });

  it('refuses a post without the form token', async () => {
    await seedUser('vic');
    const response = await fetch(url('/password/forgot'), {
      method: 'POST',
      body: new URLSearchParams({ identifier: 'vic' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    });
    expect(response.status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailbox.received.some((m) => m.to.includes('vic@campus.test'))).toBe(false);
  });

  it('links to it from the sign-in page, and back to that sign-in from the form and from "Check your mail"', async () => {
    const agent = new BrowserAgent();
    const signIn = await agent.navigate(url('/'));
    expect(signIn.url).toContain('/interaction/');
    const backLink = (page: Page) => /<a href="([^"]*)" id="back-to-sign-in">Back to sign in<\/a>/.exec(page.html)?.[1];
    const forgotHref = /<a href="([^"]*)" id="forgot-password">/.exec(signIn.html)?.[1];
    expect(forgotHref).toMatch(/^\/password\/forgot\b/);
    const forgot = await agent.navigate(new URL(forgotHref!, signIn.url).toString());
    expect(url(backLink(forgot)!)).toBe(signIn.url);

    await seedUser('yara');
    const sent = await agent.submit(forgot, formWithAction(forgot, '/password/forgot'), { identifier: 'yara' });
    expect(sent.html).toContain('Check your mail');
    expect(url(backLink(sent)!)).toBe(signIn.url);
    const back = await agent.navigate(url(backLink(sent)!));
    expect(back.url).toBe(signIn.url);
    expect(back.html).toContain('name="password"');
    await mailbox.next('yara@campus.test');

    // Opened some other way, or with anything but a sign-in's id, it leads to the portal, which asks to sign in.
    for (const path of ['/password/forgot', '/password/forgot?interaction=https://evil.test/x']) {
      expect(backLink(await new BrowserAgent().navigate(url(path))), path).toBe('/');
    }
  });

  it('leads back, after the new password, to the sign-in for the app it began at, or else to the app', async () => {
    const app = await registerTestApp(gateway, {
      name: 'Library',
      redirectUris: [REDIRECT],
      homeUrl: 'http://localhost:9/library',
      firstParty: true,
    });
    await seedUser('xena');
    /** An app's sign-in in this browser, then "Forgot your password?" there: the sign-in and the mailed link. */
    const forgotAtSignIn = async (agent: BrowserAgent) => {
      const signIn = await agent.navigate(
        url(
          `/auth?client_id=${app.clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`,
        ),
      );
      const forgotHref = /<a href="([^"]*)" id="forgot-password">/.exec(signIn.html)![1]!;
      const forgot = await agent.navigate(new URL(forgotHref, signIn.url).toString());
      await agent.submit(forgot, formWithAction(forgot, '/password/forgot'), { identifier: 'xena' });
      return { signIn, link: resetLinkIn(await mailbox.next('xena@campus.test', { subject: RESET_SUBJECT })) };
    };
    const onward = (page: Page) =>
      /<a href="([^"]*)" class="button" id="return-to-sign-in">([^<]*)<\/a>/.exec(page.html)?.slice(1);

    // The sign-in still open: back to it, where the new password finishes it.
    const agent = new BrowserAgent();
    const first = await forgotAtSignIn(agent);
    const done = await choosePassword(first.link, 'xena chose this one', undefined, agent);
    expect(done.html).toContain('Your password is changed');
    const [href, label] = onward(done)!;
    expect(label).toBe('Continue signing in to Library');
    expect(url(href!)).toBe(first.signIn.url);
    expect(done.html).toContain('Or go to Atrium');
    const back = await agent.navigate(url(href!));
    const landed = await agent.submit(
      back,
      formWithAction(back, '/login'),
      { username: 'xena', password: 'xena chose this one' },
      REDIRECT,
    );
    expect(new URL(landed.url).searchParams.get('code')).toBeTruthy();

    // The sign-in over by the time the link is used: the app's home page, which starts another.
    const later = new BrowserAgent();
    const second = await forgotAtSignIn(later);
    const uid = new URL(second.signIn.url).pathname.split('/').pop()!;
    await gateway.models.OidcPayload.destroy({ where: { model: 'Interaction', id: uid } });
    const lateDone = await choosePassword(second.link, 'xena chose another', undefined, later);
    expect(onward(lateDone)).toEqual(['http://localhost:9/library', 'Go to Library']);

    // The link opened in another browser than the one that asked for it: Atrium, as before.
    const third = await forgotAtSignIn(new BrowserAgent());
    const elsewhere = await choosePassword(third.link, 'xena chose a third');
    expect(onward(elsewhere)).toBeUndefined();
    expect(elsewhere.html).toContain('<a href="/" id="go-to-atrium">Go to Atrium</a>');
  });

  it("mails a directory person the directory's own reset page instead of a link", async () => {
    const wen = await seedUser('wen');
    const from = 'Atrium <no-reply@campus.test>';
    const mailer = smtpMailer(mailbox.url, from);
    const deps: RecoveryDeps = {
      issuer: gateway.issuer,
      mailer,
      ttlMinutes: 30,
      ipLimiter: createRateLimiter({ limit: 10, windowSeconds: 3600 }),
      accountLimiter: createRateLimiter({ limit: 10, windowSeconds: 3600 }),
      directoryResetPage: (user) => (user.id === wen.id ? 'https://idm.campus.test/reset' : null),
      logger: createLogger('test', 'silent'),
    };
    const ctx = { ...gateway.context(null), ip: newIp() };
    await mailResetLink(ctx, deps, (await admitResetRequest(ctx, deps, { identifier: 'wen' })).identifier);
    const mail = await mailbox.next('wen@campus.test');
    mailer.close();
    expect(mail.text).toContain('https://idm.campus.test/reset');
    // Worded as the mail with Atrium's own link.
    expect(mail.subject).toBe('Reset your Atrium password');
    expect(mail.text.replace(/\r\n/g, '\n')).toContain(
      '\n\nSomeone (hopefully you) asked to reset the password of the Atrium account "wen".',
    );
    expect(mail.text).not.toContain('/password/reset/');
    expect(await gateway.models.PasswordReset.count({ where: { userId: wen.id } })).toBe(0);
  });
});

describe('mail settings', () => {
  const base = { ATRIUM_DATA_DIR: gatewayDataDir() };
  it('refuses SMTP_URL without a sender, or a URL that is not SMTP', () => {
    expect(() => loadGatewayConfig({ ...base, SMTP_URL: 'smtp://mail.campus.test:587' })).toThrow(
      /MAIL_FROM: required when SMTP_URL is set/,
    );
    expect(() => loadGatewayConfig({ ...base, SMTP_URL: 'https://mail.campus.test', MAIL_FROM: 'a@b.test' })).toThrow(
      ConfigError,
    );
    expect(
      loadGatewayConfig({ ...base, SMTP_URL: 'smtps://u:p@mail.campus.test:465', MAIL_FROM: 'Atrium <a@b.test>' }).mail,
    ).toEqual({
      smtpUrl: 'smtps://u:p@mail.campus.test:465',
      from: 'Atrium <a@b.test>',
    });
  });
});

function gatewayDataDir(): string {
  return `${process.env.TMPDIR ?? '/tmp'}/atrium-mail-config-${process.pid}`;
}
