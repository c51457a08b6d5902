import { Op } from 'sequelize';
import { z } from 'zod';
import { RateLimitedError } from '../../core/errors.ts';
import { tryAgainIn } from '../../core/try-again.ts';
import type { Logger } from '../../core/logger.ts';
import type { RateLimiter } from '../../core/rate-limit.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext, Place } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import type { DirectoryResetPage } from './directory-reset.ts';
import { mailFailureOf, mailSignature, type Mail, type Mailer } from './mailer.ts';
import { serviceName } from '../place.ts';
import { newResetToken } from './reset-tokens.ts';

export type RecoveryDeps = {
  /** The gateway's public URL; links in mails start with it. */
  issuer: string;
  mailer: Mailer;
  ttlMinutes: number;
  /** Requests per client address, whatever they name. */
  ipLimiter: RateLimiter;
  /** Mails per account, so nobody can flood a person's inbox from many addresses. */
  accountLimiter: RateLimiter;
  directoryResetPage: DirectoryResetPage;
  logger: Logger;
};

const requestSchema = z.object({
  identifier: z
    .string()
    .trim()
    .toLowerCase()
    .min(1, { message: 'enter your username or email' })
    .max(254, { message: 'at most 254 characters' }),
});

/**
 * "Forgot password", first step: checks the form and the client address's allowance, nothing about the
 * account. The caller answers right after it, the same page whatever was entered; `mailResetLink` then
 * does everything that depends on the account, after the answer, so neither the page nor its timing
 * tells whether a name or address exists.
 */
export async function admitResetRequest(
  ctx: GatewayContext,
  deps: RecoveryDeps,
  input: unknown,
): Promise<{ identifier: string }> {
  const { identifier } = parseInput(requestSchema, input);
  const byIp = await deps.ipLimiter.hit(`ip:${ctx.ip ?? 'unknown'}`);
  if (!byIp.allowed) {
    await audit(ctx, {
      action: 'password_reset.request',
      target: identifier,
      outcome: 'failure',
      details: { reason: 'ip_rate_limited' },
    });
    throw new RateLimitedError(
      byIp.retryAfterSeconds,
      `Too many password reset requests have come from your network. ${tryAgainIn(byIp.retryAfterSeconds)}`,
    );
  }
  return { identifier };
}

/**
 * Second step: mails the person a single-use link that expires, unless the name is unknown, the account
 * was mailed too often this hour or is disabled (each audited, none told to the asker). A directory
 * person is mailed the directory's own reset page instead. A mail the mail server does not take is
 * audited and logged (sendResetMail); it resolves all the same.
 */
export async function mailResetLink(ctx: GatewayContext, deps: RecoveryDeps, identifier: string): Promise<void> {
  const refuse = (reason: string, target = identifier) =>
    audit(ctx, { action: 'password_reset.request', target, outcome: 'failure', details: { reason } });
  const user = await ctx.models.User.findOne({ where: { [Op.or]: [{ username: identifier }, { email: identifier }] } });
  const byAccount = await deps.accountLimiter.hit(user ? `user:${user.id}` : `name:${identifier}`);
  if (!user) return refuse('unknown_account');
  if (!byAccount.allowed) return refuse('account_rate_limited', user.username);
  if (user.status !== 'active') return refuse('disabled', user.username);

  const directoryPage = await deps.directoryResetPage(user);
  if (directoryPage) {
    await audit(ctx, {
      action: 'password_reset.request',
      target: user.username,
      details: { directory: directoryPage },
    });
    return sendResetMail(ctx, deps, user, directoryMail(user, directoryPage, ctx.place));
  }

  const { token, tokenHash } = newResetToken();
  const now = new Date();
  const expiresAt = new Date(now.getTime() + deps.ttlMinutes * 60_000);
  await inTransaction(ctx, async (ctx) => {
    await ctx.models.PasswordReset.create(
      { tokenHash, userId: user.id, createdAt: now, expiresAt },
      { transaction: ctx.tx },
    );
    await audit(ctx, {
      action: 'password_reset.request',
      target: user.username,
      details: { expiresAt: expiresAt.toISOString() },
    });
  });
  await sendResetMail(
    ctx,
    deps,
    user,
    resetMail(user, `${deps.issuer}/password/reset/${token}`, deps.ttlMinutes, ctx.place),
  );
}

/**
 * Mails it once, straight away: the asker waits at the screen for a link that lasts minutes, so a mail the
 * server refuses or does not answer is not tried again later (they ask again), and the link never waits in
 * a table of mails (the database keeps only its hash). The asker is told nothing either way, as the page
 * must not tell whether the account exists; the operator is: a line at `error` and, for the helpdesk, an
 * audit line with the kind of failure (mailer.ts), never the link.
 */
async function sendResetMail(ctx: GatewayContext, deps: RecoveryDeps, user: User, mail: Mail): Promise<void> {
  try {
    await deps.mailer.send(mail);
  } catch (error) {
    const failure = mailFailureOf(error);
    deps.logger.error(
      { account: user.username, ...failure, detail: (error as Error)?.message },
      'a password reset mail was not taken by the mail server; the person was not mailed',
    );
    await audit(ctx, {
      action: 'password_reset.mail_failed',
      target: user.username,
      outcome: 'failure',
      details: failure,
    });
  }
}

// One subject whether the link is Atrium's or the campus directory's page; an account without a password has
// none to reset: its link sets the first.
const RESET_SUBJECT = (service: string) => `Reset your ${service} password`;
const SET_SUBJECT = (service: string) => `Set your ${service} password`;

function resetMail(user: User, link: string, ttlMinutes: number, place: Place | undefined): Mail {
  const service = serviceName(place);
  return {
    to: user.email,
    subject: (user.passwordHash === null ? SET_SUBJECT : RESET_SUBJECT)(service),
    text: [
      `Hello ${user.displayName},`,
      '',
      user.passwordHash === null
        ? `Someone (hopefully you) asked for a link to set the password of the ${service} account "${user.username}".`
        : `Someone (hopefully you) asked to reset the password of the ${service} account "${user.username}".`,
      ...(user.passwordHash === null ? noPasswordYet(user, link, ttlMinutes) : newPassword(link, ttlMinutes)),
      '',
      ...mailSignature(place),
    ].join('\n'),
  };
}

function newPassword(link: string, ttlMinutes: number): string[] {
  return [
    `Open this link within ${ttlMinutes} minutes to choose a new password:`,
    '',
    link,
    '',
    'The link works once. Setting a new password signs you out everywhere.',
    'If you did not ask for this, ignore this mail: your password stays as it is.',
  ];
}

/** An account without a password (made with a link, or only ever signed in to with a passkey): the link sets one. */
function noPasswordYet(user: User, link: string, ttlMinutes: number): string[] {
  return [
    'The account has no password yet: this link sets one.',
    `Open it within ${ttlMinutes} minutes to choose your password:`,
    '',
    link,
    '',
    user.lastLoginAt === null
      ? 'The link works once.'
      : 'The link works once. Setting a password signs you out everywhere.',
    'If you did not ask for this, ignore this mail: the account stays without a password.',
  ];
}

function directoryMail(user: User, page: string, place: Place | undefined): Mail {
  const service = serviceName(place);
  return {
    to: user.email,
    subject: RESET_SUBJECT(service),
    text: [
      `Hello ${user.displayName},`,
      '',
      `Someone (hopefully you) asked to reset the password of the ${service} account "${user.username}".`,
      `Your password is the one of your campus directory account; ${service} cannot change it.`,
      "Reset it on the directory's own page:",
      '',
      page,
      '',
      ...mailSignature(place),
    ].join('\n'),
  };
}
