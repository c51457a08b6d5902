import { describe, expect, it } from 'vitest';
import { sweepRule } from '../../bench/node/sweep-rule.ts';

/** The rates a sweep offers, given what each offered step acked (a fraction of the offer). */
function offered(steps: { rate: number; acked: number; exempt?: boolean; after?: boolean }[]): number[] {
  const rule = sweepRule();
  const out: number[] = [];
  for (const s of steps) {
    if (!rule.offers(Boolean(s.exempt))) continue;
    out.push(s.rate);
    rule.ran({ offered: s.rate, acksPerS: s.acked * s.rate }, s.after);
  }
  return out;
}

describe("bench:node's direct-message sweep", () => {
  it('still offers the next rate after one step falls behind, so a slow moment does not decide the best rate', () => {
    expect(
      offered([
        { rate: 5_000, acked: 1 },
        { rate: 10_000, acked: 0.83 },
        { rate: 15_000, acked: 0.7 },
        { rate: 20_000, acked: 0.5 },
        { rate: 25_000, acked: 0.4 },
      ]),
    ).toEqual([5_000, 10_000, 15_000]);
  });

  it('starts counting again after a step that keeps up, and always runs exempt rates and the steps after', () => {
    expect(
      offered([
        { rate: 10_000, acked: 0.8 },
        { rate: 15_000, acked: 0.95 },
        { rate: 20_000, acked: 0.6 },
        { rate: 25_000, acked: 0.5 },
        { rate: 30_000, acked: 0.4 },
        { rate: 10_000, acked: 1, exempt: true, after: true },
      ]),
    ).toEqual([10_000, 15_000, 20_000, 25_000, 10_000]);
  });
});
