import { ValidationError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import type { Logger } from '../../core/logger.ts';
import {
  mailFailureOf,
  mailSignature,
  sendWithin,
  type Mail,
  type MailFailure,
  type Mailer,
} from '../recovery/mailer.ts';
import { placeName, serviceName } from '../place.ts';
import { newResetToken } from '../recovery/reset-tokens.ts';
import { inTransaction } from '../transaction.ts';
import { secondFactorRequired } from '../factors/policy.ts';
import { noticeTime } from '../recovery/notice-mails.ts';
import { createUser } from './create-user.ts';

/**
 * What mailing a new person their set-password link needs: only where the gateway has SMTP (SMTP_URL). With a
 * `logger`, a link the mail server did not take is logged as well as audited.
 */
export type NewAccountMail = { issuer: string; mailer: Mailer; logger?: Logger };

/**
 * How long the administrator's page waits for the mail server to take the link. A mail server that is up
 * takes a mail in a second or two; one that accepts and stays silent would otherwise hold the console for
 * the mailer's own timeouts (mailer.ts, a minute and more). The send is then ended, and the administrator
 * told the link was not mailed, which is then true: they set a password, or the person asks for a link.
 * Not through the outbox of security notices: that keeps a mail's text, and this one's link must exist
 * only as its hash.
 */
export const NEW_ACCOUNT_MAIL_WAIT_MS = 10_000;

/**
 * How long a new account's link works. Longer than a forgotten-password link (PASSWORD_RESET_TTL_MINUTES,
 * 30 by default), whose asker waits at the screen: a new person reads the mail when they read it, often
 * days later (an account made on Friday for Monday). The account has no password yet, so nothing else is
 * exposed meanwhile, and past three days the link stops lying usable in an inbox; an expired one is no dead
 * end, since "Forgot your password?" mails a fresh link to an account without a password too.
 */
export const NEW_ACCOUNT_LINK_HOURS = 72;

export type LinkedUser = { user: User; expiresAt: Date; mailed: boolean };

/**
 * Creates an account without a password and mails the person a single-use link to choose one (the
 * password reset page spends it). The account and its link are one transaction; the mail goes after it
 * commits, so a slow mail server holds no lock, and one that refuses it, or does not take it within
 * NEW_ACCOUNT_MAIL_WAIT_MS, leaves the account, which the administrator is told of (`mailed: false`) and
 * can give a password instead. Such a link is audited as not mailed, with the kind of failure (mailer.ts),
 * and shows in the person's account activity.
 */
export async function createUserWithLink(
  ctx: GatewayContext,
  deps: NewAccountMail,
  input: Record<string, unknown>,
): Promise<LinkedUser> {
  const created = await inTransaction(ctx, async (ctx) => {
    const user = await createUser(ctx, { ...input, password: undefined }).catch((error: unknown) => {
      throw withEmailNeeded(error, input.email);
    });
    return { user, ...(await makeWelcomeLink(ctx, user)) };
  });
  const mailed = await mailWelcome(ctx, deps, created.user, created);
  return { user: created.user, expiresAt: created.expiresAt, mailed: mailed === null };
}

/** A welcome's link, stored only as its hash, and audited as a new account's; in the caller's transaction. */
async function makeWelcomeLink(ctx: GatewayContext, user: User): Promise<{ token: string; expiresAt: Date }> {
  const { token, tokenHash } = newResetToken();
  const createdAt = new Date();
  const expiresAt = new Date(createdAt.getTime() + NEW_ACCOUNT_LINK_HOURS * 3_600_000);
  await ctx.models.PasswordReset.create({ tokenHash, userId: user.id, createdAt, expiresAt }, { transaction: ctx.tx });
  await audit(ctx, {
    action: 'password_reset.request',
    target: user.username,
    details: { newAccount: true, expiresAt: expiresAt.toISOString() },
  });
  return { token, expiresAt };
}

/**
 * Mails the welcome with its link, waiting at most NEW_ACCOUNT_MAIL_WAIT_MS; null once the mail server took
 * it, else the kind of failure (mailer.ts), which is audited and logged (notMailed).
 */
async function mailWelcome(
  ctx: GatewayContext,
  deps: NewAccountMail,
  user: User,
  link: { token: string; expiresAt: Date },
): Promise<MailFailure | null> {
  const mail = newAccountMail(user, {
    link: `${deps.issuer}/password/reset/${link.token}`,
    issuer: deps.issuer,
    campusName: ctx.place?.campusName,
    expiresAt: link.expiresAt,
    secondFactor: await secondFactorRequired(ctx, user),
  });
  try {
    await sendWithin(deps.mailer, mail, NEW_ACCOUNT_MAIL_WAIT_MS);
    return null;
  } catch (error) {
    return notMailed(ctx, deps, user, error);
  }
}

/** How mailing one imported person's welcome went: `failure` null once the mail server took it. */
export type WelcomeSent = { username: string; email: string; failure: MailFailure | null };

/** At most this many welcomes are being mailed at once, as with security notices: one connection each. */
const WELCOMES_AT_ONCE = 4;

/**
 * Welcomes people just made without a password (an import, once its transaction committed) as the console
 * welcomes one: each gets their own link, in a transaction of its own, and the welcome mail. A mail the
 * mail server refuses or does not take in time is that person's alone: the others are mailed, and the
 * answer says whose was not (audited and logged as the console's).
 */
export async function welcomeNewPeople(
  ctx: GatewayContext,
  deps: NewAccountMail,
  users: User[],
  onEach?: (done: number) => void,
): Promise<WelcomeSent[]> {
  const welcomes: WelcomeSent[] = [];
  let next = 0;
  const worker = async () => {
    while (next < users.length) {
      const user = users[next++]!;
      const link = await inTransaction(ctx, (ctx) => makeWelcomeLink(ctx, user));
      welcomes.push({ username: user.username, email: user.email, failure: await mailWelcome(ctx, deps, user, link) });
      onEach?.(welcomes.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WELCOMES_AT_ONCE, users.length) }, worker));
  return welcomes.sort((a, b) => a.username.localeCompare(b.username));
}

