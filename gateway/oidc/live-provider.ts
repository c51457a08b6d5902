import type { Request } from 'express';
import type { JWK } from 'jose';
import type Provider from 'oidc-provider';
import type { Sealer } from '../../core/seal.ts';
import type { GatewayContext } from '../context.ts';
import { auditProviderEvents } from './audit-events.ts';
import { recordEndedSession } from './ended-access.ts';
import { activeKeyIds, loadPrivateJwks } from './keys.ts';
import { buildProvider, type ProviderDeps } from './provider.ts';
import { noteSessionDevices } from './session-devices.ts';

type Handler = ReturnType<Provider['callback']>;

/** The OIDC provider over the gateway's current signing keys, rebuilt when a key rotation changes them. */
export type LiveProvider = {
  /** The provider as it is now (routes ask for it per request, since a reload replaces it). */
  provider(): Provider;
  /** Hands a request to the current provider. */
  handle(...args: Parameters<Handler>): ReturnType<Handler>;
  /** The key that signs now, for the gateway's own signed calls to the domain nodes. */
  signingKey(): JWK;
  /** Picks up a key rotation; nothing happens while the active keys are the same. */
  reloadKeys(): Promise<void>;
};

export type LiveProviderDeps = Omit<ProviderDeps, 'jwks'> & {
  sealer: Sealer;
  context(req: Request | null): GatewayContext;
  /** A full sign-out was recorded: the domain nodes should hear of it now. */
  sessionEnded(): void;
};

export async function startLiveProvider(deps: LiveProviderDeps): Promise<LiveProvider> {
  const { models, sealer, logger } = deps;
  let keyIds = await activeKeyIds(models);
  let jwks = await loadPrivateJwks(models, sealer);
  let provider = wired(buildProvider({ ...deps, jwks }), deps);
  let handler = provider.callback();

  return {
    provider: () => provider,
    handle: (req, res) => handler(req, res),
    signingKey: () => jwks[0]!,
    async reloadKeys() {
      const ids = await activeKeyIds(models);
      if (ids === keyIds) return;
      keyIds = ids;
      jwks = await loadPrivateJwks(models, sealer);
      provider = wired(buildProvider({ ...deps, jwks }), deps);
      handler = provider.callback();
      logger.info({ keys: ids }, 'signing keys reloaded');
    },
  };
}

/**
 * The provider's events go to the audit log, a full sign-out ends chat too, and each sign-in notes the
 * device it came from.
 */
function wired(provider: Provider, deps: LiveProviderDeps): Provider {
  const { context, logger } = deps;
  auditProviderEvents(provider, context, logger);
  noteSessionDevices(provider, context, logger);
  provider.on('end_session.success', (ctx) => {
    const session = ctx.oidc.session;
    // Only a full sign-out ends chat; "stay signed in" merely leaves the one app.
    if (!ctx.oidc.params?.logout || !session) return;
    recordEndedSession({ ...context(null), ip: ctx.ip }, session.uid).then(
      () => deps.sessionEnded(),
      (err) => logger.error({ err }, 'recording an ended session failed'),
    );
  });
  return provider;
}
