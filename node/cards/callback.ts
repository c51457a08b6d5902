import type { ReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { AppCallRefusedError, type AppCallPolicy } from '../../core/app-call-policy.ts';
import { fetchAppUrl } from '../../core/app-fetch.ts';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { readCapped } from '../../core/read-capped.ts';
import { signCallback, type CardCallback } from '../../protocol/callback-signature.ts';
import type { AppInfo } from '../bots/app-directory.ts';
import { cardSchema, type Card } from './card-schema.ts';

const CALLBACK_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 64 * 1024;

export class CallbackFailedError extends AppError {
  constructor(message: string) {
    super('callback_failed', 502, message);
  }
}

const answerSchema = z.object({ card: cardSchema.optional(), toast: z.string().trim().min(1).max(500).optional() });
export type CallbackAnswer = { card?: Card; toast?: string };

/**
 * POSTs a signed card click to the app's interaction callback URL and reads its answer: nothing (204, or
 * an empty object), a new card, and/or a short toast for the person who clicked. Anything else the app
 * does (an error status, a timeout, a bad card) fails the click, and the person is told. So does a callback
 * URL that leads to an address the node does not call (`policy`): it is not called, and the refusal is logged.
 */
export async function sendCardCallback(
  app: AppInfo,
  event: Omit<CardCallback, 'timestamp' | 'nonce'>,
  calls: { policy: AppCallPolicy; logger: Logger },
): Promise<CallbackAnswer> {
  if (!app.interactionCallbackUrl || !app.callbackSecret)
    throw new AppError('no_callback', 409, `${app.name} takes no card actions (it has no callback URL)`);
  const { body, headers } = signCallback(app.callbackSecret, event);
  let response: Response;
  try {
    response = await fetchAppUrl(
      app.interactionCallbackUrl,
      { method: 'POST', headers, body, redirect: 'error', signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS) },
      calls.policy,
    );
  } catch (error) {
    if (!(error instanceof AppCallRefusedError))
      throw new CallbackFailedError(`${app.name} could not be reached; nothing was done`);
    calls.logger.warn({ app: app.slug, reason: error.message }, 'a card callback was refused');
    throw new CallbackFailedError(
      `${app.name} cannot be called from chat: its callback URL leads to an address this node does not call (${error.range}); nothing was done`,
    );
  }
  if (!response.ok) {
    void response.body?.cancel().catch(() => undefined);
    throw new CallbackFailedError(`${app.name} refused the action (HTTP ${response.status})`);
  }
  const text = await answerText(response, app.name);
  if (!text.trim()) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CallbackFailedError(`${app.name} answered with something that is not JSON`);
  }
  const answer = answerSchema.safeParse(parsed);
  if (!answer.success) throw new CallbackFailedError(`${app.name} answered with an invalid card`);
  return answer.data;
}

/**
 * The app's answer, read no further than MAX_ANSWER_BYTES and within the click's timeout (the fetch's
 * signal also ends the body): an app cannot make the node hold more, or wait longer, by how it answers.
 */
async function answerText(response: Response, appName: string): Promise<string> {
  try {
    const bytes = await readCapped(
      response.body as ReadableStream<Uint8Array> | null,
      MAX_ANSWER_BYTES,
      () => new CallbackFailedError(`${appName} answered with too much`),
    );
    return bytes.toString('utf8');
  } catch (error) {
    if (error instanceof CallbackFailedError) throw error;
    throw new CallbackFailedError(`${appName} did not finish its answer`);
  }
}
