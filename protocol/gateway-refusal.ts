import { AppError } from '../core/errors.ts';
import type { LastingWarnings } from '../core/lasting-warnings.ts';

/** Which unit asks the gateway: what to do about a refused key differs. */
export type AskingUnit = { kind: 'node' | 'proxy'; origin: string };

/** The `code` of a JSON error body (`{"error":{"code":…}}`), if the answer is one of the protocol's shape. */
export async function errorCodeOf(response: Response): Promise<string | undefined> {
  const body = (await response.json().catch(() => undefined)) as { error?: { code?: unknown } } | undefined;
  const code = body?.error?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code) ? code : undefined;
}

/** What an operator does about the gateway refusing this unit's signed requests so, if anything but wait. */
function remedy(unit: AskingUnit, code: string | undefined): string | undefined {
  if (code === 'stale_request') return "this machine's clock is more than 60 s from the gateway's: set both right";
  if (unit.kind === 'proxy' && (code === 'unknown_key' || code === 'unknown_origin'))
    return `this proxy's key is not registered at the gateway: run \`atrium proxies add ${unit.origin} --key …\` with the key the proxy printed at start`;
  if (code === 'unknown_key')
    return `this node's keys are not pinned at the gateway: run \`atrium domains pin ${unit.origin}\``;
  if (code === 'unknown_origin')
    return `the gateway does not know the domain ${unit.origin} (removed there, or never added)`;
  return undefined;
}

/**
 * The gateway refused a signed request of this unit's (`asked`: what for): its status and code, and, for a
 * refusal an operator must act on (this unit's key not pinned, its clock off), what to do. No stack is
 * logged for it: the message says all.
 */
export class GatewayRefusedError extends AppError {
  readonly gatewayStatus: number;
  readonly gatewayCode: string | undefined;
  readonly remedy: string | undefined;

  constructor(code: string, asked: string, unit: AskingUnit, gatewayStatus: number, gatewayCode: string | undefined) {
    const said = `HTTP ${gatewayStatus}${gatewayCode ? ` ${gatewayCode}` : ''}`;
    const what = remedy(unit, gatewayCode);
    super(code, 503, `The gateway refused the ${asked} request (${said})${what ? `: ${what}` : ''}`);
    this.gatewayStatus = gatewayStatus;
    this.gatewayCode = gatewayCode;
    this.remedy = what;
  }
}

/** The gateway's refusal of a request (`response`, not ok) as a GatewayRefusedError with `code` (this unit's own). */
export async function gatewayRefusal(
  response: Response,
  code: string,
  asked: string,
  unit: AskingUnit,
): Promise<GatewayRefusedError> {
  return new GatewayRefusedError(code, asked, unit, response.status, await errorCodeOf(response));
}

/**
 * Says why a request to the gateway failed, once per condition rather than at every retry
 * (lasting-warnings.ts): a refusal an operator must act on, under one condition for all of this unit's
 * requests (`gateway-remedy`); anything else under `condition`. Only an error that is neither the
 * gateway's answer nor its absence carries its stack.
 */
export function warnGatewayFailure(
  warnings: LastingWarnings,
  condition: string,
  error: unknown,
  fields: Record<string, unknown> = {},
): void {
  if (error instanceof GatewayRefusedError) {
    const said = { ...fields, status: error.gatewayStatus, code: error.gatewayCode };
    const answered = `the gateway answers HTTP ${error.gatewayStatus} ${error.gatewayCode}`;
    if (error.remedy) warnings.warn('gateway-remedy', said, `${capitalized(error.remedy)} (${answered})`);
    else warnings.warn(condition, said, error.message);
    return;
  }
  const reason = reasonOf(error);
  if (gatewayAway(error)) warnings.warn(condition, { ...fields, reason }, `The gateway cannot be reached (${reason})`);
  else warnings.warn(condition, { ...fields, err: error }, `Asking the gateway failed: ${reason}`);
}

/** fetch's own failures: the gateway down, unreachable, or too slow to answer. */
export function gatewayAway(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  return (name === 'TypeError' && message === 'fetch failed') || name === 'TimeoutError' || name === 'AbortError';
}

/**
 * Whether a request to the gateway failed as warnGatewayFailure says without a stack: the gateway away, or
 * its refusal (GatewayRefusedError, or a unit's own 503 `gateway_unavailable` said of either).
 */
export function gatewayFailure(error: unknown): boolean {
  if (error instanceof GatewayRefusedError || gatewayAway(error)) return true;
  return error instanceof AppError && error.code === 'gateway_unavailable' && error.status === 503;
}

/** An error's message with its cause's, as a log line's `reason`. */
export function reasonOf(error: unknown): string {
  const { message, cause } = (error ?? {}) as { message?: string; cause?: { message?: string } };
  return cause?.message ? `${message}: ${cause.message}` : String(message ?? error);
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The gateway answered: whatever was warned of about it, under `condition` or as a remedy, is over. */
export function gatewayAnswered(warnings: LastingWarnings, condition: string, message: string): void {
  warnings.over(condition, message);
  warnings.over('gateway-remedy', "The gateway takes this unit's requests again");
}
