import type { Request } from 'express';
import type Provider from 'oidc-provider';
import type { Logger } from '../../core/logger.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';

/** Logouts, token revocations and back-channel deliveries, as the provider reports them, go to the audit log. */
export function auditProviderEvents(
  provider: Provider,
  context: (req: Request | null) => GatewayContext,
  logger: Logger,
): void {
  const record = (ip: string | null, entry: Parameters<typeof audit>[1]) =>
    void audit({ ...context(null), ip }, entry).catch((err) => logger.error({ err }, 'audit write failed'));

  provider.on('end_session.success', (ctx) => {
    record(ctx.ip, {
      action: 'logout',
      target: ctx.oidc.session?.accountId ?? null,
      details: { client: ctx.oidc.client?.clientId },
    });
  });
  // Tokens destroyed at the revocation endpoint; the request context comes from the provider's async store.
  for (const kind of ['access_token', 'refresh_token', 'client_credentials']) {
    provider.on(`${kind}.destroyed` as 'access_token.destroyed', (token: { clientId?: string; accountId?: string }) => {
      const ctx = (provider.constructor as typeof Provider).ctx;
      if (ctx?.oidc?.route !== 'revocation') return;
      record(ctx.ip, {
        action: 'token.revoke',
        target: token.clientId ?? null,
        details: { kind, account: token.accountId },
      });
    });
  }
  provider.on('grant.revoked', (ctx, grantId) => {
    record(ctx.ip, { action: 'grant.revoke', target: grantId, details: { client: ctx.oidc.client?.clientId } });
  });
  provider.on('backchannel.error', (ctx, error, client) => {
    record(ctx.ip, {
      action: 'logout.backchannel',
      target: client.clientId,
      outcome: 'failure',
      details: { error: error.message },
    });
  });
  provider.on('backchannel.success', (ctx, client) => {
    record(ctx.ip, { action: 'logout.backchannel', target: client.clientId });
  });
}
