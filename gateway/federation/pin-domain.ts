import { fetchWithDeadlines } from '../../core/fetch-deadlines.ts';
import { verify } from 'node:crypto';
import { z } from 'zod';
import { AppError, NotFoundError } from '../../core/errors.ts';
import { readCapped } from '../../core/read-capped.ts';
import { publicKeyOf, type PublicKeyJwk } from '../../protocol/signature.ts';
import { audit } from '../audit.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import type { GatewayContext } from '../context.ts';

const jwkSchema = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  kid: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
});
const documentSchema = z.object({
  domain: z.string(),
  keys: z
    .array(
      jwkSchema.extend({ status: z.enum(['next', 'active', 'retiring']), notAfter: z.string().optional() }).strip(),
    )
    .min(1)
    .max(20),
  proof: z.array(z.object({ kid: z.string(), sig: z.string() })).min(1),
});

/** Twenty keys with their proofs fit in a few KiB; a domain's URL cannot make the gateway hold more than this. */
const KEYS_DOCUMENT_MAX_BYTES = 64 * 1024;

export class PinRefusedError extends AppError {
  constructor(message: string) {
    super('pin_refused', 409, message);
  }
}

export function pinnedKeysOf(domain: { pinnedKeys: string | null }): PublicKeyJwk[] {
  return domain.pinnedKeys ? (JSON.parse(domain.pinnedKeys) as PublicKeyJwk[]) : [];
}

/**
 * Pins a domain node's Ed25519 keys from its well-known document. The first pin trusts what the node
 * serves at its registered URL (an administrator's act); later pins accept a new key set only when the
 * document is signed by a key already pinned, so a node's own rotation is followed but a stranger at the
 * same URL is not.
 */
export async function pinDomainKeys(
  ctx: GatewayContext,
  name: string,
): Promise<{ keys: PublicKeyJwk[]; changed: boolean }> {
  const domain = await domainToPin(ctx, name);
  let raw: unknown;
  try {
    // A partner organization's domain is registered with its proxy's URL; the query tells that proxy which node.
    const response = await fetchWithDeadlines(
      `${domain.url}/.well-known/atrium/keys?domain=${encodeURIComponent(name)}`,
      {},
      5_000,
    );
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await readCapped(
      response.body as ReadableStream<Uint8Array> | null,
      KEYS_DOCUMENT_MAX_BYTES,
      () => new Error(`the keys document is larger than ${KEYS_DOCUMENT_MAX_BYTES} bytes`),
    );
    raw = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new AppError('node_unreachable', 502, `Could not read ${name}'s keys${unreadKeys(domain.url, error)}`);
  }
  return pinFrom(ctx, domain, raw);
}

/**
 * Why the keys could not be read, in words for the administrator: a node that did not answer at all
 * (fetch's "fetch failed", or nothing within the deadline) is said as such, with what the network said.
 */
function unreadKeys(url: string, error: unknown): string {
  const e = error as Error & { cause?: { message?: unknown; code?: unknown } };
  const silent = (e instanceof TypeError && e.message === 'fetch failed') || e?.name === 'TimeoutError';
  if (!silent) return ` at ${url}: ${e?.message ?? String(error)}`;
  const said = [e.cause?.message, e.cause?.code].find((s) => typeof s === 'string' && s !== '');
  const detail = typeof said === 'string' ? said : e.message;
  return `: the node at ${url} did not answer (is it running, and is the URL right?); ${detail}`;
}

/**
 * Pins a domain's keys from its keys document, as read from the node (pinDomainKeys) or, where the node
 * cannot be asked yet, built from the node's own database by a composition root that holds both (the
 * demo and the benchmarks, before their nodes start): the same checks either way.
 */
export async function pinKeysDocument(
  ctx: GatewayContext,
  name: string,
  raw: unknown,
): Promise<{ keys: PublicKeyJwk[]; changed: boolean }> {
  return pinFrom(ctx, await domainToPin(ctx, name), raw);
}

async function domainToPin(ctx: GatewayContext, name: string) {
  assertFullAdmin(ctx.actor);
  const domain = await ctx.models.Domain.findOne({ where: { name } });
  if (!domain) throw new NotFoundError(`No domain ${name}`);
  return domain;
}

async function pinFrom(
  ctx: GatewayContext,
  domain: Awaited<ReturnType<typeof domainToPin>>,
  raw: unknown,
): Promise<{ keys: PublicKeyJwk[]; changed: boolean }> {
  const { name } = domain;
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) throw new PinRefusedError(`${name} serves a malformed keys document`);
  const doc = parsed.data;
  if (doc.domain !== name) throw new PinRefusedError(`The node at ${domain.url} says it is ${doc.domain}, not ${name}`);
  const payload = Buffer.from(JSON.stringify({ domain: doc.domain, keys: (raw as { keys: unknown }).keys }));
  const signedBy = (keys: PublicKeyJwk[]) =>
    doc.proof.some((p) => {
      const key = keys.find((k) => k.kid === p.kid);
      return key !== undefined && verify(null, payload, publicKeyOf(key), Buffer.from(p.sig, 'base64url'));
    });
  const offered: PublicKeyJwk[] = doc.keys.map(({ kty, crv, x, kid }) => ({ kty, crv, x, kid }));
  if (!signedBy(offered)) throw new PinRefusedError(`${name}'s keys document is not signed by its own keys`);
  const pinned = pinnedKeysOf(domain);
  if (pinned.length > 0 && !signedBy(pinned)) {
    throw new PinRefusedError(
      `${name}'s new keys are not vouched for by a pinned key; remove the pin first if the node was rebuilt`,
    );
  }
  const changed = JSON.stringify(offered) !== JSON.stringify(pinned);
  if (changed) {
    domain.pinnedKeys = JSON.stringify(offered);
    domain.pinnedAt = new Date();
    await domain.save();
    await audit(ctx, { action: 'domain.pin', target: name, details: { kids: offered.map((k) => k.kid) } });
  }
  return { keys: offered, changed };
}

/** Forgets a domain's pinned keys (a rebuilt node with new keys must then be pinned afresh). */
export async function unpinDomain(ctx: GatewayContext, name: string): Promise<void> {
  assertFullAdmin(ctx.actor);
  const domain = await ctx.models.Domain.findOne({ where: { name } });
  if (!domain) throw new NotFoundError(`No domain ${name}`);
  domain.pinnedKeys = null;
  domain.pinnedAt = null;
  await domain.save();
  await audit(ctx, { action: 'domain.unpin', target: name });
}
