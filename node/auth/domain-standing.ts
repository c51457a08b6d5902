import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { TokenVerifier } from './token-verifier.ts';

/**
 * Whether the gateway still knows this node's domain. An administrator who removes a domain makes the
 * gateway forget it: no token is issued for the node any more, and its signed requests are answered
 * `unknown_origin`. Each process hears that at its next one (the ended-access poll, at start and every
 * ENDED_ACCESS_POLL_SECONDS), and from then on serves no one: every token is refused and every socket
 * ended, although the tokens issued before would otherwise be valid until they expire. Only that answer
 * counts: a gateway that cannot be reached, or that has not pinned a new key yet (`unknown_key`), says
 * nothing of the domain. The domain added again (its keys pinned), the next answer says so and the node
 * serves again. Meanwhile its outbox sends nothing (its peers refuse it too), webhooks are refused, and
 * /readyz says why the node is not ready.
 */
export type DomainStanding = {
  /** Whether the gateway's last answer to a signed request of this node was that it knows no such domain. */
  removed(): boolean;
  /** What the gateway answered a signed request: whether it knows the domain (false: `unknown_origin`). */
  heard(known: boolean): void;
  /** Called each time the node learns that the gateway does not know its domain any more. */
  onRemoved(listener: () => void): void;
  /** Called each time the node learns that the gateway knows its domain again, after it did not. */
  onKnownAgain(listener: () => void): void;
};

export function createDomainStanding(options: { domain: string; logger: Logger }): DomainStanding {
  let removed = false;
  const listeners: (() => void)[] = [];
  const returned: (() => void)[] = [];
  return {
    removed: () => removed,
    heard(known) {
      if (known === !removed) return;
      removed = !known;
      if (known) {
        options.logger.info({ domain: options.domain }, 'the gateway knows this domain again: serving its people');
        for (const listener of returned) listener();
        return;
      }
      options.logger.error(
        { domain: options.domain },
        'the gateway does not know this domain (removed there, or never added): refusing every token and webhook, ending every socket, holding the outbox',
      );
      for (const listener of listeners) listener();
    },
    onRemoved(listener) {
      listeners.push(listener);
    },
    onKnownAgain(listener) {
      returned.push(listener);
    },
  };
}

/** A token refused because this node's domain was removed at the gateway: reconnecting cannot help. */
export class DomainRemovedError extends AppError {
  constructor(domain: string) {
    super('forbidden', 403, `${domain} was removed from the campus: this node serves no one any more`);
  }
}

/**
 * A verifier that refuses every token while the gateway does not know this node's domain, before asking the
 * gateway anything about it (which would be refused too), and once more after, should the node have learnt
 * it meanwhile.
 */
export function refusingWhileRemoved(verifier: TokenVerifier, standing: DomainStanding, domain: string): TokenVerifier {
  return {
    keys: verifier.keys,
    async verify(token) {
      if (standing.removed()) throw new DomainRemovedError(domain);
      const identity = await verifier.verify(token);
      if (standing.removed()) throw new DomainRemovedError(domain);
      return identity;
    },
  };
}
