import type { Request } from 'express';
import type Provider from 'oidc-provider';
import type { Logger } from '../../core/logger.ts';
import type { GatewayContext } from '../context.ts';
import type { GatewayModels } from '../models/index.ts';

const USER_AGENT_MAX = 512;

/**
 * Notes what each gateway session was signed in from (the browser's User-Agent and address) when a
 * sign-in completes, which is when the provider resumes an authorization with a login result: one
 * write per sign-in, none on other requests. The row is keyed by the session's uid, which stays the
 * same for the session's life. A failed write costs the account page its words for that device, never
 * the sign-in.
 */
export function noteSessionDevices(
  provider: Provider,
  context: (req: Request | null) => GatewayContext,
  logger: Logger,
): void {
  provider.use(async (ctx, next) => {
    await next();
    const oidc = ctx.oidc;
    const login = oidc?.route === 'resume' ? (oidc.result?.login as { accountId?: string } | undefined) : undefined;
    const session = oidc?.session;
    if (!login?.accountId || !session?.uid || session.accountId !== login.accountId) return;
    await context(null)
      .models.SessionDevice.upsert({
        sessionUid: session.uid,
        accountId: login.accountId,
        userAgent: ctx.get('user-agent').slice(0, USER_AGENT_MAX) || null,
        ip: ctx.ip || null,
        createdAt: new Date(),
      })
      .catch((err: unknown) => logger.error({ err }, 'noting the device of a sign-in failed'));
  });
}

/** Deletes what was noted of gateway sessions no longer stored (signed out, ended, expired and swept). */
export function sweepSessionDevices(models: GatewayModels): Promise<number> {
  const { SessionDevice } = models;
  return SessionDevice.destroy({
    where: SessionDevice.sequelize!.literal(
      "NOT EXISTS (SELECT 1 FROM oidc_payloads p WHERE p.uid = session_devices.session_uid AND p.model = 'Session')",
    ),
  });
}
