import type { Bus, BusEvent } from './bus.ts';

/** The bus of a single-process domain: delivery is a function call. */
export function createLocalBus(): Bus {
  let handler: ((event: BusEvent) => void) | undefined;
  return {
    async publish(event) {
      handler?.(event);
    },
    subscribe(h) {
      handler = h;
    },
    async close() {
      handler = undefined;
    },
  };
}
