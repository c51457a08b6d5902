import type { GatewayContext } from './context.ts';

/**
 * Lookups remembered for the length of one request. One token request asks about the same person, app
 * and domain nodes several times over (the account, the resource server check, the token's claims);
 * within those milliseconds the answer is the same, so it is read once. Nothing outlives the request,
 * so a disabled account or app is seen by the very next one.
 */
export type RequestMemo = Map<string, Promise<unknown>>;

/** A context that remembers its lookups (only for reads outside a transaction). */
export function withMemo(ctx: GatewayContext): GatewayContext {
  return { ...ctx, memo: new Map() };
}

/** `load()` once per key and request; a context without a memo always loads. A failed load is not kept. */
export function remember<T>(ctx: GatewayContext, key: string, load: () => Promise<T>): Promise<T> {
  const memo = ctx.memo;
  if (!memo || ctx.tx) return load();
  const known = memo.get(key) as Promise<T> | undefined;
  if (known) return known;
  const loading = load();
  memo.set(key, loading);
  loading.catch(() => memo.delete(key));
  return loading;
}
