import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { operator } from '../../gateway/context.ts';
import { addPerson, ENG_NODE, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';

const REDIRECT = 'http://localhost:9/served-cb';
const NOT_SERVED = 'the person may no longer use this app: ';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway('person-served');
});
afterAll(async () => gateway?.stop());

const asOperator = () => ({ ...gateway.context(null), actor: operator('test') });

/** An app registered with `input`, and `username` signed in to it: a refresh token and a token for the eng node. */
async function signedInTo(input: Record<string, unknown>, username: string) {
  const app = await registerTestApp(gateway, { firstParty: true, redirectUris: [REDIRECT], ...input });
  const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  await addPerson(gateway, username);
  const { tokens } = await codeFlow(rp, REDIRECT, username, { scope: 'openid im offline_access', resource: ENG_NODE });
  const node = await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: ENG_NODE });
  return { rp, slug: app.slug, refreshToken: node.refresh_token!, nodeToken: node.access_token };
}

describe('a person an app may no longer serve', () => {
  it("is no longer active at introspection once moved out of the app's owner unit, and a refresh says why it is refused", async () => {
    const { rp, refreshToken } = await signedInTo({ name: 'Eng Desk', ownerUnit: 'campus/eng' }, 'mover');
    expect(await client.tokenIntrospection(rp, refreshToken)).toMatchObject({ active: true });

    await updateUser(asOperator(), 'mover', { units: ['campus/arts/history'], moveChat: true });

    expect(await client.tokenIntrospection(rp, refreshToken)).toEqual({ active: false });
    const refused = await client.refreshTokenGrant(rp, refreshToken).then(
      () => null,
      (error: unknown) => error as { error?: string; error_description?: string },
    );
    expect(refused).toMatchObject({ error: 'invalid_grant' });
    expect(refused?.error_description).toContain(NOT_SERVED);
    // The app learns that the person is no longer served, not where they went nor whether they were disabled.
    expect(refused?.error_description).not.toMatch(/arts|history|moved|disabled/i);
  });

  it('calls their node token inactive once the app is narrowed away from them, though they keep its domain', async () => {
    const { rp, slug, refreshToken, nodeToken } = await signedInTo({ name: 'Campus Board' }, 'narrowed');
    expect(await client.tokenIntrospection(rp, nodeToken)).toMatchObject({ active: true, aud: ENG_NODE });

    // Narrowed to Arts: the person (Engineering) keeps their domain, so no ended access names the token.
    await updateApp(asOperator(), slug, { visibility: { units: ['campus/arts'], roles: [] } });

    expect(await client.tokenIntrospection(rp, nodeToken)).toEqual({ active: false });
    expect(await client.tokenIntrospection(rp, refreshToken)).toEqual({ active: false });
    await expect(client.refreshTokenGrant(rp, refreshToken, { resource: ENG_NODE })).rejects.toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining(NOT_SERVED),
    });
  });

  it('gets no answer at userinfo once moved away from the app, as for a disabled account', async () => {
    const app = await registerTestApp(gateway, {
      name: 'Eng Profile',
      firstParty: true,
      redirectUris: [REDIRECT],
      ownerUnit: 'campus/eng',
    });
    const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
    await addPerson(gateway, 'asked-about');
    const { tokens } = await codeFlow(rp, REDIRECT, 'asked-about');
    const sub = tokens.claims()!.sub;
    expect(await client.fetchUserInfo(rp, tokens.access_token, sub)).toMatchObject({
      preferred_username: 'asked-about',
    });

    await updateUser(asOperator(), 'asked-about', { units: ['campus/arts/history'], moveChat: true });

    // The access token has not expired, but the app may no longer read who the person is.
    const refused = await client.fetchUserInfo(rp, tokens.access_token, sub).then(
      () => null,
      (error: unknown) => error as { status?: number; cause?: { parameters?: { error?: string } }[] },
    );
    expect(refused?.status).toBe(401);
    expect(refused?.cause?.[0]?.parameters?.error).toBe('invalid_token');
  });
});
