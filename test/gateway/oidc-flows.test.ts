import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeJwt } from 'jose';
import { BrowserAgent } from '../helpers/browser-agent.ts';
import { signOutEverywhere } from '../../gateway/accounts/end-access.ts';
import { operator } from '../../gateway/context.ts';
import { codeFlow as codeFlowAt, discover } from '../helpers/rp.ts';
import {
  addPerson,
  ARTS_NODE,
  ENG_NODE,
  registerTestApp,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';

const REDIRECT = 'http://localhost:9/cb';

let gateway: TestGateway;
let rp: client.Configuration;
let app: { clientId: string; clientSecret: string };

const codeFlow = (config: client.Configuration, username: string, params: Record<string, string> = {}) =>
  codeFlowAt(config, REDIRECT, username, params);

beforeAll(async () => {
  gateway = await startTestGateway('oidc');
  // With a bot: only an app with an enabled bot gets client-credentials tokens for a domain node.
  app = await registerTestApp(gateway, { name: 'Library', redirectUris: [REDIRECT], botEnabled: true });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => gateway?.stop());

describe('the gateway as an OpenID provider', () => {
  it('publishes discovery with PKCE S256, introspection, revocation, logout and resource indicators', () => {
    const meta = rp.serverMetadata();
    expect(meta.issuer).toBe(gateway.issuer);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.introspection_endpoint).toBeTruthy();
    expect(meta.revocation_endpoint).toBeTruthy();
    expect(meta.end_session_endpoint).toBeTruthy();
    expect(meta.backchannel_logout_supported).toBe(true);
    expect(meta.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']),
    );
    // The domain nodes' scope, without which every node refuses a token.
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(['openid', 'offline_access', 'im']));
  });

  it('signs a student in through the login and consent forms and returns campus claims', async () => {
    const { tokens } = await codeFlow(rp, 'alice');
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(gateway.issuer);
    expect(claims.preferred_username).toBe('alice');
    expect(claims.email).toBe('alice@campus.test');
    expect(claims.roles).toEqual(['student']);
    expect(claims.org_units).toEqual(['campus/eng/cs']);
    expect(claims.im_home_domain).toBe('eng.campus.test');
    expect(claims.im_domains).toEqual(['eng.campus.test']);
    // The node to name as resource for a token there, and to give the SDK: no list of the app's own needed.
    expect(claims.im_home_node).toBe(ENG_NODE);
    const info = await client.fetchUserInfo(rp, tokens.access_token, claims.sub);
    expect(info.name).toBe('Alice Chen');
    expect(info.org_units).toEqual(['campus/eng/cs']);
    expect(info.im_home_node).toBe(ENG_NODE);
  });

  it('gives a member of two colleges both IM domains, the primary unit being home', async () => {
    const { tokens } = await codeFlow(rp, 'carol');
    const claims = tokens.claims()!;
    expect(claims.im_home_domain).toBe('arts.campus.test');
    expect(claims.im_domains).toEqual(['arts.campus.test', 'eng.campus.test']);
    expect(claims.im_home_node).toBe(ARTS_NODE);
    expect(claims.im_nodes).toEqual({ 'arts.campus.test': ARTS_NODE, 'eng.campus.test': ENG_NODE });
  });

  it('rotates refresh tokens and rejects a used one', async () => {
    const { tokens } = await codeFlow(rp, 'alice');
    const first = tokens.refresh_token!;
    const second = await client.refreshTokenGrant(rp, first);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first);
    await expect(client.refreshTokenGrant(rp, first)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('keeps a refresh token usable when its successor could not be stored, so the retry is no reuse', async () => {
    const { tokens } = await codeFlow(rp, 'alice');
    const refreshToken = tokens.refresh_token!;
    // The database refuses the new refresh token once (a trigger here; a full disk, a constraint).
    const refuse =
      gateway.sequelize.getDialect() === 'sqlite'
        ? "WHEN NEW.model = 'RefreshToken' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        : "FOR EACH ROW BEGIN IF NEW.model = 'RefreshToken' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END";
    await gateway.sequelize.query(`CREATE TRIGGER refuse_refresh_token BEFORE INSERT ON oidc_payloads ${refuse}`);
    try {
      await expect(client.refreshTokenGrant(rp, refreshToken)).rejects.toThrow();
    } finally {
      await gateway.sequelize.query('DROP TRIGGER refuse_refresh_token');
    }
    const retried = await client.refreshTokenGrant(rp, refreshToken);
    expect(retried.access_token).toBeTruthy();
    const next = await client.refreshTokenGrant(rp, retried.refresh_token!);
    expect(next.access_token).toBeTruthy();
  });

  it('rotates a refresh token presented twice at once only once', async () => {
    const { tokens } = await codeFlow(rp, 'alice');
    const outcomes = await Promise.allSettled([
      client.refreshTokenGrant(rp, tokens.refresh_token!),
      client.refreshTokenGrant(rp, tokens.refresh_token!),
    ]);
    // Whichever comes second (still rotating the token, or after it) is refused as a used token.
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({ reason: { error: 'invalid_grant' } });
  });

  it('introspects and revokes access tokens', async () => {
    const { tokens } = await codeFlow(rp, 'alice');
    const active = await client.tokenIntrospection(rp, tokens.access_token);
    expect(active.active).toBe(true);
    expect(active.sub).toBe(tokens.claims()!.sub);
    await client.tokenRevocation(rp, tokens.access_token);
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    // The provider reports the revocation as an event; its audit row is written beside the answer.
    await expect.poll(() => gateway.models.AuditEvent.findOne({ where: { action: 'token.revoke' } })).not.toBeNull();
  });

  it('introspects the node tokens (JWTs) it issued, to their client only, inactive once their access ended', async () => {
    const bot = await client.clientCredentialsGrant(rp, { resource: ENG_NODE, scope: 'im' });
    expect(await client.tokenIntrospection(rp, bot.access_token)).toMatchObject({
      active: true,
      client_id: app.clientId,
      sub: app.clientId,
      aud: ENG_NODE,
      scope: 'im',
      iss: gateway.issuer,
      token_type: 'Bearer',
    });
    await addPerson(gateway, 'ivy');
    const { tokens } = await codeFlow(rp, 'ivy', { scope: 'openid im offline_access', resource: ENG_NODE });
    const node = await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: ENG_NODE });
    const answer = await client.tokenIntrospection(rp, node.access_token);
    expect(answer).toMatchObject({ active: true, sub: tokens.claims()!.sub, aud: ENG_NODE, preferred_username: 'ivy' });
    expect(answer.exp).toBe(decodeJwt(node.access_token).exp);
    // Another client learns nothing of it, as of opaque tokens.
    const other = await registerTestApp(gateway, { name: 'Other', redirectUris: [REDIRECT] });
    const otherRp = await discover(gateway.issuer, other.clientId, other.clientSecret);
    expect(await client.tokenIntrospection(otherRp, node.access_token)).toEqual({ active: false });
    // Altered, it is no token of the gateway's.
    const [head, body, signature] = node.access_token.split('.');
    const altered = `${head}.${body}x.${signature}`;
    expect(await client.tokenIntrospection(rp, altered)).toEqual({ active: false });
    // Once the person is signed out everywhere, the nodes refuse it, and so it is no longer active.
    await signOutEverywhere({ ...gateway.context(null), actor: operator('test') }, 'ivy');
    expect(await client.tokenIntrospection(rp, node.access_token)).toEqual({ active: false });
  });

  it('issues a JWT access token whose audience is the domain node, verifiable against the JWKS', async () => {
    const { tokens } = await codeFlow(rp, 'alice', {
      scope: 'openid profile atrium im offline_access',
      resource: ENG_NODE,
    });
    const nodeToken = await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: ENG_NODE });
    const jwks = createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(nodeToken.access_token, jwks, {
      issuer: gateway.issuer,
      audience: ENG_NODE,
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload.sub).toBe(tokens.claims()!.sub);
    expect(payload.scope).toContain('im');
    expect(payload.im_domains).toEqual(['eng.campus.test']);
    expect(payload.preferred_username).toBe('alice');
    expect(typeof payload.sid).toBe('string');
  });

  it('refuses a resource that is not a registered domain node', async () => {
    const { tokens } = await codeFlow(rp, 'alice');
    await expect(
      client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: 'http://evil.test' }),
    ).rejects.toMatchObject({
      error: 'invalid_target',
      error_description:
        'http://evil.test is not a registered domain node: see GET /api/v1/nodes or the im_home_node claim',
    });
  });

  it('says why a refresh is refused a node, and the refresh token still works after', async () => {
    const { tokens } = await codeFlow(rp, 'alice', {
      scope: 'openid profile atrium im offline_access',
      resource: ENG_NODE,
    });
    const refresh = tokens.refresh_token!;
    // Alice has nothing on the arts node, which this sign-in did not name either.
    await expect(client.refreshTokenGrant(rp, refresh, { resource: ARTS_NODE })).rejects.toMatchObject({
      error: 'invalid_target',
      error_description: 'arts.campus.test is not a chat node this app may reach for this person',
    });
    // Dave's sign-in named no node at all.
    const dave = await codeFlow(rp, 'dave', { scope: 'openid im offline_access' });
    await expect(
      client.refreshTokenGrant(rp, dave.tokens.refresh_token!, { resource: ENG_NODE }),
    ).rejects.toMatchObject({ error: 'invalid_target', error_description: expect.stringMatching(/was not named/) });
    // Carol has something there, but the sign-in named the eng node only.
    const carol = await codeFlow(rp, 'carol', { scope: 'openid im offline_access', resource: ENG_NODE });
    await expect(
      client.refreshTokenGrant(rp, carol.tokens.refresh_token!, { resource: ARTS_NODE }),
    ).rejects.toMatchObject({ error: 'invalid_target', error_description: expect.stringMatching(/was not named/) });
    // A refresh that names scopes without im would make a token every node refuses.
    await expect(client.refreshTokenGrant(rp, refresh, { resource: ENG_NODE, scope: 'openid' })).rejects.toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringMatching(/scope im/),
    });
    expect((await client.refreshTokenGrant(rp, refresh, { resource: ENG_NODE })).scope).toBe('im');
  });

  it('gives no token for a domain node without scope im, and says to ask for it', async () => {
    // A sign-in made before the gateway refused authorizations naming a node without im: its refresh for the
    // node is refused, before the refresh token rotates.
    const { tokens } = await codeFlow(rp, 'alice', { scope: 'openid im offline_access', resource: ENG_NODE });
    const stored = await gateway.models.OidcPayload.findOne({
      where: { model: 'RefreshToken', id: tokens.refresh_token! },
    });
    await stored!.update({
      payload: JSON.stringify({ ...JSON.parse(stored!.payload), scope: 'openid offline_access' }),
    });
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: ENG_NODE })).rejects.toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringContaining(
        `did not ask for: sign the person in again and ask for scope im along with resource=${ENG_NODE}`,
      ),
    });
    expect((await client.refreshTokenGrant(rp, tokens.refresh_token!)).access_token).toBeTruthy();
    // A bot's client credentials without im.
    await expect(client.clientCredentialsGrant(rp, { resource: ENG_NODE })).rejects.toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringContaining(`ask for scope im along with resource=${ENG_NODE}`),
    });
    // An authorization naming a node without im goes back to the app at once.
    const url = client.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid offline_access',
      resource: ENG_NODE,
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const back = new URL((await new BrowserAgent().navigate(url.toString(), {}, REDIRECT)).url);
    expect(back.searchParams.get('error')).toBe('invalid_scope');
    expect(back.searchParams.get('error_description')).toContain(`ask for scope im along with resource=${ENG_NODE}`);
  });

  it('grants client credentials for a domain node with the node as audience', async () => {
    const tokens = await client.clientCredentialsGrant(rp, { resource: ENG_NODE, scope: 'im' });
    const payload = decodeJwt(tokens.access_token);
    expect(payload.aud).toBe(ENG_NODE);
    expect(payload.client_id).toBe(rp.clientMetadata().client_id);
  });
});

