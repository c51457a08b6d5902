import { TOTP, Secret } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, filledFormWithAction, mainText, signInThrough, submitFilled } from '../helpers/browser-agent.ts';
import { addPerson, linkToTestDirectory, signInToConsole, type TestGateway } from '../helpers/gateway.ts';
import { resetLinkIn, type Mailbox, type ReceivedMail } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { runAtrium } from '../helpers/cli.ts';
import { SoftwarePasskey } from '../helpers/software-passkey.ts';
import { changeOwnPassword } from '../../gateway/accounts/change-password.ts';
import { signOutOwnSessions } from '../../gateway/accounts/sign-out-own-sessions.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { createUserWithLink } from '../../gateway/accounts/new-account-link.ts';
import { editUser, resetPassword } from '../../gateway/accounts/update-user.ts';
import type { GatewayContext } from '../../gateway/context.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { removePasskey } from '../../gateway/factors/passkeys/manage-passkeys.ts';
import { beginPasskeyRegistration, finishPasskeyRegistration } from '../../gateway/factors/passkeys/registration.ts';
import { passkeyDeps } from '../../gateway/factors/passkeys/relying-party.ts';
import { beginTotpReplacement, confirmTotpReplacement } from '../../gateway/factors/replace-totp.ts';
import { regenerateRecoveryCodes } from '../../gateway/factors/regenerate-recovery-codes.ts';
import { removeOwnTotp } from '../../gateway/factors/remove-totp.ts';
import { verifySecondFactor } from '../../gateway/factors/second-step.ts';
import { resetFactorsOf } from '../../gateway/factors/reset-factors.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { completePasswordReset } from '../../gateway/recovery/complete-reset.ts';
import { smtpMailer } from '../../gateway/recovery/mailer.ts';
import { newResetToken } from '../../gateway/recovery/reset-tokens.ts';
import { createRateLimiter } from '../../core/rate-limit.ts';

/**
 * A person is mailed when their password, second factors or email change, whoever changed them: a helpdesk
 * talked into a reset leaves the real owner told. The mail goes through a real SMTP server in this process.
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const HELPDESK_IP = '198.51.100.77';

const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const text = (mail: ReceivedMail) => mail.text.replace(/\r\n/g, '\n');

/** The helpdesk: an administrator named "hugo" at the console, whose name and address no notice shows. */
async function helpdesk(): Promise<GatewayContext> {
  const hugo = (await userNamed('hugo')) ?? (await addPerson(gateway, 'hugo', { roles: ['admin'], units: ['campus'] }));
  return {
    ...gateway.context(null),
    actor: { kind: 'user', id: hugo.id, name: hugo.username, roles: hugo.roles, unitPaths: [] },
    ip: HELPDESK_IP,
    userAgent: FIREFOX,
  };
}

/** The person themselves, from Firefox on Linux at 203.0.113.9. */
const asThemselves = (): GatewayContext => ({ ...gateway.context(null), ip: '203.0.113.9', userAgent: FIREFOX });

/** Mails to `address` so far, once every notice under way was sent: for a test that none was. */
async function mailsTo(address: string): Promise<ReceivedMail[]> {
  await gateway.context(null).notices!.settle();
  return mailbox.received.filter((m) => m.to.includes(address));
}

/** The person's authenticator app, set up by themselves, and the notice of it taken from the mailbox. */
async function withAuthenticatorApp(username: string) {
  const person = await userNamed(username);
  const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
  const binding = interactionBinding({ uid: `notices-${username}` });
  const { secret } = await beginTotpEnrolment(asThemselves(), deps, person, binding);
  const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
  const codes = await confirmTotpEnrolment(asThemselves(), deps, person, code, binding);
  await mailbox.next(person.email, { subject: 'An authenticator app was added to your Atrium account' });
  return { person, binding, codes, secret };
}

/** What every notice says besides the change: when, by whom, what to do if it was not them, and no secret. */
function expectNoticeShape(mail: ReceivedMail, displayName: string) {
  const body = text(mail);
  expect(body).toMatch(new RegExp(`^Hello ${displayName},\n\n`));
  expect(body).toMatch(/\nWhen: \w+day \d{1,2} \w+ \d{4}, \d\d:\d\d UTC\n/);
  expect(body).toContain('contact your campus helpdesk at once');
  expect(body).toContain(
    `Your account page lists where you are signed in and your second factors: ${gateway.issuer}/account`,
  );
  // The account page is the only link, and it changes nothing by being opened.
  expect(body.match(/https?:\/\/\S+/g)).toEqual([`${gateway.issuer}/account`]);
}

