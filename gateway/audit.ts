import { UNKNOWN_DEVICE, deviceWords } from './accounts/device-words.ts';
import type { GatewayContext } from './context.ts';

export type AuditEntry = {
  action: string;
  target?: string | null;
  outcome?: 'success' | 'failure';
  details?: Record<string, unknown>;
};

/**
 * Lines of a sign-in (a password, a second step, refused or not): they also say the device it came from, in
 * the words a person knows it by, for a helpdesk and the person to tell their own sign-ins from another's.
 */
const SIGN_IN_ACTIONS = new Set(['login', 'login.second_factor']);

function detailsOf(ctx: GatewayContext, entry: AuditEntry): Record<string, unknown> | undefined {
  if (!SIGN_IN_ACTIONS.has(entry.action)) return entry.details;
  const device = deviceWords(ctx.userAgent);
  // A script's own User-Agent (or none) names no device: nothing to tell anyone by.
  return device === UNKNOWN_DEVICE ? entry.details : { ...entry.details, device };
}

/**
 * Appends one line to the audit log, inside the caller's transaction when there is one. A line that records
 * a change to a person's password, second factors or email also writes the mails that tell them, in the same
 * transaction, for the gateway to send once it commits (security-notices.ts).
 */
export async function audit(ctx: GatewayContext, entry: AuditEntry): Promise<void> {
  const actor = ctx.actor;
  const details = detailsOf(ctx, entry);
  await ctx.models.AuditEvent.create(
    {
      at: new Date(),
      actorId: actor.kind === 'user' ? actor.id : null,
      actorName: actor.kind === 'anonymous' ? null : actor.name,
      action: entry.action,
      target: entry.target ?? null,
      outcome: entry.outcome ?? 'success',
      ip: ctx.ip,
      details: details ? JSON.stringify(details) : null,
    },
    { transaction: ctx.tx },
  );
  await ctx.notices?.audited(ctx, entry);
}
