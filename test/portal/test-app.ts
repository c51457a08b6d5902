import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { registerApp } from '../../gateway/apps-registry/register-app.ts';
import { callbackSecretSealer } from '../../gateway/apps-registry/secrets.ts';
import { operator } from '../../gateway/context.ts';
import type { TestGateway } from '../helpers/gateway.ts';

export type TestApp = { url: string; sessions: Map<string, { name: string; sid: string }>; close(): Promise<void> };

/**
 * A minimal campus app for the workbench tests: it signs people in at the gateway on its home page (so
 * opening it from the portal is silent), and ends their session when the gateway posts a back-channel
 * logout for it.
 */
export async function startTestApp(gateway: TestGateway, slug: string, name: string): Promise<TestApp> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const registered = await registerApp(
    { ...gateway.context(null), actor: operator('test') },
    {
      name,
      slug,
      icon: 'TA',
      description: `${name}, for the portal tests`,
      homeUrl: `${url}/`,
      redirectUris: [`${url}/callback`],
      backchannelLogoutUri: `${url}/backchannel-logout`,
      firstParty: true,
    },
    callbackSecretSealer(gateway.config.secretKey),
  );
  const config = await client.discovery(
    new URL(gateway.issuer),
    registered.clientId,
    registered.clientSecret,
    undefined,
    { execute: [client.allowInsecureRequests] },
  );
  const jwks = createRemoteJWKSet(new URL(`${gateway.issuer}/jwks`));
  const pending = new Map<string, string>();
  const sessions = new Map<string, { name: string; sid: string }>();
  const cookieOf = (req: express.Request) => /(?:^|;\s*)app=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];

  const app = express();
  app.get('/', async (req, res) => {
    const session = sessions.get(cookieOf(req) ?? '');
    if (session)
      return res.type('html').send(`<!doctype html><title>${name}</title><h1>Signed in as ${session.name}</h1>`);
    const state = client.randomState();
    const verifier = client.randomPKCECodeVerifier();
    pending.set(state, verifier);
    const target = client.buildAuthorizationUrl(config, {
      redirect_uri: `${url}/callback`,
      scope: 'openid profile',
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    res.redirect(target.href);
  });
  app.get('/callback', async (req, res) => {
    const state = String(req.query.state ?? '');
    const tokens = await client.authorizationCodeGrant(config, new URL(req.originalUrl, url), {
      pkceCodeVerifier: pending.get(state),
      expectedState: state,
    });
    pending.delete(state);
    const claims = tokens.claims()!;
    const id = randomBytes(16).toString('hex');
    sessions.set(id, { name: String(claims.name), sid: String(claims.sid) });
    res.setHeader('Set-Cookie', `app=${id}; Path=/; HttpOnly; SameSite=Lax`);
    res.redirect('/');
  });
  app.post('/backchannel-logout', express.urlencoded({ extended: false }), async (req, res) => {
    const { payload } = await jwtVerify(String(req.body.logout_token), jwks, {
      issuer: gateway.issuer,
      audience: registered.clientId,
    });
    for (const [id, session] of sessions) if (session.sid === payload.sid) sessions.delete(id);
    res.status(200).end();
  });
  server.on('request', app);
  return {
    url,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
