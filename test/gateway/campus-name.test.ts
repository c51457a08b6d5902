import { Secret, TOTP, URI } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPerson, enrolAuthenticator, type TestGateway } from '../helpers/gateway.ts';
import type { Mailbox, ReceivedMail } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { createUserWithLink } from '../../gateway/accounts/new-account-link.ts';
import { resetPassword } from '../../gateway/accounts/update-user.ts';
import { WEAK_PASSWORD_REASONS } from '../../gateway/accounts/weak-passwords.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { operator, type GatewayContext, type Place } from '../../gateway/context.ts';
import { checkTotpCode, totpDeps } from '../../gateway/factors/totp.ts';
import { smtpMailer } from '../../gateway/recovery/mailer.ts';
import { noticeMails } from '../../gateway/recovery/notice-mails.ts';
import { createViewEngine, renderPage } from '../../gateway/views.ts';
import { ConfigError } from '../../core/errors.ts';

/**
 * People read the institution's name (CAMPUS_NAME) where they were shown only the gateway's host: in the
 * mails they get, on the sign-in page, in their authenticator app; and a password made of that name, or of
 * the gateway's host, is refused as the first thing a guesser tries.
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;

const CAMPUS = 'Northfield University';
const FROM = 'Northfield IT <no-reply@campus.test>';
const text = (mail: ReceivedMail) => mail.text.replace(/\r\n/g, '\n');

/** The gateway's context as the gateway makes it with CAMPUS_NAME set, acting as an administrator. */
const named = (place: Partial<Place> = {}): GatewayContext => ({
  ...gateway.context(null),
  actor: operator('admin'),
  place: { issuer: gateway.issuer, campusName: CAMPUS, ...place },
});

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('campus-name', { MAIL_FROM: FROM }));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('CAMPUS_NAME', () => {
  const env = { ATRIUM_SECRET_KEY: 'k'.repeat(32), ATRIUM_COOKIE_KEYS: 'c'.repeat(32), GATEWAY_PORT: '4000' };
  const problemsOf = (value: string) => {
    try {
      loadGatewayConfig({ ...env, CAMPUS_NAME: value });
    } catch (error) {
      return (error as ConfigError).problems;
    }
    return [];
  };

  it('is read, trimmed, and absent when unset or empty', () => {
    expect(loadGatewayConfig({ ...env, CAMPUS_NAME: '  Northfield University ' }).campusName).toBe(CAMPUS);
    expect(loadGatewayConfig(env).campusName).toBeUndefined();
    expect(loadGatewayConfig({ ...env, CAMPUS_NAME: '' }).campusName).toBeUndefined();
  });

  it('refuses at startup a name on two lines, with control characters, blank or too long', () => {
    expect(problemsOf('Northfield\nUniversity')).toEqual([
      'CAMPUS_NAME: expected one line of text, without control characters (line breaks, tabs, direction overrides)',
    ]);
    expect(problemsOf('Northfield\u202EUniversity')[0]).toMatch(/^CAMPUS_NAME: expected one line of text/);
    expect(problemsOf('   ')[0]).toMatch(/^CAMPUS_NAME: expected the name of the campus/);
    expect(problemsOf('N'.repeat(81))).toEqual([
      'CAMPUS_NAME: at most 80 characters: it heads the sign-in page and mail subjects',
    ]);
    expect(problemsOf('N'.repeat(80))).toEqual([]);
  });
});

