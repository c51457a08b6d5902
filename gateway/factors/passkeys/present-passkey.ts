import { withoutControlCharacters } from '../../../core/control-characters.ts';
import type { Passkey } from '../../models/passkeys.ts';

export type PresentedPasskey = {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  synced: boolean;
  transports: string[];
};

/**
 * A passkey's name as pages show it. Names stored before control and bidi characters were refused
 * (registration.ts) may hold some: shown without them, as their owner typed the rest, never turned
 * around. Renaming it with what the page shows stores the name so.
 */
export function shownPasskeyName(stored: string): string {
  return withoutControlCharacters(stored) || 'Passkey';
}

/** What leaves the gateway about a passkey: never its key or credential id. */
export function presentPasskey(p: Passkey): PresentedPasskey {
  return {
    id: p.id,
    name: shownPasskeyName(p.name),
    createdAt: p.createdAt.toISOString(),
    lastUsedAt: p.lastUsedAt?.toISOString() ?? null,
    synced: p.backedUp,
    transports: p.transports ? p.transports.split(',') : [],
  };
}
