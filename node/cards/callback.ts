import type { ReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { AppCallRefusedError, type AppCallPolicy } from '../../core/app-call-policy.ts';
import { fetchAppUrl } from '../../core/app-fetch.ts';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { readCapped } from '../../core/read-capped.ts';
import { signCallback, type CardCallback } from '../../protocol/callback-signature.ts';
import type { AppInfo } from '../bots/app-directory.ts';
import { cardSchema, postedCardSchema, type Card } from './card-schema.ts';

const CALLBACK_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 64 * 1024;

export class CallbackFailedError extends AppError {
  constructor(message: string) {
    super('callback_failed', 502, message);
  }
}

/**
 * Failures of a connection before anything was sent (no address, refused, unreachable, a certificate the
 * node does not trust): only then can the clicker be told that nothing was done.
 */
const NOT_SENT = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Whether fetch failed before the request left (its cause, or each address tried, says so). */
function failedBeforeSending(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof AggregateError && cause.errors.length > 0)
    return cause.errors.every((e) => NOT_SENT.has((e as { code?: string }).code ?? ''));
  return NOT_SENT.has((cause as { code?: string } | undefined)?.code ?? '');
}

/**
 * What the clicker is told when the call got no answer. Once the request may have left, the app may have
 * acted on it (approved the leave, booked the room) though its answer never came: saying that nothing was
 * done would make the person click again, or give up on what happened.
 */
function unansweredCall(error: unknown, appName: string): CallbackFailedError {
  if (failedBeforeSending(error)) return new CallbackFailedError(`${appName} could not be reached; nothing was done`);
  const timedOut = (error as { name?: unknown } | null)?.name === 'TimeoutError';
  return new CallbackFailedError(
    timedOut
      ? `${appName} did not answer within ${CALLBACK_TIMEOUT_MS / 1000} s; it may or may not have acted on this click`
      : `${appName} gave no answer; it may or may not have acted on this click`,
  );
}

const MAX_TOAST_CHARS = 500;
const toastSchema = z.string().trim().min(1).max(MAX_TOAST_CHARS).optional();
const answerSchema = z.object({ card: cardSchema.optional(), toast: toastSchema });
/** The same answer without anything more: only to name in the log what an app answers beyond it. */
const exactAnswerSchema = z.strictObject({ card: postedCardSchema.optional(), toast: toastSchema });
export type CallbackAnswer = { card?: Card; toast?: string };

/** At most this many of an answer's problems, each this long, go into the log line about it. */
const LOGGED_ISSUES = 10;
const LOGGED_ISSUE_CHARS = 200;

/** An answer's problems as short lines for the log (`card.actions.0.id: …`), bounded whatever the app sent. */
function loggedIssues(error: z.ZodError): string[] {
  return error.issues.slice(0, LOGGED_ISSUES).map((issue) => {
    const line =
      issue.code === 'unrecognized_keys'
        ? `${issue.path.join('.') || '(answer)'}: unknown fields ${issue.keys.join(', ')}`
        : `${issue.path.join('.') || '(answer)'}: ${issue.message}`;
    return line.slice(0, LOGGED_ISSUE_CHARS);
  });
}

/**
 * The app's answer, as the clicker is told it and its developer reads it in the node's log. A wrong answer
 * fails the click, and the log (warn, with the app's slug) says what was wrong with it. Fields no answer or
 * card has are dropped rather than refused, unlike anywhere else in the API: apps answering with more
 * than a card (`{ok: true, card}`, a card's `id`) worked before, and refusing them now would fail every
 * click of theirs; the log names what was dropped instead, so their developers can see it.
 */
function readAnswer(parsed: unknown, app: AppInfo, logger: Logger): CallbackAnswer {
  const answer = answerSchema.safeParse(parsed);
  if (!answer.success) {
    const issues = loggedIssues(answer.error);
    logger.warn({ app: app.slug, issues }, 'a card callback answer was refused');
    if (answer.error.issues.some((i) => i.path.length === 0))
      throw new CallbackFailedError(`${app.name} answered with JSON that is not an object of a card and/or a toast`);
    const toastOnly = answer.error.issues.every((i) => i.path[0] === 'toast');
    const tooLong = toastOnly && answer.error.issues.some((i) => i.code === 'too_big');
    if (tooLong)
      throw new CallbackFailedError(`${app.name} answered with a toast longer than ${MAX_TOAST_CHARS} characters`);
    throw new CallbackFailedError(
      toastOnly ? `${app.name} answered with an invalid toast` : `${app.name} answered with an invalid card`,
    );
  }
  const exact = exactAnswerSchema.safeParse(parsed);
  if (!exact.success)
    logger.warn(
      { app: app.slug, issues: loggedIssues(exact.error) },
      'a card callback answer had fields it does not take; they were dropped',
    );
  return answer.data;
}

/**
 * The secrets a click is signed with: the app's callback secret, and while a rotation's grace lasts the one
 * it replaced (the gateway says until when; the node checks it at each click, since it keeps what it read).
 */
function callbackSecretsOf(app: AppInfo, current: string): string[] {
  const until = app.previousCallbackSecretUntil ? Date.parse(app.previousCallbackSecretUntil) : Number.NaN;
  return app.previousCallbackSecret && until > Date.now() ? [current, app.previousCallbackSecret] : [current];
}

/**
 * POSTs a signed card click to the app's interaction callback URL and reads its answer: nothing (204, or
 * an empty object), a new card, and/or a short toast for the person who clicked. Anything else the app
 * does (an error status, a timeout, a bad card) fails the click, and the person is told (a timeout, or a
 * connection lost once the request may have left, as maybe acted on: unansweredCall). So does a callback
 * URL that leads to an address the node does not call (`policy`): it is not called, and the refusal is logged.
 */
export async function sendCardCallback(
  app: AppInfo,
  event: Omit<CardCallback, 'timestamp' | 'nonce'>,
  calls: { policy: AppCallPolicy; logger: Logger },
): Promise<CallbackAnswer> {
  if (!app.interactionCallbackUrl || !app.callbackSecret)
    throw new AppError('no_callback', 409, `${app.name} takes no card actions (it has no callback URL)`);
  const { body, headers } = signCallback(callbackSecretsOf(app, app.callbackSecret), event);
  let response: Response;
  try {
    response = await fetchAppUrl(
      app.interactionCallbackUrl,
      { method: 'POST', headers, body, redirect: 'error', signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS) },
      calls.policy,
    );
  } catch (error) {
    if (!(error instanceof AppCallRefusedError)) throw unansweredCall(error, app.name);
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
  return readAnswer(parsed, app, calls.logger);
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
