import { createTokenBucket } from '../../core/rate-limit.ts';

/** Strikes fade at ABUSE_STRIKES a minute: only a socket that keeps misbehaving runs out of them. */
const STRIKES_FADE_SECONDS = 60;

export type FrameVerdict = { allowed: true } | { allowed: false; retryAfterMs: number; close: boolean };

/** What one socket may still send, and how much misbehaving it has left. */
export interface SocketAllowance {
  /** A frame arrived: whether to handle it; if not, when to send again and whether the socket has had enough. */
  frame(): FrameVerdict;
  /** A bad frame was refused: true once the socket has had enough. */
  strike(): boolean;
}

/**
 * What one socket may send: `framesPerSecond` frames a second, in bursts of as many, and strikes for bad
 * or refused frames that fade with time. A run of refused frames (a burst beyond the allowance, up to the
 * next frame let through) is one strike, however long: a client that sent its outbox at once and then
 * waits as told is not abusive, while one that keeps sending ignores each answer and collects a strike
 * every time a frame is let through again.
 */
export function createSocketAllowance(
  limits: { framesPerSecond: number; abuseStrikes: number },
  now: () => number = Date.now,
): SocketAllowance {
  const frames = createTokenBucket({ ratePerSecond: limits.framesPerSecond, burst: limits.framesPerSecond, now });
  // One token fewer than strikes: the strike that finds none left is the ABUSE_STRIKES-th, and closes.
  const strikes = createTokenBucket({
    ratePerSecond: limits.abuseStrikes / STRIKES_FADE_SECONDS,
    burst: limits.abuseStrikes - 1,
    now,
  });
  let refusing = false;

  const strike = () => !strikes.take().allowed;

  return {
    /** A frame arrived: whether to handle it; if not, when to send again and whether the socket has had enough. */
    frame(): FrameVerdict {
      const { allowed, retryAfterMs } = frames.take();
      if (allowed) {
        refusing = false;
        return { allowed: true };
      }
      const close = refusing ? false : strike();
      refusing = true;
      return { allowed: false, retryAfterMs, close };
    },
    /** A bad frame was refused: true once the socket has had enough. */
    strike,
  };
}
