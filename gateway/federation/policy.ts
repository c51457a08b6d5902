import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { domainNameSchema } from '../accounts/schemas.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';

const pairSchema = z
  .object({ a: domainNameSchema, b: domainNameSchema })
  .refine((p) => p.a !== p.b, { message: 'two different domains', path: ['b'] });

async function orderedPair(ctx: GatewayContext, input: unknown): Promise<[string, string]> {
  const { a, b } = parseInput(pairSchema, input);
  const known = await ctx.models.Domain.findAll({ where: { name: [a, b] } });
  for (const name of [a, b]) if (!known.some((d) => d.name === name)) throw new NotFoundError(`No domain ${name}`);
  return [a, b].sort() as [string, string];
}

/** Lets two domains exchange messages and see each other's people. */
export async function allowPair(ctx: GatewayContext, input: unknown): Promise<void> {
  assertFullAdmin(ctx.actor);
  const [domainA, domainB] = await orderedPair(ctx, input);
  const [, created] = await ctx.models.FederationPair.findOrCreate({
    where: { domainA, domainB },
    defaults: { domainA, domainB, createdAt: new Date() },
  });
  if (created) await audit(ctx, { action: 'federation.allow', target: `${domainA} ${domainB}` });
}

export async function denyPair(ctx: GatewayContext, input: unknown): Promise<void> {
  assertFullAdmin(ctx.actor);
  const [domainA, domainB] = await orderedPair(ctx, input);
  const removed = await ctx.models.FederationPair.destroy({ where: { domainA, domainB } });
  if (removed > 0) await audit(ctx, { action: 'federation.deny', target: `${domainA} ${domainB}` });
}

export async function listPolicy(ctx: GatewayContext): Promise<[string, string][]> {
  const pairs = await ctx.models.FederationPair.findAll({
    order: [
      ['domainA', 'ASC'],
      ['domainB', 'ASC'],
    ],
  });
  return pairs.map((p) => [p.domainA, p.domainB]);
}

const proxySchema = z.object({
  name: z
    .string()
    .trim()
    .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'lowercase letters, digits and dashes' }),
  publicJwk: z
    .object({
      kty: z.literal('OKP'),
      crv: z.literal('Ed25519'),
      x: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
      kid: z.string().min(1).max(64),
    })
    .strip()
    .optional(),
  peerUrl: z.url({ protocol: /^https?$/ }).optional(),
});

/** Registers this organization's proxy (its key) or a peer organization's proxy (its URL). */
export async function addProxy(ctx: GatewayContext, input: unknown): Promise<void> {
  assertFullAdmin(ctx.actor);
  const data = parseInput(proxySchema, input);
  if (!data.publicJwk && !data.peerUrl)
    throw new ValidationError('A proxy needs a key or a peer URL', { publicJwk: 'give a key or a peer URL' });
  await ctx.models.FederationProxy.upsert({
    name: data.name,
    publicJwk: data.publicJwk ? JSON.stringify(data.publicJwk) : null,
    peerUrl: data.peerUrl ?? null,
    createdAt: new Date(),
  });
  await audit(ctx, {
    action: 'federation.proxy',
    target: data.name,
    details: { peerUrl: data.peerUrl, kid: data.publicJwk?.kid },
  });
}

/**
 * Takes a proxy off the gateway: this organization's proxy is refused the registry from its next request
 * (its `/readyz` says it was removed), and a peer organization's proxy is no longer a way to it. A proxy
 * whose key leaked is better given a new key (`addProxy` again with the same name).
 */
export async function removeProxy(
  ctx: GatewayContext,
  name: string,
): Promise<{ kid: string | null; peerUrl: string | null }> {
  assertFullAdmin(ctx.actor);
  return inTransaction(ctx, async (ctx) => {
    const proxy = await ctx.models.FederationProxy.findByPk(name, { transaction: ctx.tx, lock: true });
    if (!proxy) throw new NotFoundError(`No proxy ${name} is registered`);
    const kid = proxy.publicJwk ? ((JSON.parse(proxy.publicJwk) as { kid?: string }).kid ?? null) : null;
    const removed = { kid, peerUrl: proxy.peerUrl };
    await proxy.destroy({ transaction: ctx.tx });
    await audit(ctx, { action: 'federation.proxy_removed', target: name, details: removed });
    return removed;
  });
}
