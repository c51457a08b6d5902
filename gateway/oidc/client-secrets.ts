import type { Sequelize } from 'sequelize';
import { boundSecretKey } from '../../core/bound-secret.ts';
import { createSealer, type Sealer } from '../../core/seal.ts';
import { stillInGrace } from '../apps-registry/grace.ts';

/**
 * OIDC clients' secrets (every app's, the console's, the portal's) are sealed at rest: a Client row of the
 * provider's store holds `client_secret_sealed`, never `client_secret`, so the database or a backup alone
 * lets nobody take an app's bot tokens or sign in as an app. The store opens the secret only where the
 * provider reads a client (adapter.ts); nothing else needs it, since a secret is shown once, when made.
 *
 * The key is derived from the gateway's secret (ATRIUM_SECRET_KEY), like the apps' callback secrets'. Each
 * composition root that opens the gateway database (the gateway, the CLI) binds that secret to the database
 * handle (core/bound-secret.ts): the provider builds its store from the models alone, and a migration
 * (0020, which sealed the secrets stored before) gets only the handle.
 */
type Payload = Record<string, unknown>;

/** The sealer of client secrets under the secret bound to this database; without one, none is stored or read. */
export function clientSecretSealerOf(sequelize: Sequelize): Sealer {
  return createSealer(boundSecretKey(sequelize), 'client-secrets');
}

/** The client as the store keeps it: its secret sealed. */
export function sealClientSecret(client: Payload, sealer: Sealer): Payload {
  const { client_secret: secret, ...rest } = client;
  return typeof secret === 'string' ? { ...rest, client_secret_sealed: sealer.seal(secret) } : client;
}

/**
 * The client as the provider takes it: its secret opened. A secret stored in the clear (by hand, or by a
 * version before sealing) is not honoured: the provider then refuses the client, and fails closed.
 */
export function openClientSecret(stored: Payload, sealer: Sealer): Payload {
  const {
    client_secret: plain,
    client_secret_sealed: sealed,
    client_secret_previous_sealed: previousSealed,
    client_secret_previous_until: previousUntil,
    ...rest
  } = stored;
  if (typeof sealed === 'string') {
    const opened = { ...rest, client_secret: sealer.open(sealed) };
    const previous = openPrevious(previousSealed, previousUntil, sealer);
    return previous ? { ...opened, [PREVIOUS_SECRET]: previous } : opened;
  }
  return typeof plain === 'string' ? { ...rest, [IN_THE_CLEAR]: true } : rest;
}

/** The secret a rotation replaced, while its grace lasts (gateway/apps-registry/rotate-secrets.ts). */
export type PreviousSecret = { secret: string; until: string };

/**
 * The secret a rotation replaced, kept sealed beside the current one (`client_secret_previous_sealed`, under
 * the same key) with the end of its grace. It is never what the provider is handed as the client's secret
 * but where the request presents it (previous-client-secret.ts). One that cannot be opened (sealed under a
 * gateway secret since replaced) is simply over: the app has the new one to use.
 */
function openPrevious(sealed: unknown, until: unknown, sealer: Sealer): PreviousSecret | undefined {
  if (typeof sealed !== 'string' || !stillInGrace(until)) return undefined;
  try {
    return { secret: sealer.open(sealed), until };
  } catch {
    return undefined;
  }
}

/** Marks a client whose rotated secret is still in its grace (openClientSecret): the PreviousSecret. */
export const PREVIOUS_SECRET = Symbol('client secret replaced, in its grace');

/**
 * Marks a client whose secret was stored in the clear and so not honoured (openClientSecret): the gateway
 * says so in its log, since the app only hears oidc-provider's "client_secret is mandatory property".
 */
export const IN_THE_CLEAR = Symbol('client secret stored in the clear');
