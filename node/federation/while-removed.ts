import type { RequestHandler } from 'express';
import { AppError } from '../../core/errors.ts';
import { DomainRemovedError } from '../auth/domain-standing.ts';
import type { Transport } from './transport.ts';

/*
 * A node whose domain was removed at the gateway (node/auth/domain-standing.ts) has no part in federation
 * until it is added again, although peers whose copy of the registry is older (up to their
 * REGISTRY_TTL_SECONDS) still list it.
 */

/**
 * Refuses every federation request while this domain is removed, before its body is read: `503
 * unavailable`, unsigned (the connection closed, as for any refusal before the body), which the sending
 * node takes as not received. Its outbox keeps the transaction and sends it again, under the same id,
 * once this node is added back and says hello; nothing is applied here meanwhile, nor set aside there.
 */
export function refusingPeersWhileRemoved(removed: () => boolean, domain: string): RequestHandler {
  return (req, res, next) => {
    if (!removed()) return next();
    if (!req.complete) res.setHeader('connection', 'close');
    next(
      new AppError(
        'unavailable',
        503,
        `${domain} was removed from the campus at the gateway: it takes no federation requests until it is added again; nothing was done; retry later`,
      ),
    );
  };
}

/**
 * The transport of the node's direct calls to other domains (submissions to a home, files, card clicks,
 * address checks, presence, typing, hello): while this domain is removed they are not made, and whoever
 * asked is told why (DomainRemovedError). The outbox keeps the plain transport: it holds what waits
 * meanwhile rather than fail it (outbox.ts, `paused`).
 */
export function callingNoOneWhileRemoved(transport: Transport, removed: () => boolean, domain: string): Transport {
  const unlessRemoved = () => {
    if (removed()) throw new DomainRemovedError(domain);
  };
  return {
    async post(...args) {
      unlessRemoved();
      return transport.post(...args);
    },
    async postForFile(...args) {
      unlessRemoved();
      return transport.postForFile(...args);
    },
  };
}
