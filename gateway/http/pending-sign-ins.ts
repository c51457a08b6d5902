import type { Request } from 'express';
import * as client from 'openid-client';
import { takeReturnTo, type ReturnToCheck } from './return-to.ts';

/** How long a started sign-in may take to come back: about the time one sign-in takes, as the page to go back to. */
export const PENDING_SIGN_IN_MINUTES = 10;
/** Tabs of one browser that may be signing in at once; the oldest start is forgotten beyond them. */
export const PENDING_SIGN_INS_KEPT = 5;
/**
 * How long, and how many, of a browser's sign-ins that ended (used, or out of their time) are remembered as
 * such: about as long as a tab left open may be gone back to (Back, a restored tab), so its callback is
 * told apart from one this browser never started.
 */
const ENDED_REMEMBERED_HOURS = 24;
const ENDED_KEPT = 10;

/** The secrets of one sign-in started in this browser, known by its `state`, and the page its tab asked for. */
type PendingSignIn = { verifier: string; nonce: string; until: number; returnTo?: { path: string; until: number } };
/** How a sign-in this browser started ended without a secret left: its callback taken once, or its time out. */
type EndedSignIn = { ended: 'used' | 'expired'; forgetAt: number };

declare module 'express-session' {
  interface SessionData {
    /** Portal sign-ins this browser started and has not finished, by state: each tab its own verifier and nonce. */
    portalSignIns?: Record<string, PendingSignIn>;
    /** The admin console's, kept apart from the portal's. */
    consoleSignIns?: Record<string, PendingSignIn>;
    /** How the portal's sign-ins of this browser ended, by state, for a while after (ENDED_REMEMBERED_HOURS). */
    portalSignInsEnded?: Record<string, EndedSignIn>;
    /** The admin console's. */
    consoleSignInsEnded?: Record<string, EndedSignIn>;
  }
}

/** The session key a relying party of the gateway keeps its sign-ins under way in: one per client. */
export type PendingSignInsKey = 'portalSignIns' | 'consoleSignIns';
const endedKeyOf = (key: PendingSignInsKey) => `${key}Ended` as const;

/**
 * Why a callback has no sign-in to finish: its state was never started in this browser (forged, another
 * browser's, or from a session that ended), its sign-in was used already (the page opened again), or it
 * was started more than PENDING_SIGN_IN_MINUTES ago.
 */
export type UnfinishedSignIn = 'unknown' | 'used' | 'expired';

/** Why a callback has no sign-in of this browser to finish, in the words the portal and the console say it. */
export const UNFINISHED_SIGN_IN_WORDS: Record<UnfinishedSignIn, string> = {
  unknown: 'This sign-in was not started in this browser, so it cannot be finished here. Sign in again.',
  used: 'This sign-in could not be finished: its page was opened again after it was used. Sign in again.',
  expired: `This sign-in could not be finished: it was started more than ${PENDING_SIGN_IN_MINUTES} minutes ago. Sign in again.`,
};

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

  /**
   * Keeps `kept` as the sign-ins under way; of the others, the one `used` and those out of their time are
   * remembered as ended (the oldest starts beyond PENDING_SIGN_INS_KEPT are simply forgotten).
   */
  function keep(req: Request, kept: [string, PendingSignIn][], used?: string): void {
    const now = Date.now();
    const ended: [string, EndedSignIn['ended']][] = [];
    for (const [state, pending] of Object.entries(req.session[key] ?? {})) {
      if (state === used) ended.push([state, 'used']);
      else if (!(typeof pending?.until === 'number' && pending.until > now)) ended.push([state, 'expired']);
    }
    if (ended.length) rememberEnded(req, key, ended);
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
        found?.[0],
      );
      if (!found) return undefined;
      const [, { verifier, nonce, returnTo }] = found;
      return { state: found[0], verifier, nonce, ...(returnTo ? { returnTo } : {}) };
    },

    logIn(req, user, done) {
      const othersUnderWay = req.session[key];
      // Carried across too, so the callback just used, opened again, still says it was used.
      const ended = req.session[endedKeyOf(key)];
      req.logIn(user, (err) => {
        if (!err && othersUnderWay) req.session[key] = othersUnderWay;
        if (!err && ended) req.session[endedKeyOf(key)] = ended;
        done(err);
      });
    },
  };
}

/** Remembers how the sign-ins `ended` ended, beside those remembered already: the newest ENDED_KEPT, for a while. */
function rememberEnded(req: Request, key: PendingSignInsKey, ended: [string, EndedSignIn['ended']][]): void {
  const now = Date.now();
  const forgetAt = now + ENDED_REMEMBERED_HOURS * 3_600_000;
  const all = Object.entries(req.session[endedKeyOf(key)] ?? {})
    .filter(
      ([state, mark]) => typeof mark?.forgetAt === 'number' && mark.forgetAt > now && !ended.some(([s]) => s === state),
    )
    .concat(ended.map(([state, how]): [string, EndedSignIn] => [state, { ended: how, forgetAt }]))
    .sort(([, a], [, b]) => a.forgetAt - b.forgetAt);
  req.session[endedKeyOf(key)] = Object.fromEntries(all.slice(-ENDED_KEPT));
}

/**
 * Why the callback with `state` found no sign-in of this browser to finish (its take gave none), for a page
 * that says so: a state never started here, or one whose sign-in was used already or ran out of its time.
 */
export function whyUnfinished(req: Request, key: PendingSignInsKey, state: unknown): UnfinishedSignIn {
  if (typeof state !== 'string') return 'unknown';
  const marks = req.session[endedKeyOf(key)] ?? {};
  const mark = Object.hasOwn(marks, state) ? marks[state] : undefined;
  return typeof mark?.forgetAt === 'number' && mark.forgetAt > Date.now() ? mark.ended : 'unknown';
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
