import { AppError } from '../../core/errors.ts';
import { lastingWarnings } from '../../core/lasting-warnings.ts';
import type { Logger } from '../../core/logger.ts';
import {
  gatewayAnswered,
  gatewayAway,
  gatewayRefusal,
  warnGatewayFailure,
  type AskingUnit,
} from '../../protocol/gateway-refusal.ts';
import { signedGatewayRequest, type GatewayAsker } from '../../protocol/signature.ts';

/** The one condition all of a node's questions about apps are said under (lasting-warnings.ts). */
const CONDITION = 'app-lookups';

/** One question a node asks the gateway about an app, a client or whom an app is for. */
export type GatewayQuestion<T> = {
  path: string;
  /** What was asked, with the app or client it was about: logged with a failure. */
  fields: Record<string, unknown>;
  /** Statuses besides 2xx that answer the question (404: no such app); any other is the gateway's refusal. */
  answers?: number[];
  read(response: Response): Promise<T> | T;
  /** What the caller is told while the gateway cannot be reached. */
  unreachable: string;
};

export type GatewayLookup = <T>(question: GatewayQuestion<T>) => Promise<T>;

/**
 * Asks the gateway a node's questions about apps over signed requests. A failure (the gateway away, or
 * refusing this node, e.g. before its keys are pinned) is said as it begins, once for all of these
 * questions, every few minutes while it lasts and once as it ends (lasting-warnings.ts), never once per
 * app, client or socket; only an unexpected error carries its stack. The caller gets a retryable 503
 * `gateway_unavailable` (a refusal as GatewayRefusedError).
 */
export function createGatewayLookup(options: GatewayAsker & { logger: Logger }): GatewayLookup {
  const warnings = lastingWarnings(options.logger);
  const unit: AskingUnit = { kind: 'node', origin: options.origin };
  return async (question) => {
    let value;
    try {
      const response = await fetch(await signedGatewayRequest(options, 'GET', question.path));
      if (!response.ok && !question.answers?.includes(response.status))
        throw await gatewayRefusal(response, 'gateway_unavailable', 'app lookup', unit);
      value = await question.read(response);
    } catch (error) {
      warnGatewayFailure(warnings, CONDITION, error, { request: 'app lookup', ...question.fields });
      if (gatewayAway(error)) throw new AppError('gateway_unavailable', 503, question.unreachable);
      throw error;
    }
    gatewayAnswered(warnings, CONDITION, 'The gateway answers app lookups again');
    return value;
  };
}