/** From an administrator: "your campus administrators", never their username or address. */
function expectFromAdministrators(mail: ReceivedMail) {
  const body = text(mail);
  expect(body).toContain('\nBy: your campus administrators\n');
  expect(body).not.toMatch(/hugo/i);
  expect(body).not.toContain(HELPDESK_IP);
  expect(body).not.toContain('From:');
}

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('notices'));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('security notices by mail', () => {
  it('tells the person when the helpdesk resets their password, without naming who or the new password', async () => {
    await addPerson(gateway, 'nell');
    // Theirs to keep here, so that the sign-in below ends on the account page (temporary-password.test.ts).
    await resetPassword(await helpdesk(), 'nell', 'a helpdesk password 42', { temporary: false });
    const mail = await mailbox.next('nell@campus.test');
    expect(text(mail)).not.toContain('choose a password of your own');
    expect(mail.subject).toBe('Your Atrium password was reset');
    expect(text(mail)).toContain('Your campus administrators set a new password for your Atrium account "nell".');
    expect(text(mail)).toContain('You were signed out everywhere');
    expect(text(mail)).toContain('If you did not ask for this, someone may have asked for it in your name');
    expect(text(mail)).not.toContain('a helpdesk password 42');
    expectNoticeShape(mail, 'Test nell');
    expectFromAdministrators(mail);

    // The one link of the mail opens the person's sign-in security, once they sign in with the new password.
    const link = text(mail).match(/https?:\/\/\S+/)![0];
    const page = await signInThrough(new BrowserAgent(), link, 'nell', 'a helpdesk password 42');
    expect(page.status).toBe(200);
    expect(new URL(page.url).pathname).toBe('/account/security');
    expect(page.html).toContain('Signed in as <strong>nell</strong>');
  });

  it('tells the person of a temporary password that their next sign-in asks for their own', async () => {
    await addPerson(gateway, 'nico');
    await resetPassword(await helpdesk(), 'nico', 'a helpdesk password 43');
    const mail = await mailbox.next('nico@campus.test');
    expect(mail.subject).toBe('Your Atrium password was reset');
    expect(text(mail)).toContain(
      'It is temporary: at your next sign-in, after your password, you will be asked to choose a password of your own.',
    );
    expect(text(mail)).not.toContain('a helpdesk password 43');
  });

  it('tells the person when the helpdesk removes their second factors, a directory person at the address it gives', async () => {
    const dora = await addPerson(gateway, 'dora');
    await dora.update({ email: 'dora.d@library.campus.test' });
    await linkToTestDirectory(gateway.models, [dora]);
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
    const binding = interactionBinding({ uid: 'notices-dora' });
    const { secret } = await beginTotpEnrolment(gateway.context(null), deps, dora, binding);
    const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
    await confirmTotpEnrolment(gateway.context(null), deps, dora, code, binding);
    await mailbox.next('dora.d@library.campus.test'); // the authenticator app added (its own test below)

    expect((await resetFactorsOf(await helpdesk(), 'dora')).removed).toBe(true);
    const mail = await mailbox.next('dora.d@library.campus.test');
    expect(mail.subject).toBe('The second factors of your Atrium account were removed');
    expect(text(mail)).toContain(
      'Your campus administrators removed the second factors of your Atrium account "dora": the authenticator app, the recovery codes.',
    );
    expectNoticeShape(mail, 'Test dora');
    expectFromAdministrators(mail);
  });

  it('tells both the old and the new address of an email change, the old one with the new address masked', async () => {
    await addPerson(gateway, 'otto');
    await editUser(await helpdesk(), 'otto', { email: 'otto.new@elsewhere.test' });
    const old = await mailbox.next('otto@campus.test');
    const fresh = await mailbox.next('otto.new@elsewhere.test');
    for (const mail of [old, fresh]) {
      expect(mail.subject).toBe('The email address of your Atrium account was changed');
      expectNoticeShape(mail, 'Test otto');
      expectFromAdministrators(mail);
    }
    expect(old.to).toEqual(['otto@campus.test']);
    expect(text(old)).toContain(
      'The email address of your Atrium account "otto" was changed from otto@campus.test to o***@elsewhere.test.',
    );
    expect(text(old)).not.toContain('otto.new');
    expect(text(fresh)).toContain('was changed to this address (it was o***@campus.test).');
    // An edit of anything else tells nobody.
    await editUser(await helpdesk(), 'otto', { displayName: 'Otto Renamed' });
    await resetPassword(await helpdesk(), 'otto', 'another helpdesk password');
    expect((await mailbox.next('otto.new@elsewhere.test')).subject).toBe('Your Atrium password was reset');
    expect(mailbox.received.filter((m) => m.to.includes('otto@campus.test'))).toHaveLength(1);
  });

  it('greets the old address by the name it knew when the name changes with the email, and shows it no new one', async () => {
    await addPerson(gateway, 'robin');
    await editUser(await helpdesk(), 'robin', { displayName: 'Robin Martin-Okoye', email: 'robin.mo@elsewhere.test' });
    const old = await mailbox.next('robin@campus.test');
    const fresh = await mailbox.next('robin.mo@elsewhere.test');
    expect(text(old).startsWith('Hello Test robin,\n')).toBe(true);
    expect(text(old)).not.toContain('Martin-Okoye');
    expect(text(old)).not.toContain('robin.mo');
    expect(text(fresh).startsWith('Hello Robin Martin-Okoye,\n')).toBe(true);
  });

  it('tells the person who changed their own password, from which browser and address', async () => {
    const pat = await addPerson(gateway, 'pat');
    const policy = {
      maxFailures: 5,
      lockoutMinutes: 15,
      ipLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
      identifierLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
    };
    const change = { current: 'atrium-demo', password: 'my own new password', confirmation: 'my own new password' };
    await changeOwnPassword(asThemselves(), policy, pat, change);
    const mail = await mailbox.next('pat@campus.test');
    expect(mail.subject).toBe('Your Atrium password was changed');
    expect(text(mail)).toContain('The password of your Atrium account "pat" was changed.');
    expect(text(mail)).toContain('\nBy: you, signed in to your account\nFrom: Firefox on Linux, address 203.0.113.9\n');
    expect(text(mail)).toContain('If this was not you, someone else is using your account');
    expect(text(mail)).not.toContain('my own new password');
    expectNoticeShape(mail, 'Test pat');
  });

  it('tells the person whose password was set through a reset link', async () => {
    const rae = await addPerson(gateway, 'rae');
    const { token, tokenHash } = newResetToken();
    const now = new Date();
    await gateway.models.PasswordReset.create({
      tokenHash,
      userId: rae.id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + 600_000),
    });
    await completePasswordReset(asThemselves(), token, {
      password: 'reset to this one',
      confirmation: 'reset to this one',
    });
    const mail = await mailbox.next('rae@campus.test');
    expect(mail.subject).toBe('Your Atrium password was changed');
    expect(text(mail)).toContain('was changed through a reset link mailed to this address');
    expect(text(mail)).toContain('\nFrom: Firefox on Linux, address 203.0.113.9\n');
    expect(text(mail)).not.toContain(token);
    expectNoticeShape(mail, 'Test rae');
  });

  it('tells the person when an authenticator app or a passkey is added to their account', async () => {
    const ada = await addPerson(gateway, 'ada');
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
    const binding = interactionBinding({ uid: 'notices-ada' });
    const { secret } = await beginTotpEnrolment(asThemselves(), deps, ada, binding);
    await confirmTotpEnrolment(
      asThemselves(),
      deps,
      ada,
      TOTP.generate({ secret: Secret.fromBase32(secret) }),
      binding,
    );
    const app = await mailbox.next('ada@campus.test');
    expect(app.subject).toBe('An authenticator app was added to your Atrium account');
    expect(text(app)).toContain('An authenticator app was set up as a second factor of your Atrium account "ada".');
    expect(text(app)).not.toContain(secret);
    expectNoticeShape(app, 'Test ada');

    const passkeys = passkeyDeps(gateway.issuer);
    const options = await beginPasskeyRegistration(asThemselves(), passkeys, ada, binding, 'Work laptop');
    const response = new SoftwarePasskey(gateway.issuer).register(options);
    await finishPasskeyRegistration(asThemselves(), passkeys, ada, binding, { name: 'Work laptop', response });
    const key = await mailbox.next('ada@campus.test');
    expect(key.subject).toBe('A passkey was added to your Atrium account');
    expect(text(key)).toContain('A passkey named "Work laptop" was added to your Atrium account "ada".');
    expect(text(key)).toContain('\nBy: you, signed in to your account\nFrom: Firefox on Linux, address 203.0.113.9\n');
    expectNoticeShape(key, 'Test ada');
  });

  it('tells the person whose authenticator app was replaced by a new phone', async () => {
    const abe = await addPerson(gateway, 'abe');
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
    const binding = interactionBinding({ uid: 'notices-abe' });
    const { secret } = await beginTotpEnrolment(asThemselves(), deps, abe, binding);
    await confirmTotpEnrolment(
      asThemselves(),
      deps,
      abe,
      TOTP.generate({ secret: Secret.fromBase32(secret) }),
      binding,
    );
    await mailbox.next('abe@campus.test', { subject: 'An authenticator app was added to your Atrium account' });

    const replacement = await beginTotpReplacement(asThemselves(), deps, abe, binding);
    const code = TOTP.generate({ secret: Secret.fromBase32(replacement.secret) });
    await confirmTotpReplacement(asThemselves(), deps, abe, { code, ref: replacement.ref }, binding);
    const mail = await mailbox.next('abe@campus.test');
    expect(mail.subject).toBe('The authenticator app of your Atrium account was replaced');
    expect(text(mail)).toContain('the old one no longer signs you in');
    expect(text(mail)).toContain('\nBy: you, signed in to your account\nFrom: Firefox on Linux, address 203.0.113.9\n');
    expect(text(mail)).not.toContain(replacement.secret);
    expectNoticeShape(mail, 'Test abe');
  });

  it("tells nobody of a new account's first password, chosen through the link mailed to welcome the person", async () => {
    const mailer = smtpMailer(mailbox.url, 'Atrium <no-reply@campus.test>');
    try {
      const input = {
        username: 'neve',
        displayName: 'Test neve',
        email: 'neve@campus.test',
        units: ['campus'],
        roles: ['student'],
      };
      await createUserWithLink(await helpdesk(), { issuer: gateway.issuer, mailer }, input);
    } finally {
      mailer.close();
    }
    const welcome = await mailbox.next('neve@campus.test', { subject: 'Your Atrium account: choose your password' });
    const token = resetLinkIn(welcome).split('/').pop()!;
    await completePasswordReset(asThemselves(), token, {
      password: 'my very first one',
      confirmation: 'my very first one',
    });
    expect((await userNamed('neve')).passwordHash).not.toBeNull();
    expect((await mailsTo('neve@campus.test')).map((m) => m.subject)).toEqual([welcome.subject]);
  });

  it('tells nobody of a first password chosen through "Forgot your password?" before any sign-in', async () => {
    const mo = await createUser(await helpdesk(), {
      username: 'mo',
      displayName: 'Test mo',
      email: 'mo@campus.test',
      units: ['campus'],
      roles: ['student'],
    });
    const token = await resetLinkFor(mo.id);
    await completePasswordReset(asThemselves(), token, { password: 'chosen at last', confirmation: 'chosen at last' });
    expect(await mailsTo('mo@campus.test')).toEqual([]);
  });

  it('tells someone who signed in before, without a password, that one was set through a reset link', async () => {
    // A person who signed in with a passkey alone, or through a directory that has since let them go.
    const kit = await createUser(await helpdesk(), {
      username: 'kit',
      displayName: 'Test kit',
      email: 'kit@campus.test',
      units: ['campus'],
      roles: ['student'],
    });
    await gateway.models.User.update({ lastLoginAt: new Date() }, { where: { id: kit.id } });
    await completePasswordReset(asThemselves(), await resetLinkFor(kit.id), {
      password: 'a password of my own',
      confirmation: 'a password of my own',
    });
    const mail = await mailbox.next('kit@campus.test');
    expect(mail.subject).toBe('Your Atrium password was changed');
    expect(text(mail)).toContain('was changed through a reset link mailed to this address');
  });

  it('tells a new person whose first password the helpdesk set that a password was set, not reset', async () => {
    await createUser(await helpdesk(), {
      username: 'flo',
      displayName: 'Test flo',
      email: 'flo@campus.test',
      units: ['campus'],
      roles: ['student'],
    });
    await resetPassword(await helpdesk(), 'flo', 'a first password 48');
    const mail = await mailbox.next('flo@campus.test');
    expect(mail.subject).toBe('A password was set for your Atrium account');
    expect(text(mail)).toContain(
      'Your campus administrators set a password for your Atrium account "flo", which had none until now.',
    );
    expect(text(mail)).not.toMatch(/reset|signed out/i);
    expect(text(mail)).not.toContain('a first password 48');
    expectNoticeShape(mail, 'Test flo');
    expectFromAdministrators(mail);
    // Their next one, once it is theirs, is a reset as for anyone.
    await resetPassword(await helpdesk(), 'flo', 'a second password 49');
    expect((await mailbox.next('flo@campus.test')).subject).toBe('Your Atrium password was reset');
  });

  it('tells the person when new recovery codes are made for their account, without the codes', async () => {
    await addPerson(gateway, 'rex');
    const { person, codes: first } = await withAuthenticatorApp('rex');
    const codes = await regenerateRecoveryCodes(asThemselves(), person);
    const mail = await mailbox.next('rex@campus.test');
    expect(mail.subject).toBe('New recovery codes were made for your Atrium account');
    expect(text(mail)).toContain('New recovery codes were made for your Atrium account "rex".');
    expect(text(mail)).toContain('each of them stands in for your second factor at a sign-in');
    expect(text(mail)).toContain('The recovery codes made before no longer work.');
    expect(text(mail)).toContain('\nBy: you, signed in to your account\nFrom: Firefox on Linux, address 203.0.113.9\n');
    for (const code of [...codes, ...first]) expect(mail.raw).not.toContain(code);
    expectNoticeShape(mail, 'Test rex');
  });

  it('tells the person when a recovery code of theirs was used to sign in, from where, and not of an authenticator code', async () => {
    await addPerson(gateway, 'ray');
    const { person, codes, secret } = await withAuthenticatorApp('ray');
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
    const policy = {
      maxFailures: 5,
      lockoutMinutes: 15,
      ipLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
      identifierLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
    };
    // The next time step's: this one's was spent on setting the app up.
    const totpCode = TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + 30_000 });
    expect((await verifySecondFactor(asThemselves(), deps, person.id, totpCode, policy)).method).toBe('totp');
    expect((await verifySecondFactor(asThemselves(), deps, person.id, codes[3]!, policy)).method).toBe('recovery_code');
    const mail = await mailbox.next('ray@campus.test');
    expect(mail.subject).toBe('A recovery code was used to sign in to your Atrium account');
    expect(text(mail)).toContain(
      'One of the recovery codes of your Atrium account "ray" was used to sign in, in place of your second factor; it no longer works.',
    );
    expect(text(mail)).toContain(
      '\nBy: whoever signed in with your password and the recovery code\nFrom: Firefox on Linux, address 203.0.113.9\n',
    );
    expect(text(mail)).toContain('someone else has your password and your recovery codes');
    for (const code of codes) expect(mail.raw).not.toContain(code);
    expectNoticeShape(mail, 'Test ray');
    // The authenticator code before it told nothing.
    expect((await mailsTo('ray@campus.test')).map((m) => m.subject)).toEqual([
      'An authenticator app was added to your Atrium account',
      mail.subject,
    ]);
  });

  it('tells the person when they remove a passkey or their authenticator app, and that the codes went with the last', async () => {
    await addPerson(gateway, 'pia');
    const { person, binding } = await withAuthenticatorApp('pia');
    const passkeys = passkeyDeps(gateway.issuer);
    const options = await beginPasskeyRegistration(asThemselves(), passkeys, person, binding, 'Old phone');
    const response = new SoftwarePasskey(gateway.issuer).register(options);
    const key = await finishPasskeyRegistration(asThemselves(), passkeys, person, binding, {
      name: 'Old phone',
      response,
    });
    await mailbox.next('pia@campus.test', { subject: 'A passkey was added to your Atrium account' });

    await removePasskey(asThemselves(), person, key.passkey.id);
    const removed = await mailbox.next('pia@campus.test');
    expect(removed.subject).toBe('A passkey was removed from your Atrium account');
    expect(text(removed)).toContain(
      'The passkey named "Old phone" was removed from your Atrium account "pia"; it no longer signs you in.',
    );
    // The authenticator app is left: the recovery codes stay.
    expect(text(removed)).not.toContain('recovery codes');
    expect(text(removed)).toContain(
      '\nBy: you, signed in to your account\nFrom: Firefox on Linux, address 203.0.113.9\n',
    );
    expectNoticeShape(removed, 'Test pia');

    await removeOwnTotp(asThemselves(), person);
    const app = await mailbox.next('pia@campus.test');
    expect(app.subject).toBe('The authenticator app was removed from your Atrium account');
    expect(text(app)).toContain(
      'The authenticator app was removed from your Atrium account "pia"; it no longer signs you in.',
    );
    expect(text(app)).toContain('It was your last second factor, so your recovery codes were removed with it.');
    expectNoticeShape(app, 'Test pia');
  });

  it('tells the person of a reset made at the command line, where SMTP_URL is set there too', async () => {
    await addPerson(gateway, 'cleo');
    const smtp = { SMTP_URL: mailbox.url, MAIL_FROM: 'Atrium <no-reply@campus.test>' };
    const done = await runAtrium(gateway.db, ['users', 'reset-password', 'cleo', '--password-stdin'], {
      stdin: 'a password from the shell\n',
      env: smtp,
    });
    expect(done).toMatchObject({
      code: 0,
      stdout: 'Set a new password for cleo. It is temporary: they choose their own at their next sign-in.\n',
    });
    // The command returned only once its mail was sent.
    expect(mailbox.received.filter((m) => m.to.includes('cleo@campus.test'))).toHaveLength(1);
    const mail = await mailbox.next('cleo@campus.test');
    expect(mail.subject).toBe('Your Atrium password was reset');
    expectFromAdministrators(mail);
  });

  it('tells the person an administrator signed them out everywhere, from the console, but not of their own', async () => {
    const sam = await addPerson(gateway, 'sam');
    await signInThrough(new BrowserAgent(), `${gateway.issuer}/account/security`, 'sam', DEMO_PASSWORD);
    const { agent: admin } = await signInToConsole(gateway.issuer, 'admin');
    const page = await admin.navigate(`${gateway.issuer}/admin/users/${sam.id}`);
    const done = await submitFilled(admin, page, filledFormWithAction(page, '/sign-out'), { understood: 'yes' });
    expect(mainText(done)).toContain('Signed sam out everywhere: the 1 browser or device');
    const mail = await mailbox.next('sam@campus.test');
    expect(mail.subject).toBe('Your Atrium account was signed out everywhere');
    expect(text(mail)).toContain(
      'Your campus administrators signed your Atrium account "sam" out everywhere: every browser, device and app signed in to it was signed out, and its open chats were closed.',
    );
    expect(text(mail)).toContain('Your password is unchanged: sign in again with it.');
    expect(text(mail)).toContain('If you asked your campus helpdesk for this, there is nothing more to do.');
    expectNoticeShape(mail, 'Test sam');
    expect(text(mail)).not.toMatch(/\badmin\b/);

    // Their own button on the account page tells them nothing they did not just do.
    const own = await addPerson(gateway, 'sol');
    await signOutOwnSessions(asThemselves(), own);
    expect(await mailsTo('sol@campus.test')).toHaveLength(0);
  });

  it('mails nothing for an account without an email, nor for a change that was refused', async () => {
    const ivo = await addPerson(gateway, 'ivo');
    await gateway.models.User.update({ email: '' }, { where: { id: ivo.id } });
    await resetPassword(await helpdesk(), 'ivo', 'a helpdesk password 43');
    await addPerson(gateway, 'una');
    await expect(resetPassword(await helpdesk(), 'una', 'short')).rejects.toThrow();
    // A later notice has come through: the ones before it were never sent.
    await resetPassword(await helpdesk(), 'una', 'a helpdesk password 44');
    expect((await mailbox.next('una@campus.test')).subject).toBe('Your Atrium password was reset');
    expect(mailbox.received.filter((m) => m.to.includes('una@campus.test'))).toHaveLength(1);
    expect(mailbox.received.filter((m) => m.to.length === 0 || m.to.includes(''))).toHaveLength(0);
    expect(mailbox.received.some((m) => m.text.includes('"ivo"'))).toBe(false);
  });
});

/** A reset link of the person's, as "Forgot your password?" makes one (its token). */
async function resetLinkFor(userId: string): Promise<string> {
  const { token, tokenHash } = newResetToken();
  const now = new Date();
  await gateway.models.PasswordReset.create({
    tokenHash,
    userId,
    createdAt: now,
    expiresAt: new Date(now.getTime() + 600_000),
  });
  return token;
}
