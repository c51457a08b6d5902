import * as client from 'openid-client';
import { BrowserAgent, signIn } from './browser-agent.ts';
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
