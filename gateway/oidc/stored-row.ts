import type { AdapterPayload } from 'oidc-provider';

/** One row of the provider's store as a query hands it back. */
export type StoredRow = { payload: string; consumed_at: Date | string | null };

/** The provider's payload of a row, with its consumed mark in the provider's form (seconds). */
export function decodeRow(row: StoredRow | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  if (!row.consumed_at) return payload;
  // MariaDB hands a Date, SQLite the stored text.
  const consumedAt = row.consumed_at instanceof Date ? row.consumed_at : new Date(row.consumed_at);
  return { ...payload, consumed: Math.floor(consumedAt.getTime() / 1000) };
}
