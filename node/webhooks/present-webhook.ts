import { addressOf } from '../../protocol/address.ts';
import type { Webhook } from './models.ts';

/** The webhook's sender address in the conversation: `hook-<id>@domain`. */
export const hookAddress = (id: string, domain: string) => addressOf(`hook-${id}`, domain);

/** A webhook as owners and admins see it; never its secret (only its hash is kept). */
export function presentWebhook(hook: Webhook, domain: string) {
  return {
    id: hook.id,
    conversationId: hook.conversationId,
    name: hook.name,
    sender: hookAddress(hook.id, domain),
    createdBy: hook.createdBy,
    // Made with a third-party (or first-party) app's token: the app made it for `createdBy`.
    createdVia: hook.clientId ? { clientId: hook.clientId, name: hook.appName ?? hook.clientId } : null,
    createdAt: hook.createdAt.toISOString(),
    revokedAt: hook.revokedAt?.toISOString() ?? null,
  };
}

export type PresentedWebhook = ReturnType<typeof presentWebhook>;
