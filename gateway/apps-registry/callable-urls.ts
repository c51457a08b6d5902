import { literalAddressProblem } from '../../core/app-call-policy.ts';
import { ValidationError, type FieldErrors } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';

type CalledUrls = { backchannelLogoutUri?: string | null; interactionCallbackUrl?: string | null };

/**
 * Refuses a back-channel logout or card callback URL at a literal loopback address where the operator
 * does not let the servers call this machine (APP_CALLBACKS_LOOPBACK off): it would never be called. The
 * addresses never called are refused by the schema already (calledUrlSchema).
 */
export function assertCallableUrls(ctx: GatewayContext, urls: CalledUrls): void {
  const policy = ctx.appCalls;
  if (!policy || policy.loopback) return;
  const fields: FieldErrors = {};
  for (const field of ['backchannelLogoutUri', 'interactionCallbackUrl'] as const) {
    const url = urls[field];
    const problem = url ? literalAddressProblem(url, policy) : null;
    if (problem) fields[field] = problem;
  }
  if (Object.keys(fields).length > 0) throw new ValidationError('Some fields are invalid', fields);
}
