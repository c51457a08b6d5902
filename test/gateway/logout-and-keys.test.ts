import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { formWithAction } from '../helpers/browser-agent.ts';
import { ENG_NODE, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { rotateSigningKeys } from '../../gateway/oidc/keys.ts';

const REDIRECT = 'http://localhost:9/cb';
const AFTER_LOGOUT = 'http://localhost:9/bye';

let gateway: TestGateway;
let rp: client.Configuration;
let otherRp: client.Configuration;
let relyingParty: Server;
const logoutTokens: string[] = [];
let backchannelUri: string;

/** A relying party's back-channel logout endpoint that records what the gateway posts. */
async function startBackchannelReceiver(): Promise<void> {
  relyingParty = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token');
      if (req.method === 'POST' && token) logoutTokens.push(token);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => relyingParty.listen(0, 'localhost', resolve));
  backchannelUri = `http://localhost:${(relyingParty.address() as AddressInfo).port}/backchannel-logout`;
}

beforeAll(async () => {
  await startBackchannelReceiver();
  gateway = await startTestGateway('logout');
  const app = await registerTestApp(gateway, {
    name: 'Course pages',
    redirectUris: [REDIRECT],
    postLogoutRedirectUris: [AFTER_LOGOUT],
    backchannelLogoutUri: backchannelUri,
  });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  const other = await registerTestApp(gateway, { name: 'Mail', redirectUris: [REDIRECT] });
  otherRp = await discover(gateway.issuer, other.clientId, other.clientSecret);
});
afterAll(async () => {
  await gateway?.stop();
  relyingParty?.close();
});

describe('single logout', () => {
  it('ends the gateway session after confirmation and notifies the app over the back channel', async () => {
    const { tokens, agent } = await codeFlow(rp, REDIRECT, 'alice');
    const sid = tokens.claims()!.sid as string;
    expect(sid).toBeTruthy();

    const endSession = client.buildEndSessionUrl(rp, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: AFTER_LOGOUT,
      state: 'see-you',
    });
    const confirm = await agent.navigate(endSession.toString(), {}, AFTER_LOGOUT);
    expect(confirm.html).toContain('Sign out?');
    const done = await agent.submit(
      confirm,
      formWithAction(confirm, '/session/end/confirm'),
      { logout: 'yes' },
      AFTER_LOGOUT,
    );
    expect(done.url).toBe(`${AFTER_LOGOUT}?state=see-you`);

    await expect.poll(() => logoutTokens.length, { timeout: 5000 }).toBe(1);
    const jwks = createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(logoutTokens[0]!, jwks, {
      issuer: gateway.issuer,
      audience: rp.clientMetadata().client_id,
    });
    expect(payload.sub).toBe(tokens.claims()!.sub);
    expect(payload.sid).toBe(sid);
    expect(payload.events).toHaveProperty(['http://schemas.openid.net/event/backchannel-logout']);
    expect(payload.nonce).toBeUndefined();

    // The browser is signed out: the next authorization shows the login form again.
    const again = await agent.navigate(
      client
        .buildAuthorizationUrl(otherRp, {
          redirect_uri: REDIRECT,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
          code_challenge_method: 'S256',
        })
        .toString(),
      {},
      REDIRECT,
    );
    expect(again.html).toContain('/login"');
    expect(await gateway.models.AuditEvent.count({ where: { action: 'logout' } })).toBe(1);
  });

  it('keeps the session when the person chooses to stay signed in', async () => {
    const { tokens, agent } = await codeFlow(rp, REDIRECT, 'bob');
    const confirm = await agent.navigate(
      client
        .buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: AFTER_LOGOUT })
        .toString(),
      {},
      AFTER_LOGOUT,
    );
    const form = formWithAction(confirm, '/session/end/confirm');
    await agent.submit(confirm, form, {}, AFTER_LOGOUT);
    // Still signed in: a new authorization for a first sign-in goes straight to consent, not the login form.
    const next = await agent.navigate(
      client
        .buildAuthorizationUrl(otherRp, {
          redirect_uri: REDIRECT,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
          code_challenge_method: 'S256',
        })
        .toString(),
      {},
      REDIRECT,
    );
    expect(next.html).not.toContain('/login"');
    expect(next.html).toContain('/confirm"');
  });
});

describe('signing key rotation', () => {
  it('signs new tokens with the new key while tokens signed before keep verifying', async () => {
    const before = await codeFlow(rp, REDIRECT, 'carol', {
      scope: 'openid profile atrium im offline_access',
      resource: ENG_NODE,
    });
    const oldAccess = (await client.refreshTokenGrant(rp, before.tokens.refresh_token!, { resource: ENG_NODE }))
      .access_token;
    const oldKid = decodeProtectedHeader(before.tokens.id_token!).kid;

    const { created } = await rotateSigningKeys(gateway.models, gateway.sealer);
    await gateway.reloadKeys();

    const after = await codeFlow(rp, REDIRECT, 'carol');
    expect(decodeProtectedHeader(after.tokens.id_token!).kid).toBe(created.kid);
    expect(created.kid).not.toBe(oldKid);

    const jwksResponse = (await (await fetch(rp.serverMetadata().jwks_uri!)).json()) as {
      keys: { kid: string; d?: string }[];
    };
    expect(jwksResponse.keys.map((k) => k.kid)).toEqual([created.kid, oldKid]);
    expect(jwksResponse.keys.every((k) => k.d === undefined)).toBe(true);

    const jwks = createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!));
    await expect(jwtVerify(before.tokens.id_token!, jwks, { issuer: gateway.issuer })).resolves.toBeTruthy();
    await expect(jwtVerify(oldAccess, jwks, { issuer: gateway.issuer, audience: ENG_NODE })).resolves.toBeTruthy();
  });

  it('keeps private keys sealed at rest', async () => {
    const rows = await gateway.models.SigningKey.findAll();
    for (const row of rows) {
      expect(row.privateJwkSealed.startsWith('v1.')).toBe(true);
      expect(row.privateJwkSealed).not.toContain('"d"');
      expect(JSON.parse(row.publicJwk).d).toBeUndefined();
    }
  });
});