async function notMailed(ctx: GatewayContext, deps: NewAccountMail, user: User, error: unknown): Promise<MailFailure> {
  const failure = mailFailureOf(error);
  const reason = failure.error === 'ETIMEDOUT' ? 'mail_unanswered' : 'mail_refused';
  deps.logger?.warn(
    { account: user.username, ...failure, detail: (error as Error)?.message },
    "a new account's link to set a password was not taken by the mail server",
  );
  await audit(ctx, {
    action: 'password_reset.request',
    target: user.username,
    outcome: 'failure',
    details: { newAccount: true, reason, ...failure },
  });
  return failure;
}

/** An empty email, where the link is to be mailed, says so rather than "not a valid email address". */
function withEmailNeeded(error: unknown, email: unknown): unknown {
  if (!(error instanceof ValidationError) || (typeof email === 'string' && email.trim() !== '')) return error;
  return new ValidationError(error.message, {
    ...error.fields,
    email: 'Enter their email: the link to set their password is mailed there.',
  });
}

/** What the welcome mail tells besides the person: their link, until when it works, and their first sign-in. */
type Welcome = { link: string; issuer: string; campusName?: string; expiresAt: Date; secondFactor: boolean };

/**
 * The welcome mail, read at a desk days later: who sent it (the campus by its name, CAMPUS_NAME, else the
 * gateway's host), until when the link works, where to sign in from then on, and, where the policy requires
 * a second factor, that the first sign-in stops for one, so the person has their phone or key at hand.
 */
function newAccountMail(user: User, welcome: Welcome): Mail {
  const { link, issuer, expiresAt } = welcome;
  const place = { issuer, campusName: welcome.campusName };
  const service = serviceName(place);
  return {
    to: user.email,
    subject: `Your ${service} account: choose your password`,
    text: [
      `Hello ${user.displayName},`,
      '',
      `Your campus administrators at ${placeName(place)} made ${welcome.campusName ? 'an' : 'an Atrium'} account for you. Your username is "${user.username}".`,
      `Open this link by ${noticeTime(expiresAt)} (within ${NEW_ACCOUNT_LINK_HOURS / 24} days) to choose your password:`,
      '',
      link,
      '',
      `The link works once. From then on, sign in at ${issuer}/ with your username and the password you chose: your chats and apps are there.`,
      ...(welcome.secondFactor
        ? [
            'Your campus requires a second factor for your account: at your first sign-in, after your password, you will be asked to set up an authenticator app on your phone or a passkey before going on. Have your phone or security key with you then.',
          ]
        : []),
      `If the link has expired, ask for a new one with "Forgot your password?" when signing in at ${issuer}.`,
      'If you did not expect an account, tell your campus helpdesk.',
      '',
      ...mailSignature(place),
    ].join('\n'),
  };
}
