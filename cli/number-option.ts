import { UsageError, type Args } from './command.ts';

/**
 * A number option, written as digits with an optional fraction. Number() alone reads "" and " " as 0, so a
 * script's `--retire-after "$HOURS"` with HOURS unset would run with 0 instead of stopping; hex, exponents
 * and signs are refused too, as nobody means them on these options.
 */
export function numberOption(args: Args, name: string, options: { default: number; expects: string }): number {
  const raw = args.string(name);
  if (raw === undefined) return options.default;
  const written = raw.trim();
  if (!/^\d+(\.\d+)?$/.test(written))
    throw new UsageError(
      `--${name} expects ${options.expects}, such as ${options.default} (got ${JSON.stringify(raw)})`,
    );
  return Number(written);
}
