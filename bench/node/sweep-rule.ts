/**
 * Which rates of a direct-message sweep are offered (bench/node/run.ts). A step saturates the server when
 * fewer than 90% of the offered messages are acknowledged. One saturated step may be a slow moment of the
 * shared machine (the durable stand-in's best rate swung from 12,500 to 17,800/s between full runs), and a
 * server at its capacity acks no fewer at a higher offer (the generators' in-flight cap bounds its queue),
 * so the next rate is still offered; after two saturated steps in a row, higher rates would only measure
 * the overload again, and are skipped. Steps run after the overload, and exempt rates (the latency
 * target's), are always offered; the former do not count.
 */
export const SATURATED_STEPS_TO_STOP = 2;

export const saturated = (step: { offered: number; acksPerS: number }): boolean => step.acksPerS < 0.9 * step.offered;

export type SweepRule = {
  /** Whether the next step is offered; `exempt` for a rate that always runs. */
  offers(exempt: boolean): boolean;
  /** A step ran; `after` for one run once the server was overloaded, which does not count. */
  ran(step: { offered: number; acksPerS: number }, after?: boolean): void;
};

export function sweepRule(): SweepRule {
  let inARow = 0;
  return {
    offers: (exempt) => exempt || inARow < SATURATED_STEPS_TO_STOP,
    ran(step, after = false) {
      if (!after) inARow = saturated(step) ? inARow + 1 : 0;
    },
  };
}