describe('mail names the campus', () => {
  it("a new account's welcome mail, as the mail server received it", async () => {
    const { mailed } = await createUserWithLink(
      named(),
      { issuer: gateway.issuer, mailer: smtpMailer(mailbox.url, FROM) },
      {
        username: 'wren',
        displayName: 'Wren Wade',
        email: 'wren@campus.test',
        units: ['campus/eng/cs'],
        roles: ['student'],
      },
    );
    expect(mailed).toBe(true);
    const mail = await mailbox.next('wren@campus.test');
    expect(mail.subject).toBe('Your Northfield University account: choose your password');
    expect(text(mail)).toContain(
      'Your campus administrators at Northfield University made an account for you. Your username is "wren".',
    );
    expect(text(mail)).toContain(`\n-- \nNorthfield University\n${gateway.issuer}\n`);
    expect(text(mail)).not.toContain('Atrium');
  });

  it('says the host, as before, where no name is set', async () => {
    await createUserWithLink(
      { ...named(), place: { issuer: gateway.issuer } },
      { issuer: gateway.issuer, mailer: smtpMailer(mailbox.url, FROM) },
      {
        username: 'yael',
        displayName: 'Yael Young',
        email: 'yael@campus.test',
        units: ['campus/eng/cs'],
        roles: ['student'],
      },
    );
    const mail = await mailbox.next('yael@campus.test');
    expect(mail.subject).toBe('Your Atrium account: choose your password');
    expect(text(mail)).toContain(
      `Your campus administrators at ${new URL(gateway.issuer).host} made an Atrium account`,
    );
    expect(text(mail)).not.toContain('\n-- \n');
  });

  it('a security notice, in its subject, its words and its signature', async () => {
    const facts = {
      user: { id: 'u1', username: 'pat', displayName: 'Pat Price', email: 'pat@campus.test' },
      actor: operator('helpdesk'),
      at: new Date('2026-12-07T10:52:00Z'),
      device: null,
      accountPage: `${gateway.issuer}/account`,
    };
    const entry = { action: 'user.reset_password', target: 'pat' };
    const [notice] = noticeMails(entry, { ...facts, place: { issuer: gateway.issuer, campusName: CAMPUS } });
    await smtpMailer(mailbox.url, FROM).send(notice!);
    const mail = await mailbox.next('pat@campus.test');
    expect(mail.subject).toBe('Your Northfield University password was reset');
    expect(text(mail)).toContain('set a new password for your Northfield University account "pat".');
    expect(text(mail)).toContain('Northfield University never asks for your password by mail.');
    expect(text(mail)).toContain(`\n-- \nNorthfield University\n${gateway.issuer}\n`);
    const [unnamed] = noticeMails(entry, facts);
    expect(unnamed!.subject).toBe('Your Atrium password was reset');
    expect(unnamed!.text).not.toContain('\n-- \n');
  });
});

describe('the sign-in page', () => {
  it("says the campus's name in its heading, brand and title", async () => {
    const page = await renderPage(createViewEngine(), 'login', { title: 'Sign in', uid: 'x', campusName: CAMPUS });
    expect(page).toContain('<h1>Sign in to Northfield University</h1>');
    expect(page).toContain('<p class="brand">Northfield University</p>');
    expect(page).toContain('<title>Sign in · Northfield University</title>');
  });

  it('stays as before without one', async () => {
    const page = await renderPage(createViewEngine(), 'login', { title: 'Sign in', uid: 'x' });
    expect(page).toContain('<h1>Sign in</h1>');
    expect(page).toContain('<title>Sign in · Atrium</title>');
  });
});

describe('a password made of the place is refused', () => {
  const refusal = (ctx: GatewayContext, password: string) =>
    resetPassword(ctx, 'quinn', password).then(
      () => null,
      (error: { fields?: Record<string, string> }) => error.fields?.password,
    );

  beforeAll(() => addPerson(gateway, 'quinn'));

  it("the campus's name, however decorated", async () => {
    expect(await refusal(named(), 'Northfield2026!')).toBe(WEAK_PASSWORD_REASONS.place);
    expect(await refusal(named(), 'n0rthf1eld-university')).toBe(WEAK_PASSWORD_REASONS.place);
  });

  it("the gateway's host labels, generic ones aside", async () => {
    const ctx = named({ issuer: 'https://id.harbourview.edu', campusName: undefined });
    expect(await refusal(ctx, 'Harbourview#77')).toBe(WEAK_PASSWORD_REASONS.place);
  });

  it('while a passphrase that merely contains them is taken', async () => {
    expect(await refusal(named(), 'northfield kettles hum at dawn')).toBeNull();
  });
});

describe('the authenticator app', () => {
  /** The issuer and account name an app reads from the otpauth:// address (the label splits at a colon). */
  const shown = (issuer: string, campusName?: string) => {
    const deps = totpDeps(gateway.config.secretKey, issuer, campusName);
    const uri = new TOTP({ issuer: deps.issuerLabel, label: 'ada', secret: new Secret() }).toString();
    const label = decodeURIComponent(new URL(uri).pathname.slice(1));
    return { label, parsed: URI.parse(uri) as TOTP };
  };

  it("lists new setups under the campus's name", () => {
    const { label, parsed } = shown(gateway.issuer, CAMPUS);
    expect(label).toBe('Northfield University:ada');
    expect(parsed.issuer).toBe(CAMPUS);
  });

  it('puts no colon of an IPv6 issuer into the label', () => {
    const { label, parsed } = shown('http://[::1]:3000');
    expect(label).toBe('Atrium --1 port 3000:ada');
    expect(parsed.label).toBe('ada');
    expect(shown('http://[2001:db8::5]').label).toBe('Atrium 2001-db8--5:ada');
  });

  it('keeps signing in an app set up under the host name', async () => {
    await addPerson(gateway, 'olga');
    const secret = await enrolAuthenticator(gateway, 'olga');
    const user = (await gateway.models.User.findOne({ where: { username: 'olga' } }))!;
    // The next step's code: the setup just spent the current one.
    const code = TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + 30_000 });
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer, CAMPUS);
    expect(await checkTotpCode(gateway.context(null), deps, user, code)).toBe(true);
  });
});
