import type { Request } from 'express';
import { ForbiddenError } from '../../core/errors.ts';
import { campusDomains } from '../apps-registry/app-access.ts';
import type { GatewayContext } from '../context.ts';
import { signer } from './routes.ts';

/**
 * The campus node that signed a request: a pinned domain that serves a unit of the campus. A partner
 * organization's domain is pinned too (so that its people can talk with the campus's), but serves no unit:
 * what these endpoints tell (whose sessions ended, which apps and clients exist) is the campus's own, so it
 * is refused before anything is looked up, as a proxy is. `what` says what is refused ("read the ended sessions").
 */
export async function campusNode(ctx: GatewayContext, req: Request, what: string): Promise<string> {
  const { origin, kind } = await signer(ctx, req);
  if (kind !== 'domain' || !(await campusDomains(ctx)).includes(origin)) {
    throw new ForbiddenError(
      `Only the campus's domain nodes (those serving a unit) ${what}; ${origin} is not one of them`,
    );
  }
  return origin;
}
