import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError, NotFoundError, RateLimitedError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import type { NodeServices } from '../context.ts';
import type { Appended } from '../messages/group-commit.ts';
import { sameSignature } from '../../protocol/callback-signature.ts';
import { creatorMayPost, revokeForCreator } from './creator-gone.ts';
import { hashSecret } from './manage-webhooks.ts';
import { hookAddress } from './present-webhook.ts';

// Strict: a field a post does not have is refused by name (`unknown field`), not dropped.
const postSchema = z.strictObject({
  text: z.string().refine((t) => t.trim().length > 0, { message: 'a message needs text' }),
});
const idempotencyKey = /^[A-Za-z0-9_-]{8,64}$/;

export class WebhookRevokedError extends AppError {
  constructor() {
    super('webhook_revoked', 410, 'This webhook was revoked');
  }
}

/**
 * A post to a webhook's URL: the secret must match (else "not found", like an unknown id), the webhook must
 * not be revoked (410), its creator must still be an owner or admin of the group (else it is revoked now,
 * 410), and each webhook may post WEBHOOK_POSTS_PER_MINUTE times a minute. The text goes
 * into the webhook's group as `hook-<id>@domain` named as the webhook. An Idempotency-Key makes a retry
 * return the first message; one not of its form is refused, not ignored.
 */
export async function postViaWebhook(
  services: NodeServices,
  id: string,
  secret: string,
  input: unknown,
  key?: string,
): Promise<Appended> {
  const hook = /^[a-f0-9]{16}$/.test(id) ? await services.apps.Webhook.findByPk(id) : null;
  if (!hook || !sameSignature(hook.secretHash, hashSecret(secret))) throw new NotFoundError('No such webhook');
  if (hook.revokedAt) throw new WebhookRevokedError();
  if (!(await creatorMayPost(services, hook))) {
    const parts = { Webhook: services.apps.Webhook, logger: services.logger };
    await revokeForCreator(parts, [hook.id], 'no longer an owner or admin of the group');
    throw new WebhookRevokedError();
  }
  const allowance = await services.apps.webhookLimiter.hit(hook.id);
  if (!allowance.allowed)
    throw new RateLimitedError(allowance.retryAfterSeconds, 'This webhook is posting too often; slow down');
  const { text } = parseInput(postSchema, input);
  // A key that is not of the form would make every retry post again, silently: refused instead.
  if (key !== undefined && !idempotencyKey.test(key))
    throw new ValidationError('The Idempotency-Key header is not usable', {
      'Idempotency-Key': '8 to 64 letters, digits, - or _, one per post (for example the id of what it is about)',
    });
  if (text.length > services.config.maxTextChars)
    throw new ValidationError('The message is too long', {
      text: `at most ${services.config.maxTextChars} characters`,
    });
  const conversation = await services.models.Conversation.findByPk(hook.conversationId);
  if (!conversation || conversation.homeDomain !== services.domain) throw new WebhookRevokedError();
  // Goes to the members it can reach, as any message into a group ordered here (policy.ts, mustReach).
  const members = (await services.members.of([hook.conversationId])).get(hook.conversationId) ?? new Set<string>();
  const { policy } = services.federation;
  await policy.assertAllowedDomains(policy.mustReach(hook.conversationId, { home: services.domain, members }));
  const sender = hookAddress(hook.id, services.domain);
  return services.committer.append({
    conversationId: hook.conversationId,
    sender,
    clientMsgId: key ?? `hook-${randomUUID()}`,
    kind: 'text',
    body: JSON.stringify({ text, senderName: hook.name, senderKind: 'webhook' }),
  });
}
