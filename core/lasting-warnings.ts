import type { Logger } from './logger.ts';

/** How often a condition that lasts is said again at `warn` while it lasts. */
export const REPEAT_WARNING_MS = 5 * 60_000;

/**
 * Warnings about conditions that may last (the gateway away, or refusing this unit's requests), which
 * jobs retrying every few seconds would otherwise say at every try: each condition is said at `warn` when
 * it begins or its message changes, again every REPEAT_WARNING_MS while it lasts, and at `debug` in
 * between; its end is said once, at `info`.
 */
export type LastingWarnings = {
  warn(condition: string, fields: Record<string, unknown>, message: string): void;
  /** The condition is over: said with `message` if it had been warned of, forgotten either way. */
  over(condition: string, message: string): void;
};

// One set per logger, so that parts of a unit that meet the same condition (the registry and the
// ended-sessions poll, both refused by the gateway) say it once between them.
const shared = new WeakMap<Logger, LastingWarnings>();

export function lastingWarnings(logger: Logger, now: () => number = Date.now): LastingWarnings {
  let warnings = shared.get(logger);
  if (!warnings) {
    warnings = createLastingWarnings(logger, now);
    shared.set(logger, warnings);
  }
  return warnings;
}

function createLastingWarnings(logger: Logger, now: () => number): LastingWarnings {
  const lasting = new Map<string, { message: string; warnedAt: number }>();
  return {
    warn(condition, fields, message) {
      const known = lasting.get(condition);
      if (known?.message === message && now() - known.warnedAt < REPEAT_WARNING_MS) {
        logger.debug(fields, message);
        return;
      }
      lasting.set(condition, { message, warnedAt: now() });
      logger.warn(fields, message);
    },
    over(condition, message) {
      if (lasting.delete(condition)) logger.info(message);
    },
  };
}
