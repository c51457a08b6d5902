import type { RequestHandler } from 'express';
import type Provider from 'oidc-provider';

export const CSP = 'Content-Security-Policy';

/** Where a gateway page's forms may post: the gateway itself, unless the page says otherwise. */
export const OWN_FORM_TARGETS = "form-action 'self'";

/** The http(s) origins of `urls`, each once; anything else (a custom scheme, a bad URL) names no origin. */
export function originsOf(urls: readonly string[]): string[] {
  const origins = new Set<string>();
  for (const url of urls) {
    const parsed = URL.parse(url);
    if (parsed && (parsed.protocol === 'https:' || parsed.protocol === 'http:')) origins.add(parsed.origin);
  }
  return [...origins];
}

/**
 * `policy` with its form-action widened from the gateway to the origins of `urls` as well, every other
 * directive as it was (a script hash the provider added to a page of its own included). Chrome applies
 * form-action to every redirect that follows a form's post, so a page whose post ends at an app's
 * redirect URI must name that app's origin, or the person is stopped at the gateway.
 */
export function withFormTargets(policy: string, urls: readonly string[]): string {
  const formAction = [OWN_FORM_TARGETS, ...originsOf(urls)].join(' ');
  const directives = policy
    .split(';')
    .map((directive) => directive.trim())
    .filter((directive) => directive && !/^form-action(\s|$)/i.test(directive));
  return [...directives, formAction].join('; ');
}

/**
 * The sign-in's pages (password, second factor, setting one up, consent, "not available to you"): each
 * post of theirs may end, through the provider's redirects, at the redirect URI of the app the sign-in is
 * for, with a code or an error. Their forms may post to the origins of that one app's registered redirect
 * URIs, and nowhere else. The uid in the address names the interaction: a browser that did not start it
 * is shown no form of it (it is sent to the page that says the sign-in is over).
 */
export function interactionFormTargets(provider: () => Provider): RequestHandler {
  return async (req, res, next) => {
    try {
      const uid = req.params.uid;
      const interaction = typeof uid === 'string' ? await provider().Interaction.find(uid) : undefined;
      const clientId = interaction?.params.client_id;
      const client = typeof clientId === 'string' ? await provider().Client.find(clientId) : undefined;
      const policy = res.get(CSP);
      if (client && policy) res.set(CSP, withFormTargets(policy, client.redirectUris ?? []));
      next();
    } catch (error) {
      next(error);
    }
  };
}
