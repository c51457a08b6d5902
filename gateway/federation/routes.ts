import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { searchTextSchema } from '../../protocol/search-query.ts';
import {
  HEADERS,
  SignatureError,
  verifyRequest,
  type PublicKeyJwk,
  type SignedRequest,
} from '../../protocol/signature.ts';
import type { GatewayContext } from '../context.ts';
import { lookUpPeople, searchPeople } from './directory-search.ts';
import { lookUpDisabledPeople } from './disabled-people.ts';
import { lookUpFormerMembers } from './former-members.ts';
import { pinDomainKeys, pinnedKeysOf } from './pin-domain.ts';
import { operator } from '../context.ts';
import { buildRegistry } from './registry.ts';

/**
 * Who signed a request to the gateway: a pinned domain node or a registered proxy. A well-formed, fresh
 * request from a name that is neither is refused as `unknown_origin` rather than as a key nobody pinned
 * (`unknown_key`, which a node whose new key is not pinned yet meets): a removed domain's node learns from
 * it that it was removed, and stops serving (node/auth/domain-standing.ts).
 */
export async function signer(ctx: GatewayContext, req: Request): Promise<{ origin: string; kind: 'domain' | 'proxy' }> {
  const [domains, proxies] = await Promise.all([ctx.models.Domain.findAll(), ctx.models.FederationProxy.findAll()]);
  const keysOf = (name: string): PublicKeyJwk[] | undefined => {
    const domain = domains.find((d) => d.name === name);
    if (domain) return pinnedKeysOf(domain);
    const proxy = proxies.find((p) => p.name === name && p.publicJwk);
    return proxy ? [JSON.parse(proxy.publicJwk!) as PublicKeyJwk] : undefined;
  };
  const { origin, destination } = verifyRegistered(
    {
      method: req.method,
      path: req.originalUrl,
      headers: req.headers,
      body: Buffer.isBuffer(req.body) ? req.body : '',
    },
    keysOf,
  );
  if (destination !== 'gateway')
    throw new AppError('wrong_destination', 401, 'This request is not addressed to the gateway');
  return { origin, kind: domains.some((d) => d.name === origin) ? 'domain' : 'proxy' };
}

/** verifyRequest, where a name that is neither a domain nor a proxy here is an unknown origin, not an unknown key. */
function verifyRegistered(signed: SignedRequest, keysOf: (name: string) => PublicKeyJwk[] | undefined) {
  try {
    return verifyRequest(signed, keysOf);
  } catch (error) {
    const claimed = signed.headers[HEADERS.origin];
    if (!(error instanceof SignatureError) || error.code !== 'unknown_key' || typeof claimed !== 'string') throw error;
    if (keysOf(claimed)) throw error;
    throw new AppError('unknown_origin', 401, `${claimed} is not a registered domain`);
  }
}

/** The most usernames one directory lookup takes (a big group's names come in a few of these). */
export const MAX_DIRECTORY_USERNAMES = 100;

const usernamesSchema = z
  .string()
  .transform((list) => [
    ...new Set(
      list
        .split(',')
        .map((u) => u.trim().toLowerCase())
        .filter(Boolean),
    ),
  ])
  .pipe(
    z
      .array(z.string().regex(/^[a-z0-9._-]{1,64}$/, { message: 'usernames are letters, digits, . _ -' }))
      .min(1)
      .max(MAX_DIRECTORY_USERNAMES),
  );

/** A search (`q`), or a lookup of named people (`usernames`, comma-separated), never both. */
const directorySchema = z
  .object({
    q: searchTextSchema(100).optional(),
    limit: z.coerce.number().int().min(1).max(50).default(20),
    usernames: usernamesSchema.optional(),
    /** The searching person's `sub`: a search finds only the apps' bots that are for them (directory-bots.ts). */
    for: z.guid({ message: "for is the searching person's sub" }).optional(),
  })
  .refine((d) => (d.q === undefined) !== (d.usernames === undefined), {
    message: 'give either q or usernames',
    path: ['q'],
  });

/** The federation endpoints of the gateway: the registry, and people search for domain nodes. */
export function federationRoutes(context: (req: Request) => GatewayContext): Router {
  const router = Router();

  router.get('/federation/v1/registry', async (req, res) => {
    const ctx = context(req);
    await signer(ctx, req);
    res.set('Cache-Control', 'no-store').json(await buildRegistry(ctx));
  });

  // A node that rotated its key asks to be re-pinned; the new key set must be vouched for by a pinned key.
  router.post('/federation/v1/repin', async (req, res) => {
    const ctx = context(req);
    const { origin, kind } = await signer(ctx, req);
    if (kind !== 'domain') throw new AppError('forbidden', 403, 'Only domain nodes ask to be re-pinned');
    const { keys } = await pinDomainKeys({ ...ctx, actor: operator(`repin:${origin}`) }, origin);
    res.json({ keys: keys.map((k) => k.kid) });
  });

  // People a domain's users may find: active accounts on the domains the policy lets it see, by their
  // names or their units' (directory-search.ts). A lookup by usernames also names deleted (`former`) and
  // disabled (`disabled`) accounts apart from the people: named as they were, never someone to start a conversation with.
  router.get('/federation/v1/directory', async (req, res) => {
    const ctx = context(req);
    const { origin, kind } = await signer(ctx, req);
    if (kind !== 'domain') throw new AppError('forbidden', 403, 'Only domain nodes search the directory');
    const query = parseInput(directorySchema, req.query);
    const asker = { origin, registry: await buildRegistry(ctx) };
    if (query.usernames === undefined) {
      const people = await searchPeople(ctx, asker, query.q ?? '', query.limit, query.for);
      return void res.set('Cache-Control', 'no-store').json({ people });
    }
    const people = await lookUpPeople(ctx, asker, query.usernames);
    const former = await lookUpFormerMembers(ctx, asker, query.usernames);
    const disabled = await lookUpDisabledPeople(ctx, asker, query.usernames);
    res.set('Cache-Control', 'no-store').json({ people, former, disabled });
  });

  return router;
}
