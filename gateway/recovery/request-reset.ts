import { Op } from 'sequelize';
import { z } from 'zod';
import { RateLimitedError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { RateLimiter } from '../../core/rate-limit.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import type { DirectoryResetPage } from './directory-reset.ts';
import type { Mail, Mailer } from './mailer.ts';
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
  identifier: z.string().trim().toLowerCase().min(1, { message: 'enter your username or email' }).max(254, { message: 'at most 254 characters' }),
});

/**
 * "Forgot password": mails the person a single-use link that expires. The caller's answer is the same
 * whether or not the name or address exists, is rate limited or belongs to a directory account: only
 * the mailbox's owner learns anything. The mail is sent after the answer, so sending cannot be timed.
 */
export async function requestPasswordReset(ctx: GatewayContext, deps: RecoveryDeps, input: unknown): Promise<void> {
  const { identifier } = parseInput(requestSchema, input);
  const refuse = (reason: string, target = identifier) => audit(ctx, { action: 'password_reset.request', target, outcome: 'failure', details: { reason } });

  const byIp = await deps.ipLimiter.hit(`ip:${ctx.ip ?? 'unknown'}`);
  if (!byIp.allowed) {
    await refuse('ip_rate_limited');
    throw new RateLimitedError(byIp.retryAfterSeconds, 'Too many password reset requests from your network; try again later.');
  }
  const user = await ctx.models.User.findOne({ where: { [Op.or]: [{ username: identifier }, { email: identifier }] } });
  // An unknown name counts against itself, so both paths do the same work.
  const byAccount = await deps.accountLimiter.hit(user ? `user:${user.id}` : `name:${identifier}`);
  if (!user) return refuse('unknown_account');
  if (!byAccount.allowed) return refuse('account_rate_limited', user.username);
  if (user.status !== 'active') return refuse('disabled', user.username);

  const directoryPage = await deps.directoryResetPage(user);
  if (directoryPage) {
    await audit(ctx, { action: 'password_reset.request', target: user.username, details: { directory: directoryPage } });
    return deliver(deps, directoryMail(user, directoryPage));
  }

  const { token, tokenHash } = newResetToken();
  const now = new Date();
  const expiresAt = new Date(now.getTime() + deps.ttlMinutes * 60_000);
  await inTransaction(ctx, async (ctx) => {
    await ctx.models.PasswordReset.create({ tokenHash, userId: user.id, createdAt: now, expiresAt }, { transaction: ctx.tx });
    await audit(ctx, { action: 'password_reset.request', target: user.username, details: { expiresAt: expiresAt.toISOString() } });
  });
  deliver(deps, resetMail(user, `${deps.issuer}/password/reset/${token}`, deps.ttlMinutes));
}

/** In the background, after the answer: a slow or failing mail server neither shows nor blocks the page. */
function deliver(deps: RecoveryDeps, mail: Mail): void {
  deps.mailer.send(mail).catch((err: unknown) => deps.logger.error({ err, to: mail.to }, 'sending a password reset mail failed'));
}

function resetMail(user: User, link: string, ttlMinutes: number): Mail {
  return {
    to: user.email,
    subject: 'Reset your Atrium password',
    text: [
      `Hello ${user.displayName},`,
      '',
      `someone (hopefully you) asked to reset the password of the Atrium account "${user.username}".`,
      `Open this link within ${ttlMinutes} minutes to choose a new password:`,
      '',
      link,
      '',
      'The link works once. Setting a new password signs you out everywhere.',
      'If you did not ask for this, ignore this mail: your password stays as it is.',
      '',
    ].join('\n'),
  };
}

function directoryMail(user: User, page: string): Mail {
  return {
    to: user.email,
    subject: 'Resetting your Atrium password',
    text: [
      `Hello ${user.displayName},`,
      '',
      `someone (hopefully you) asked to reset the password of the Atrium account "${user.username}".`,
      'Your password is the one of your campus directory account; Atrium cannot change it.',
      'Reset it on the directory\'s own page:',
      '',
      page,
      '',
    ].join('\n'),
  };
}
