import { z } from 'zod';

/**
 * How long a rotated secret keeps working beside the new one unless told otherwise: a day, time enough to
 * redeploy an app with the new one without a moment where it signs nobody in or its clicks fail.
 */
export const DEFAULT_GRACE_SECONDS = 24 * 60 * 60;

/** A longer overlap would leave a secret someone wanted gone usable for weeks: a rotation is not meant to. */
export const MAX_GRACE_SECONDS = 30 * 24 * 60 * 60;

/** The overlap asked for: 0 ends the old secret at once (after a leak). */
export const graceSecondsSchema = z.number().int().min(0).max(MAX_GRACE_SECONDS);

/** When a secret rotated now with `graceSeconds` stops working; null when it stops at once. */
export function graceEnd(graceSeconds: number, now = Date.now()): Date | null {
  return graceSeconds > 0 ? new Date(now + graceSeconds * 1000) : null;
}

/** The previous secret's end as the store keeps it (ISO text), if it is still to come. */
export function stillInGrace(until: unknown, now = Date.now()): until is string {
  return typeof until === 'string' && Date.parse(until) > now;
}

/**
 * A grace as operators write it (`--grace 24h`, `90m`, `0`): whole seconds, minutes, hours or days; a bare
 * number is seconds. Undefined when it cannot be read or is out of range.
 */
export function parseGrace(text: string): number | undefined {
  const match = /^(\d{1,7})\s*([smhd]?)$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2]!.toLowerCase() as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = Number(match[1]) * unit;
  return graceSecondsSchema.safeParse(seconds).success ? seconds : undefined;
}
