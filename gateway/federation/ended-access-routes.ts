import { Router, type Request } from 'express';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { GatewayContext } from '../context.ts';
import { ACCOUNT_DELETED, concerns, endedAccessAfter, LEFT_DOMAIN } from '../oidc/ended-access.ts';
import { campusNode } from './campus-node.ts';

const querySchema = z.object({
  after: z.coerce.number().int().min(0).default(0),
  /** The node knows entries of kind `app`; one that does not would refuse the whole page for them. */
  apps: z.literal('1').optional(),
});

/**
 * The ended sessions and people, for the campus's domain nodes (signed requests of pinned nodes that serve
 * a unit; a partner organization's node is refused: the campus people's sessions are none of its business).
 * A node fetches from 0 when it starts and then from its cursor, so one that was down when the gateway
 * pushed an entry still learns it (docs/protocol.md, "Node-to-gateway"). Entries of changed apps (kind
 * `app`) go only to a node that asks for them (`apps=1`).
 */
export function endedAccessRoutes(context: (req: Request) => GatewayContext, keepSeconds: number): Router {
  const router = Router();
  router.get('/federation/v1/ended-access', async (req, res) => {
    const ctx = context(req);
    const origin = await campusNode(ctx, req, 'read the ended sessions');
    const { after, apps } = parseInput(querySchema, req.query);
    const page = await endedAccessAfter(ctx, after, keepSeconds);
    // An entry of one domain (a person moved off its units) is that domain's alone.
    const entries = page.entries.filter((entry) => concerns(entry, origin) && (apps || entry.kind !== 'app'));
    res.set('Cache-Control', 'no-store').json({
      entries: entries.map(({ kind, subject, endedAt, keepUntil, domain, clientId, deletedAddresses }) => ({
        kind,
        subject,
        endedAt,
        keepUntil,
        ...(domain !== null && { reason: LEFT_DOMAIN }),
        ...(clientId !== null && { clientId }),
        ...(deletedAddresses !== null && { reason: ACCOUNT_DELETED, addresses: deletedAddresses }),
      })),
      cursor: page.cursor,
      more: page.more,
    });
  });
  return router;
}
