import { describe, expect, it } from 'vitest';
import { createKeyedTokenBuckets } from '../../core/rate-limit.ts';

describe("a person's message allowance", () => {
  it('stays closed after a refusal until the time it told, so that what was refused is not overtaken', () => {
    let t = 1_000_000;
    const buckets = createKeyedTokenBuckets({ ratePerSecond: 1, burst: 5, now: () => t });
    const take = () => buckets.take('alice@eng.campus.test');
    for (let i = 0; i < 5; i++) expect(take().allowed).toBe(true);
    // The sixth is refused: come back when the whole allowance is back, in 5 s.
    expect(take()).toEqual({ allowed: false, retryAfterMs: 5000 });
    // A seventh, already on its way 1.5 s later, finds a token back but must not go before the sixth.
    t += 1500;
    expect(take()).toEqual({ allowed: false, retryAfterMs: 3500 });
    // Someone else is not held up by it.
    expect(buckets.take('bob@eng.campus.test').allowed).toBe(true);
    // Once the time told has come, the refused ones go, in their order, as far as the allowance goes.
    t += 3500;
    for (let i = 0; i < 5; i++) expect(take().allowed).toBe(true);
    expect(take().allowed).toBe(false);
  });
});
