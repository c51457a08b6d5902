import type { Client, KoaContextWithOIDC } from 'oidc-provider';
import { CSP, withFormTargets } from '../http/form-targets.ts';

/**
 * Where the forms of the provider's own pages lead, beyond the gateway (null: nowhere else). The sign-out
 * question, and the self-posting form that stands in for it when nobody is signed in, post to the gateway,
 * which redirects to the app's post-logout redirect URI; a response in form_post mode posts to the app's
 * redirect URI itself. Error pages have no form.
 */
function appTargets(ctx: KoaContextWithOIDC, client: Client): readonly string[] | null {
  const { route } = ctx.oidc;
  if (route === 'end_session') return ctx.status === 200 ? (client.postLogoutRedirectUris ?? []) : null;
  if (route === 'authorization' || route === 'resume')
    return ctx.oidc.params && ctx.oidc.responseMode?.startsWith('form_post') ? (client.redirectUris ?? []) : null;
  return null;
}

/** Widens the form-action of the provider's pages that lead back to the app (of one app only: the request's). */
export async function providerFormTargets(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  const client = ctx.oidc?.client;
  const policy = ctx.response.get(CSP);
  if (!client || !policy || !ctx.response.is('html')) return;
  const targets = appTargets(ctx, client);
  if (targets) ctx.set(CSP, withFormTargets(policy, targets));
}