describe('bad paths', () => {
  it('rejects an unregistered redirect URI without redirecting to it', async () => {
    const url = client.buildAuthorizationUrl(rp, {
      redirect_uri: 'http://localhost:9/evil',
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const page = await new BrowserAgent().navigate(url.toString());
    expect(page.status).toBe(400);
    expect(page.url).not.toContain('/evil');
    expect(page.html).toContain('redirect_uri');
  });

  it('requires PKCE from every client', async () => {
    const url = client.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', state: 'x' });
    const page = await new BrowserAgent().navigate(url.toString(), {}, REDIRECT);
    const back = new URL(page.url);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('revokes the tokens of an authorization code that is used twice', async () => {
    const { tokens, callback, verifier } = await codeFlow(rp, 'alice', { state: 'fixed' });
    await expect(
      client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: 'fixed' }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
  });

  it('exchanges an authorization code presented several times at once only once', async () => {
    const { agent } = await codeFlow(rp, 'alice', { scope: 'openid profile' });
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid profile',
      prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const page = await agent.navigate(url.toString(), {}, REDIRECT);
    const code = new URL(page.url).searchParams.get('code')!;
    expect(code).toBeTruthy();
    const exchange = () =>
      fetch(new URL('/token', gateway.issuer), {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT,
          code_verifier: verifier,
        }),
      });
    const replies = await Promise.all(Array.from({ length: 6 }, exchange));
    const bodies = await Promise.all(
      replies.map((r) => r.json() as Promise<{ access_token?: string; error?: string }>),
    );
    expect(bodies.filter((b) => b.access_token)).toHaveLength(1);
    expect(bodies.filter((b) => b.error === 'invalid_grant')).toHaveLength(5);
  });
});
