import { QueryTypes, type Sequelize } from 'sequelize';
import { boundSecretKey } from '../../core/bound-secret.ts';
import type { Migration } from '../../core/migrator.ts';
import { createSealer, type Sealer } from '../../core/seal.ts';

type Client = Record<string, unknown>;

// Client secrets (every app's, the console's, the portal's) were stored in the clear in the provider's
// store: anyone reading the database or a backup could take an app's bot tokens or sign in as the app.
// They are sealed under the key for 'client-secrets' derived from ATRIUM_SECRET_KEY, the one
// gateway/oidc/client-secrets.ts opens them with; so this needs the secret the gateway runs with, which
// `atrium migrate` binds to the database. Each row is rewritten alone: a run cut short leaves every client
// either sealed or as it was, and the next run seals the rest.
export const up: Migration = async ({ context: { sequelize } }) => {
  await rewriteClients(sequelize, 'client_secret', (client, sealer) => {
    const { client_secret: secret, ...rest } = client;
    return { ...rest, client_secret_sealed: sealer.seal(String(secret)) };
  });
};

// Back to the clear, as the version before reads them (with the same secret key).
export const down: Migration = async ({ context: { sequelize } }) => {
  await rewriteClients(sequelize, 'client_secret_sealed', (client, sealer) => {
    const { client_secret_sealed: sealed, ...rest } = client;
    return { ...rest, client_secret: sealer.open(String(sealed)) };
  });
};

/** Rewrites the clients holding `field`; the secret is asked for only then (a new database has none). */
async function rewriteClients(
  sequelize: Sequelize,
  field: string,
  rewrite: (client: Client, sealer: Sealer) => Client,
): Promise<void> {
  const rows = await sequelize.query<{ id: string; payload: string }>(
    "SELECT id, payload FROM oidc_payloads WHERE model = 'Client'",
    { type: QueryTypes.SELECT },
  );
  let sealer: Sealer | undefined;
  for (const row of rows) {
    const client = JSON.parse(row.payload) as Client;
    if (typeof client[field] !== 'string') continue;
    sealer ??= await clientSecretSealer(sequelize);
    await sequelize.query("UPDATE oidc_payloads SET payload = ? WHERE model = 'Client' AND id = ?", {
      replacements: [JSON.stringify(rewrite(client, sealer)), row.id],
    });
  }
}

/**
 * The sealer under the secret bound to the database, once that is known to be the gateway's secret (its
 * signing keys open with it): clients sealed under another would not open in the gateway, which would
 * then refuse every app.
 */
async function clientSecretSealer(sequelize: Sequelize): Promise<Sealer> {
  const secret = boundSecretKey(sequelize);
  const [key] = await sequelize.query<{ private_jwk_sealed: string }>(
    'SELECT private_jwk_sealed FROM signing_keys ORDER BY created_at LIMIT 1',
    { type: QueryTypes.SELECT },
  );
  if (key) createSealer(secret, 'signing-keys').open(key.private_jwk_sealed);
  return createSealer(secret, 'client-secrets');
}
