import * as client from 'openid-client';
import { BrowserAgent, formWithAction, signIn, type Page } from './browser-agent.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

export async function discover(issuer: string, clientId: string, secret: string): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), clientId, secret, undefined, { execute: [client.allowInsecureRequests] });
}

/** An authorization code + PKCE flow through the real login form, as a relying party runs it. */
export async function codeFlow(
  config: client.Configuration,
  redirectUri: string,
  username: string,
  params: Record<string, string | string[]> = {},
  agent = new BrowserAgent(),
  password = DEMO_PASSWORD,
) {
  const verifier = client.randomPKCECodeVerifier();
  const state = typeof params.state === 'string' ? params.state : client.randomState();
  const query = new URLSearchParams({
    redirect_uri: redirectUri,
    scope: 'openid profile email atrium offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    prompt: 'consent',
  });
  for (const [key, value] of Object.entries(params)) {
    query.delete(key);
    for (const v of Array.isArray(value) ? value : [value]) query.append(key, v);
  }
  const url = client.buildAuthorizationUrl(config, query);
  const callback = await signIn(agent, url.toString(), redirectUri, username, password);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  return { tokens, agent, callback, verifier, authorizationUrl: url };
}

/**
 * One try at the gateway's real login page for this relying party, as a browser without JavaScript makes
 * it: the page the form's answer shows (the login page again with its alert, or the way on).
 */
export async function loginAttempt(
  rp: client.Configuration,
  redirectUri: string,
  username: string,
  password: string,
  agent = new BrowserAgent(),
): Promise<Page> {
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const page = await agent.navigate(url.toString(), {}, redirectUri);
  return agent.submit(page, formWithAction(page, '/login'), { username, password }, redirectUri);
}
