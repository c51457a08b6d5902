import type { Request, RequestHandler, Response, Router } from 'express';
import type { GatewayContext } from '../../context.ts';
import type { AccountSection } from '../../factors/passkeys/account-routes.ts';
import type { Csrf } from '../../http/csrf.ts';
import type { User } from '../../models/index.ts';

/** What a section of the security page with forms of its own needs from the portal. */
export type SecuritySectionDeps = {
  context: (req: Request | null) => GatewayContext;
  csrf: Csrf;
  /** The active person the portal session is signed in as, if any. */
  person: (req: Request) => Promise<User | null>;
  /** A form post of the account page: signed in, then the work; an expected refusal comes back as its notice. */
  post: (
    work: (req: Request, res: Response, user: User) => Promise<string | void>,
    section?: AccountSection,
  ) => RequestHandler;
};

/**
 * The requests that draw the account's security page: its GET, and the posts that answer with the page
 * itself (a refusal shown in place). Each section of the page reads what it shows for every one of them.
 */
export function beforeSecurityPage(router: Router, locals: RequestHandler): void {
  router.get('/security', locals);
  router.post(['/security/totp', '/security/confirm', '/security/confirm/passkey', '/security/password'], locals);
}
