import type { Request } from 'express';
import * as client from 'openid-client';
import { takeReturnTo, type ReturnToCheck } from './return-to.ts';

/** How long a started sign-in may take to come back: about the time one sign-in takes, as the page to go back to. */
export const PENDING_SIGN_IN_MINUTES = 10;
/** Tabs of one browser that may be signing in at once; the oldest start is forgotten beyond them. */
export const PENDING_SIGN_INS_KEPT = 5;

/** The secrets of one sign-in started in this browser, known by its `state`, and the page its tab asked for. */
type PendingSignIn = { verifier: string; nonce: string; until: number; returnTo?: { path: string; until: number } };

declare module 'express-session' {
  interface SessionData {
    /** Portal sign-ins this browser started and has not finished, by state: each tab its own verifier and nonce. */
    portalSignIns?: Record<string, PendingSignIn>;
    /** The admin console's, kept apart from the portal's. */
    consoleSignIns?: Record<string, PendingSignIn>;
  }
}

/** The session key a relying party of the gateway keeps its sign-ins under way in: one per client. */
export type PendingSignInsKey = 'portalSignIns' | 'consoleSignIns';

/** What a callback needs to finish the sign-in it answers. */
export type StartedSignIn = { state: string; verifier: string; nonce: string; returnTo?: PendingSignIn['returnTo'] };

/** What the authorization request asks beyond state, PKCE and nonce. */
export type SignInRequest = { redirectUri: string; scope: string; resource?: string[]; prompt?: string };

export type PendingSignIns = {
  /**
   * Starts a sign-in beside any other this browser has under way (several tabs restored at once), and returns
   * the gateway's authorization URL for it. Its state, verifier and nonce are its own, so one tab's start does
   * not overwrite another's; so is the page its tab asked for.
   */
  start(req: Request, config: client.Configuration, request: SignInRequest): Promise<URL>;
  /**
   * The sign-in this browser started with `state`, used once; none when the state is missing, was never started
   * here (a forged or another browser's callback), was used already or is older than its ten minutes.
   */
  take(req: Request, state: unknown): StartedSignIn | undefined;
  /**
   * Signs `user` in, which renews the session: the sign-ins other tabs started are carried across, so their
   * callbacks still land signed in by this one.
   */
  logIn(req: Request, user: Express.User, done: (err?: unknown) => void): void;
};

/** The pending sign-ins of one relying party (the portal, the console), in the session under `key`. */
export function pendingSignIns(key: PendingSignInsKey): PendingSignIns {
  /** The sign-ins of this session still in their time, newest last, at most `PENDING_SIGN_INS_KEPT`. */
  function live(req: Request): [string, PendingSignIn][] {
    const now = Date.now();
    return Object.entries(req.session[key] ?? {})
      .filter(([, pending]) => typeof pending?.until === 'number' && pending.until > now)
      .sort(([, a], [, b]) => a.until - b.until)
      .slice(-PENDING_SIGN_INS_KEPT);
  }

  function keep(req: Request, kept: [string, PendingSignIn][]): void {
    if (kept.length) req.session[key] = Object.fromEntries(kept.slice(-PENDING_SIGN_INS_KEPT));
    else delete req.session[key];
  }

  return {
    async start(req, config, request) {
      const state = client.randomState();
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const params = new URLSearchParams({
        redirect_uri: request.redirectUri,
        scope: request.scope,
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      if (request.prompt) params.set('prompt', request.prompt);
      for (const resource of request.resource ?? []) params.append('resource', resource);
      const until = Date.now() + PENDING_SIGN_IN_MINUTES * 60_000;
      // Copied, not moved: a sign-in that fails or is cancelled leaves the page to the next try.
      const returnTo = req.session.returnTo;
      keep(req, [...live(req), [state, { verifier, nonce, until, ...(returnTo ? { returnTo } : {}) }]]);
      return client.buildAuthorizationUrl(config, params);
    },

    take(req, state) {
      const kept = live(req);
      const found = typeof state === 'string' ? kept.find(([known]) => known === state) : undefined;
      keep(
        req,
        kept.filter(([known]) => known !== state),
      );
      if (!found) return undefined;
      const [, { verifier, nonce, returnTo }] = found;
      return { state: found[0], verifier, nonce, ...(returnTo ? { returnTo } : {}) };
    },

    logIn(req, user, done) {
      const othersUnderWay = req.session[key];
      req.logIn(user, (err) => {
        if (!err && othersUnderWay) req.session[key] = othersUnderWay;
        done(err);
      });
    },
  };
}

/**
 * The page to go back to once the sign-in `started` succeeds: the one its own tab asked for (two tabs, two
 * pages), or where a sign-in lands by default. The page the session remembers is used up either way
 * (http/return-to.ts), so a later sign-in does not go back to it.
 */
export function takeReturnToOf(req: Request, started: StartedSignIn, check: ReturnToCheck): string {
  takeReturnTo(req, check);
  const own = started.returnTo;
  return check(typeof own?.until === 'number' && own.until > Date.now() ? own.path : undefined);
}
