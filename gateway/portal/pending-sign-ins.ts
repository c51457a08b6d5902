import type { Request } from 'express';
import * as client from 'openid-client';

/** How long a started sign-in may take to come back: about the time one sign-in takes, as the page to go back to. */
export const PENDING_SIGN_IN_MINUTES = 10;
/** Tabs of one browser that may be signing in at once; the oldest start is forgotten beyond them. */
export const PENDING_SIGN_INS_KEPT = 5;

/** The secrets of one sign-in started in this browser, known by its `state`. */
type PendingSignIn = { verifier: string; nonce: string; until: number };

declare module 'express-session' {
  interface SessionData {
    /** Sign-ins this browser started and has not finished, by state: each tab its own verifier and nonce. */
    portalSignIns?: Record<string, PendingSignIn>;
  }
}

/** What a callback needs to finish the sign-in it answers. */
export type StartedSignIn = { state: string; verifier: string; nonce: string };

/** The sign-ins of this session still in their time, newest last, at most `PENDING_SIGN_INS_KEPT`. */
function live(req: Request): [string, PendingSignIn][] {
  const now = Date.now();
  return Object.entries(req.session.portalSignIns ?? {})
    .filter(([, pending]) => typeof pending?.until === 'number' && pending.until > now)
    .sort(([, a], [, b]) => a.until - b.until)
    .slice(-PENDING_SIGN_INS_KEPT);
}

/**
 * Starts a sign-in beside any other this browser has under way (several tabs restored at once), and returns
 * the gateway's authorization URL for it. Its state, verifier and nonce are its own, so one tab's start no
 * longer overwrites another's.
 */
export async function startSignIn(
  req: Request,
  config: client.Configuration,
  request: { redirectUri: string; scope: string; resource: string[]; prompt: string },
): Promise<URL> {
  const state = client.randomState();
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const params = new URLSearchParams({
    redirect_uri: request.redirectUri,
    scope: request.scope,
    prompt: request.prompt,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  for (const resource of request.resource) params.append('resource', resource);
  const kept = live(req);
  kept.push([state, { verifier, nonce, until: Date.now() + PENDING_SIGN_IN_MINUTES * 60_000 }]);
  req.session.portalSignIns = Object.fromEntries(kept.slice(-PENDING_SIGN_INS_KEPT));
  return client.buildAuthorizationUrl(config, params);
}

/**
 * The sign-in this browser started with `state`, used once; none when the state is missing, was never started
 * here (a forged or another browser's callback) or is older than its ten minutes.
 */
export function takeSignIn(req: Request, state: unknown): StartedSignIn | undefined {
  const kept = live(req);
  const found = typeof state === 'string' ? kept.find(([key]) => key === state) : undefined;
  const rest = kept.filter(([key]) => key !== state);
  if (rest.length) req.session.portalSignIns = Object.fromEntries(rest);
  else delete req.session.portalSignIns;
  return found ? { state: found[0], verifier: found[1].verifier, nonce: found[1].nonce } : undefined;
}
