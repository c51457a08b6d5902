import type { Passkey } from '../../models/passkeys.ts';

export type PresentedPasskey = {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  synced: boolean;
  transports: string[];
};

/** What leaves the gateway about a passkey: never its key or credential id. */
export function presentPasskey(p: Passkey): PresentedPasskey {
  return {
    id: p.id,
    name: p.name,
    createdAt: p.createdAt.toISOString(),
    lastUsedAt: p.lastUsedAt?.toISOString() ?? null,
    synced: p.backedUp,
    transports: p.transports ? p.transports.split(',') : [],
  };
}
