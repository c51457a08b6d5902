/**
 * The chat protocol's frames in both directions and its error codes: what the SDK, the portal and the
 * node import. It needs zod alone, so it runs in browsers (node:crypto stays in signature.ts).
 */
export * from './client-frames.ts';
export * from './error-codes.ts';
export * from './server-frames.ts';
