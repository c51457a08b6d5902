import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { plainName } from '../../core/plain-names.ts';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { requireGroup, requireRole } from '../conversations/group-change.ts';
import { countWebhookCreation } from '../limits/person-limits.ts';
import { WEBHOOK_ROLES } from './creator-gone.ts';
import type { Webhook } from './models.ts';
import { presentWebhook, type PresentedWebhook } from './present-webhook.ts';

const conversationId = z.string().uuid({ message: 'a conversation id' });
export const createWebhookSchema = z.object({
  conversationId,
  // Shown as the sender of its posts: plain text that shows as typed (core/plain-names.ts).
  name: plainName(
    z.string().trim().min(1, { message: 'a name is required' }).max(80, { message: 'at most 80 characters' }),
  ),
});
const listSchema = z.object({ conversationId });
const revokeSchema = z.object({ webhookId: z.string().regex(/^[a-f0-9]{16}$/, { message: 'a webhook id' }) });

export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** Only the group's owner or an admin manages its webhooks, and only where the group is hosted. */
async function requireGroupAdmin(ctx: NodeContext, id: string): Promise<void> {
  const { member } = await requireGroup(ctx, id);
  requireRole(member, [...WEBHOOK_ROLES], 'Only the owner or an admin of the group manages its webhooks');
}

/**
 * Refuses a name that passes for a member's, someone's on campus or an app's (webhook-names.ts): its posts
 * show under it, and the portal's mark of a webhook is small beside a name people know.
 */
async function refuseSomeonesName(ctx: NodeContext, conversationId: string, name: string): Promise<void> {
  const members = (await ctx.members.of([conversationId])).get(conversationId) ?? new Set<string>();
  const problem = await ctx.apps.webhookNames.problemOf(name, members);
  if (problem) throw new ValidationError('Choose another name for the webhook', { name: problem });
}

/** Webhooks of a group that are not revoked. */
const activeWebhooks = (ctx: NodeContext, conversationId: string) =>
  ctx.apps.Webhook.count({ where: { conversationId, revokedAt: null } });

const tooMany = (most: number) =>
  new ConflictError(`This group has ${most} webhooks, as many as a group may have: revoke one to create another`);

/** A group has at most WEBHOOKS_PER_GROUP webhooks not revoked: each is another name posting into it. */
async function requireRoomForWebhook(ctx: NodeContext, conversationId: string): Promise<void> {
  const most = ctx.config.personLimits.webhooksPerGroup;
  if ((await activeWebhooks(ctx, conversationId)) >= most) throw tooMany(most);
}

/**
 * Creations side by side (from any process) each found room before the others were stored: counted again
 * with its own, one that finds the group past its allowance is removed again, unseen (its URL was never
 * shown), so that the group never keeps more, whichever of them were first.
 */
async function undoPastRoom(ctx: NodeContext, hook: Webhook): Promise<void> {
  const most = ctx.config.personLimits.webhooksPerGroup;
  if ((await activeWebhooks(ctx, hook.conversationId)) <= most) return;
  await hook.destroy();
  throw tooMany(most);
}

/**
 * The registered app whose token a person acts with, as the gateway says (null for the portal's): a webhook
 * it makes is its, for them, and ends with their access to it (ended-creators.ts).
 */
async function actingApp(ctx: NodeContext): Promise<{ clientId: string; appName: string } | null> {
  if (ctx.actor.kind !== 'user') return null;
  const client = await ctx.apps.directory.client(ctx.actor.clientId);
  return client.app ? { clientId: client.clientId, appName: client.app.name } : null;
}

/**
 * Creates an incoming webhook for one group: a URL whose secret part (256 random bits) is shown this once
 * and stored only as a hash. Whoever holds the URL can post text into the group, as the webhook's name,
 * for as long as its creator may manage the group's webhooks and their access lasts (creator-gone.ts,
 * ended-creators.ts); one made with an app's token, as long as their access to that app lasts too. A group has at most WEBHOOKS_PER_GROUP of them (`conflict`), and one person creates
 * at most WEBHOOK_CREATIONS_PER_HOUR an hour (`rate_limited`).
 */
export async function createWebhook(
  ctx: NodeContext,
  input: unknown,
): Promise<{ webhook: PresentedWebhook; url: string }> {
  const data = parseInput(createWebhookSchema, input);
  await requireGroupAdmin(ctx, data.conversationId);
  await refuseSomeonesName(ctx, data.conversationId, data.name);
  await requireRoomForWebhook(ctx, data.conversationId);
  const app = await actingApp(ctx);
  await countWebhookCreation(ctx);
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const hook = await ctx.apps.Webhook.create({
    id,
    conversationId: data.conversationId,
    name: data.name,
    secretHash: hashSecret(secret),
    createdBy: ctx.actor.address,
    creatorSub: ctx.actor.kind === 'user' ? ctx.actor.sub : null,
    clientId: app?.clientId ?? null,
    appName: app?.appName ?? null,
    createdAt: new Date(),
    revokedAt: null,
    revokedBy: null,
  });
  await undoPastRoom(ctx, hook);
  ctx.logger.info(
    { webhook: id, conversationId: data.conversationId, by: ctx.actor.address, clientId: app?.clientId },
    'webhook created',
  );
  return { webhook: presentWebhook(hook, ctx.domain), url: `${ctx.apps.publicUrl}/hooks/${id}/${secret}` };
}

export async function listWebhooks(ctx: NodeContext, input: unknown): Promise<PresentedWebhook[]> {
  const data = parseInput(listSchema, input);
  await requireGroupAdmin(ctx, data.conversationId);
  const hooks = await ctx.apps.Webhook.findAll({
    where: { conversationId: data.conversationId },
    order: [['createdAt', 'ASC']],
  });
  return hooks.map((h) => presentWebhook(h, ctx.domain));
}

/** Revokes a webhook for good: its URL is refused (410) from now on. Revoking twice changes nothing. */
export async function revokeWebhook(ctx: NodeContext, input: unknown): Promise<PresentedWebhook> {
  const { webhookId } = parseInput(revokeSchema, input);
  const hook = await ctx.apps.Webhook.findByPk(webhookId);
  if (!hook) throw new NotFoundError('No such webhook');
  await requireGroupAdmin(ctx, hook.conversationId);
  if (!hook.revokedAt) {
    hook.revokedAt = new Date();
    hook.revokedBy = ctx.actor.address;
    await hook.save();
    ctx.logger.info({ webhook: hook.id, by: ctx.actor.address }, 'webhook revoked');
  }
  return presentWebhook(hook, ctx.domain);
}
