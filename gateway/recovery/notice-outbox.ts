import { Op } from 'sequelize';
import { atSentenceStart, deviceWords } from '../accounts/device-words.ts';
import type { AuditEntry } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { GatewayModels } from '../models/index.ts';
import { noticeMails } from './notice-mails.ts';

/** Sent and given-up notices are kept this long (for a helpdesk asking whether one went out), then swept. */
export const KEEP_NOTICES_DAYS = 7;

/**
 * Writes the mails that tell the person of an audited change as rows of the outbox, in the change's own
 * transaction: one rolled back leaves none, one committed always has its mails waiting. Built now, from the
 * account as this transaction sees it, so that each says the time of the change and goes to the address the
 * account had then (an address changed later, by the same hand maybe, gets a notice of its own). How many.
 */
export async function writeNotices(ctx: GatewayContext, entry: AuditEntry, issuer: string): Promise<number> {
  const user = await ctx.models.User.findOne({ where: { username: entry.target ?? '' }, transaction: ctx.tx });
  if (!user) return 0;
  const at = new Date();
  const mails = noticeMails(entry, {
    user,
    actor: ctx.actor,
    at,
    device: deviceOf(ctx),
    accountPage: `${issuer}/account`,
    place: ctx.place,
  });
  if (mails.length === 0) return 0;
  await ctx.models.SecurityNotice.bulkCreate(
    mails.map((mail) => ({
      recipient: mail.to,
      subject: mail.subject,
      body: mail.text,
      action: entry.action,
      account: user.username,
      nextAt: at,
      firstTriedAt: null,
      lastError: null,
      doneAt: null,
      createdAt: at,
    })),
    { transaction: ctx.tx },
  );
  return mails.length;
}

function deviceOf(ctx: GatewayContext): string | null {
  if (!ctx.userAgent && !ctx.ip) return null;
  const device = atSentenceStart(deviceWords(ctx.userAgent));
  return ctx.ip ? `${device}, address ${ctx.ip}` : device;
}

/** Deletes the notices sent or given up on more than KEEP_NOTICES_DAYS ago. */
export async function sweepSecurityNotices(models: GatewayModels, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - KEEP_NOTICES_DAYS * 24 * 60 * 60_000);
  return models.SecurityNotice.destroy({ where: { doneAt: { [Op.lt]: cutoff } } });
}
