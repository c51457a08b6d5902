export type PresenceStatus = 'online' | 'away' | 'offline';
export type Presence = { address: string; status: PresenceStatus; lastSeen: string | null };

/**
 * Where a domain keeps who is connected. Each process reports its own connections; the status of an
 * address is the best across all processes (online > away > offline).
 */
export interface PresenceStore {
  /** Records this process's view of an address; returns the domain-wide presence afterwards. */
  report(address: string, status: PresenceStatus): Promise<Presence>;
  get(addresses: string[]): Promise<Presence[]>;
  /** Forgets everything this process reported (shutdown). */
  clear(): Promise<void>;
}

const rank: Record<PresenceStatus, number> = { offline: 0, away: 1, online: 2 };

export function bestStatus(statuses: PresenceStatus[]): PresenceStatus {
  return statuses.reduce<PresenceStatus>((best, s) => (rank[s] > rank[best] ? s : best), 'offline');
}

/** Presence for a single-process domain. */
export function createLocalPresence(): PresenceStore {
  const state = new Map<string, { status: PresenceStatus; lastSeen: string | null }>();
  return {
    async report(address, status) {
      const lastSeen = status === 'offline' ? new Date().toISOString() : (state.get(address)?.lastSeen ?? null);
      state.set(address, { status, lastSeen });
      return { address, status, lastSeen };
    },
    async get(addresses) {
      return addresses.map((address) => ({
        address,
        status: state.get(address)?.status ?? 'offline',
        lastSeen: state.get(address)?.lastSeen ?? null,
      }));
    },
    async clear() {
      state.clear();
    },
  };
}
