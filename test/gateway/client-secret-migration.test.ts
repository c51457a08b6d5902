import * as client from 'openid-client';
import { QueryTypes } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindSecretKey } from '../../core/bound-secret.ts';
import { createMigrator } from '../../core/migrator.ts';
import { CONSOLE_CLIENT_ID, consoleClientSecret } from '../../gateway/admin/console-client.ts';
import type { RegisteredApp } from '../../gateway/apps-registry/register-app.ts';
import { PORTAL_CLIENT_ID, portalClientSecret } from '../../gateway/portal/portal-client.ts';
import { ENG_NODE, registerTestApp, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';

/**
 * Upgrading to the version that seals client secrets at rest (migration 0020): every client whose secret
 * the database held in the clear is sealed, and apps go on signing in with the secrets they have.
 */
const REDIRECT = 'http://localhost:9/rooms-cb';
let gateway: TestGateway;
let app: RegisteredApp;
let downgraded: Record<string, unknown>;
const secrets = () => ({
  [app.clientId]: app.clientSecret,
  [CONSOLE_CLIENT_ID]: consoleClientSecret(gateway.config.secretKey),
  [PORTAL_CLIENT_ID]: portalClientSecret(gateway.config.secretKey),
});

/** A client as the database holds it: what a backup, or anyone reading the database, sees. */
async function stored(clientId: string): Promise<{ text: string; client: Record<string, unknown> }> {
  const [row] = await gateway.sequelize.query<{ payload: string }>(
    "SELECT payload FROM oidc_payloads WHERE model = 'Client' AND id = ?",
    { replacements: [clientId], type: QueryTypes.SELECT },
  );
  return { text: row!.payload, client: JSON.parse(row!.payload) as Record<string, unknown> };
}

beforeAll(async () => {
  gateway = await startTestGateway('client-secret-upgrade');
  // Nothing reads the app's client before the upgrade, so what the provider reads after it is the upgraded row.
  app = await registerTestApp(gateway, { name: 'Room booking', redirectUris: [REDIRECT], botEnabled: true });
  const migrator = createMigrator(gateway.sequelize, 'gateway');
  await migrator.down({ to: '0020-sealed-client-secrets.ts' });
  downgraded = (await stored(app.clientId)).client;
  for (const [clientId, secret] of Object.entries(secrets())) {
    expect((await stored(clientId)).client.client_secret).toBe(secret);
  }
  // Migrating with a secret other than the gateway's is refused: the gateway could not open what it sealed.
  bindSecretKey(gateway.sequelize, 'another-secret-than-the-gateways-own-0123456789');
  await expect(migrator.up()).rejects.toThrow(/configured secret .* differs/);
  expect((await stored(app.clientId)).client.client_secret).toBe(app.clientSecret);
  bindSecretKey(gateway.sequelize, gateway.config.secretKey);
  await migrator.up();
});
afterAll(async () => gateway?.stop());

describe('upgrading to sealed client secrets', () => {
  it('seals every secret the database held in the clear: the apps’, the console’s and the portal’s', async () => {
    for (const [clientId, secret] of Object.entries(secrets())) {
      const { text, client: row } = await stored(clientId);
      expect(text).not.toContain(secret);
      expect(row).not.toHaveProperty('client_secret');
      expect(row.client_secret_sealed).toEqual(expect.any(String));
    }
  });

  it('lets the app sign people in and get bot tokens with the secret it was given before', async () => {
    const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
    expect((await client.clientCredentialsGrant(rp, { resource: ENG_NODE, scope: 'im' })).access_token).toBeTruthy();
    const { tokens } = await codeFlow(rp, REDIRECT, 'alice');
    expect(tokens.claims()).toMatchObject({ preferred_username: 'alice', aud: app.clientId });
    const guessed = await discover(
      gateway.issuer,
      app.clientId,
      (await stored(app.clientId)).client.client_secret_sealed as string,
    );
    await expect(client.clientCredentialsGrant(guessed, { resource: ENG_NODE, scope: 'im' })).rejects.toMatchObject({
      error: 'invalid_client',
    });
  });

  it('lets administrators into the console, whose own client was sealed too', async () => {
    const { page } = await signInToConsole(gateway.issuer, 'admin');
    expect(page.url).toBe(`${gateway.issuer}/admin/users`);
    expect(page.status).toBe(200);
  });

  it('puts the secrets back in the clear on a downgrade, as the version before reads them', () => {
    expect(downgraded).toEqual({
      client_id: app.clientId,
      client_secret: app.clientSecret,
      client_name: 'Room booking',
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: [],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      first_party: false,
    });
  });
});
