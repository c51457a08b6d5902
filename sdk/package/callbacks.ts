import type { Card } from '../types.ts';

/**
 * `@atrium/sdk/callbacks`: what an app's interaction callback URL needs: the verifier of a click, why it
 * refuses one, and the shapes of the click and of the answer (docs/protocol.md, "Cards").
 */
export {
  CallbackRejected,
  type CallbackVerifierOptions,
  type CardCallback,
  createCallbackVerifier,
  memoryNonceStore,
  type NonceStore,
} from '../../protocol/verify-callback.ts';
export type { Card } from '../types.ts';

/**
 * What the app answers to a click, within 10 s: `card` replaces the card for everyone in the conversation,
 * `toast` (at most 500 characters) is shown to the one who clicked; `{}` shows nothing.
 */
export type CallbackAnswer = { card?: Card; toast?: string };
