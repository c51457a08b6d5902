import type { RequestHandler, Router } from 'express';

/**
 * The requests that draw the account's security page: its GET, and the posts that answer with the page
 * itself (a refusal shown in place). Each section of the page reads what it shows for every one of them.
 */
export function beforeSecurityPage(router: Router, locals: RequestHandler): void {
  router.get('/security', locals);
  router.post(['/security/totp', '/security/confirm', '/security/confirm/passkey', '/security/password'], locals);
}
