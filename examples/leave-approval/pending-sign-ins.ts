import type { Request } from 'express';

/** How long a started sign-in may take to come back: about the time one sign-in takes. */
export const PENDING_SIGN_IN_MINUTES = 10;
/** Sign-ins one browser may have under way at once (its tabs); beyond them the oldest start is forgotten. */
export const PENDING_SIGN_INS_KEPT = 5;

/** The secrets of one sign-in this browser started: what its callback must prove it knows. */
export type PendingSignIn = { verifier: string; nonce: string; until: number };

declare module 'express-session' {
  interface SessionData {
    /**
     * The sign-ins this browser started and has not finished, by their `state`: each tab its own PKCE
     * verifier and nonce, so one tab's start does not overwrite another's.
     */
    signIns?: Record<string, PendingSignIn>;
  }
}

/** This session's sign-ins still within their time, oldest first, at most `PENDING_SIGN_INS_KEPT`. */
function live(req: Request): [string, PendingSignIn][] {
  const now = Date.now();
  return Object.entries(req.session.signIns ?? {})
    .filter(([, pending]) => typeof pending?.until === 'number' && pending.until > now)
    .sort(([, a], [, b]) => a.until - b.until)
    .slice(-PENDING_SIGN_INS_KEPT);
}

function keep(req: Request, kept: [string, PendingSignIn][]): void {
  if (kept.length > 0) req.session.signIns = Object.fromEntries(kept.slice(-PENDING_SIGN_INS_KEPT));
  else delete req.session.signIns;
}

/** Keeps a sign-in just started beside the others this browser has under way. */
export function keepSignIn(req: Request, state: string, secrets: { verifier: string; nonce: string }): void {
  const until = Date.now() + PENDING_SIGN_IN_MINUTES * 60_000;
  keep(req, [...live(req), [state, { ...secrets, until }]]);
}

/**
 * The sign-in this browser started with `state`, used up: none when the state is missing, was never
 * started here (a forged callback, or another browser's), was used already or is older than its time.
 */
export function takeSignIn(req: Request, state: unknown): PendingSignIn | undefined {
  const kept = live(req);
  const found = typeof state === 'string' ? kept.find(([known]) => known === state) : undefined;
  keep(
    req,
    kept.filter(([known]) => known !== state),
  );
  return found?.[1];
}

/**
 * Signs `user` in. Passport starts a fresh session for it (so a session id planted before the sign-in is
 * worth nothing); the sign-ins other tabs have under way are carried into it, so theirs finish too.
 */
export function logInKeepingOthers(req: Request, user: Express.User, done: (error?: unknown) => void): void {
  const others = req.session.signIns;
  req.logIn(user, (error) => {
    if (!error && others) req.session.signIns = others;
    done(error);
  });
}
