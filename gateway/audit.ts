import type { GatewayContext } from './context.ts';

export type AuditEntry = {
  action: string;
  target?: string | null;
  outcome?: 'success' | 'failure';
  details?: Record<string, unknown>;
};

/**
 * Appends one line to the audit log, inside the caller's transaction when there is one. A line that records
 * a change to a person's password, second factors or email also writes the mails that tell them, in the same
 * transaction, for the gateway to send once it commits (security-notices.ts).
 */
export async function audit(ctx: GatewayContext, entry: AuditEntry): Promise<void> {
  const actor = ctx.actor;
  await ctx.models.AuditEvent.create(
    {
      at: new Date(),
      actorId: actor.kind === 'user' ? actor.id : null,
      actorName: actor.kind === 'anonymous' ? null : actor.name,
      action: entry.action,
      target: entry.target ?? null,
      outcome: entry.outcome ?? 'success',
      ip: ctx.ip,
      details: entry.details ? JSON.stringify(entry.details) : null,
    },
    { transaction: ctx.tx },
  );
  await ctx.notices?.audited(ctx, entry);
}
