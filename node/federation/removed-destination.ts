import type { Logger } from '../../core/logger.ts';
import type { FederationModels } from './models.ts';

type OutboxPeerRow = InstanceType<FederationModels['OutboxPeer']>;

/** What the outbox needs to tell a destination removed at the gateway from one that is only away. */
export type RemovedDestinations = {
  /**
   * Whether the gateway's registry has the destination: true or false as the gateway answered (a copy
   * without it must be one fetched just now), undefined when that cannot be told now.
   */
  registered(destination: string): Promise<boolean | undefined>;
  /** How long what waits for a destination the registry no longer has is kept, in case it is added back. */
  graceMs: number;
};

/** The refusal its authors are told of when what waited for a removed destination is set aside. */
export const removedRefusal = (destination: string) => ({
  reason: 'unknown_destination',
  error: `unknown_destination: ${destination} is no longer a domain of the campus (removed at the gateway)`,
});

/**
 * After a failed attempt: whether the destination's domain was removed at the gateway long enough ago that
 * what waits for it is to be set aside now. Only the gateway's answer counts: a registry that cannot be
 * read now (a hiccup, the gateway away) changes nothing, and a copy that lacks the destination counts only
 * when fetched just now. The first such answer starts the grace period (kept in `outbox_peers`, so that
 * neither a restart nor another process of the domain starts it again); the domain registered again
 * before it ends, the events go as before; once it has ended, the next answer without it sets them aside.
 */
export async function removedForGood(
  deps: RemovedDestinations & { now: () => number; logger: Logger },
  destination: string,
  peer: OutboxPeerRow,
): Promise<boolean> {
  const registered = await deps.registered(destination).catch(() => undefined);
  if (registered === undefined) return false;
  if (registered) {
    if (peer.unregisteredSince) {
      peer.unregisteredSince = null;
      await peer.save();
      deps.logger.info(
        { destination },
        'the gateway registers this destination again; what waits for it goes as before',
      );
    }
    return false;
  }
  if (!peer.unregisteredSince) {
    peer.unregisteredSince = new Date(deps.now());
    await peer.save();
    deps.logger.warn(
      { destination, keptForSeconds: Math.round(deps.graceMs / 1000) },
      'the gateway no longer registers this destination (removed there): what waits for it is kept in case it is added back',
    );
  }
  return deps.now() - peer.unregisteredSince.getTime() >= deps.graceMs;
}
