import { describe, expect, it } from 'vitest';
import { createSocketAllowance } from '../../node/ws/socket-allowance.ts';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("a socket's allowance", () => {
  it('lets a burst through, refuses the rest with the time until the burst is back, and counts the refused run as one strike', () => {
    const time = clock();
    const allowance = createSocketAllowance({ framesPerSecond: 50, abuseStrikes: 2 }, time.now);
    const verdicts = Array.from({ length: 80 }, () => allowance.frame());
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(50);
    const refused = verdicts.slice(50);
    expect(refused.every((v) => !v.allowed && v.retryAfterMs === 1000 && !v.close)).toBe(true);
    // Waiting as told, the whole burst goes through.
    time.advance(1000);
    expect(Array.from({ length: 50 }, () => allowance.frame()).every((v) => v.allowed)).toBe(true);
  });

  it('closes a socket that keeps sending too fast, a strike each time a frame gets through again', () => {
    const time = clock();
    const allowance = createSocketAllowance({ framesPerSecond: 50, abuseStrikes: 4 }, time.now);
    let closedAfterMs: number | undefined;
    for (let ms = 0; ms < 5_000 && closedAfterMs === undefined; ms += 5) {
      const verdict = allowance.frame();
      if (!verdict.allowed && verdict.close) closedAfterMs = ms;
      time.advance(5);
    }
    // Bursting at 200 frames a second: the burst lasts ~330 ms, then a refused run every 20 ms.
    expect(closedAfterMs).toBeGreaterThan(300);
    expect(closedAfterMs).toBeLessThan(500);
  });

  it('forgives strikes as time passes: ABUSE_STRIKES a minute', () => {
    const time = clock();
    const allowance = createSocketAllowance({ framesPerSecond: 50, abuseStrikes: 3 }, time.now);
    expect(allowance.strike()).toBe(false);
    expect(allowance.strike()).toBe(false);
    // A third strike now would close; twenty seconds later one of the two has faded.
    time.advance(20_000);
    expect(allowance.strike()).toBe(false);
    expect(allowance.strike()).toBe(true);
  });

  it('closes at once with a single strike allowed', () => {
    const allowance = createSocketAllowance({ framesPerSecond: 50, abuseStrikes: 1 }, clock().now);
    expect(allowance.strike()).toBe(true);
  });
});
