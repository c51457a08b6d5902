/**
 * "Try again in 3 minutes.": the wait a refusal knows (a lockout, a rate limit's window), for people,
 * rounded up to whole minutes so that nobody comes back too soon, and never "0 minutes".
 */
export function tryAgainIn(seconds: number): string {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  return `Try again in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}.`;
}
