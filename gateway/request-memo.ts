import type { GatewayContext } from './context.ts';
import type { SharedReads } from './shared-reads.ts';

/**
 * Lookups of an OIDC provider request (the person, the app, the domain nodes), read at most once: one
 * token request asks about the same ones several times over (the account, the resource server check,
 * the token's claims). They come from what the process keeps between requests (shared-reads.ts), whose
 * counter the request reads once, at its first lookup: what changed before then is seen.
 */
export type RequestMemo = { entries(): Promise<Map<string, Promise<unknown>>> };

/** A context whose lookups are remembered (only for reads outside a transaction). */
export function withMemo(ctx: GatewayContext, reads: SharedReads): GatewayContext {
  let entries: Promise<Map<string, Promise<unknown>>> | undefined;
  return { ...ctx, memo: { entries: () => (entries ??= reads.current()) } };
}

/** `load()` once per key while nothing changed; a context without a memo always loads. A failed load is not kept. */
export async function remember<T>(ctx: GatewayContext, key: string, load: () => Promise<T>): Promise<T> {
  const memo = ctx.memo;
  if (!memo || ctx.tx) return load();
  const entries = await memo.entries();
  const known = entries.get(key) as Promise<T> | undefined;
  if (known) return known;
  const loading = load();
  entries.set(key, loading);
  loading.catch(() => {
    if (entries.get(key) === loading) entries.delete(key);
  });
  return loading;
}
