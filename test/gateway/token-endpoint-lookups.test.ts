import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { operator } from '../../gateway/context.ts';
import type { BrowserAgent } from '../helpers/browser-agent.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { addPeople, ENG_NODE, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { membershipsOf } from '../../gateway/accounts/memberships.ts';
import { botToken } from '../apps/helpers.ts';

const REDIRECT = 'http://localhost:9/lookups-cb';

let gateway: TestGateway;
let rp: client.Configuration;
let slug: string;

beforeAll(async () => {
  gateway = await startTestGateway('token-lookups');
  const app = await registerTestApp(gateway, { name: 'Timetable', redirectUris: [REDIRECT], firstParty: true });
  slug = app.slug;
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => gateway?.stop());

/** A sign-in as the portal does it (offline access, chat on the eng node): the refresh token. */
async function signedIn(username: string): Promise<string> {
  const { tokens } = await codeFlow(rp, REDIRECT, username, {
    scope: 'openid profile atrium im offline_access',
    resource: ENG_NODE,
  });
  return tokens.refresh_token!;
}

/** Statements by table while `run` goes (the gateway runs in this process). */
async function tablesRead<T>(run: () => Promise<T>): Promise<{ result: T; reads: Record<string, number> }> {
  const reads: Record<string, number> = {};
  gateway.sequelize.addHook('afterQuery', 'count-reads', (_options, query) => {
    const sql = String((query as unknown as { sql?: string }).sql ?? '');
    const table = /^\s*SELECT\b[\s\S]*?\bFROM\s+[`"]?(\w+)/i.exec(sql)?.[1];
    if (table) reads[table] = (reads[table] ?? 0) + 1;
  });
  try {
    return { result: await run(), reads };
  } finally {
    gateway.sequelize.removeHook('afterQuery', 'count-reads');
  }
}

describe('the token endpoint', () => {
  it('reads the person, their units, the app and the node at most once for a refresh grant with a resource', async () => {
    const refreshToken = await signedIn('alice');
    const { result, reads } = await tablesRead(() =>
      client.refreshTokenGrant(rp, refreshToken, { resource: ENG_NODE }),
    );
    expect(decodeJwt(result.access_token)).toMatchObject({ aud: ENG_NODE, im_domains: ['eng.campus.test'] });
    expect(reads.users ?? 0).toBeLessThanOrEqual(1);
    expect(reads.apps ?? 0).toBeLessThanOrEqual(1);
    expect(reads.memberships ?? 0).toBeLessThanOrEqual(1);
    // The refresh token, the grant, the client; the app, the person, their units, the nodes serving them.
    // (The domain registry is left out: the gateway's timers may read it meanwhile, as they read ended access.)
    const tables = ['oidc_payloads', 'apps', 'users', 'memberships', 'org_units'];
    expect(tables.reduce((sum, t) => sum + (reads[t] ?? 0), 0)).toBeLessThanOrEqual(7);
  });

  it("reads no unit for a campus-wide app's bot, and the nodes serving the campus once for several tokens", async () => {
    const desk = await registerTestApp(gateway, {
      name: 'Campus Desk',
      redirectUris: ['http://localhost:9/desk-cb'],
      botEnabled: true,
    });
    let servingReads = 0;
    gateway.sequelize.addHook('afterQuery', 'count-serving', (_options, query) => {
      if (/\bdomain_units\b/.test(String((query as unknown as { sql?: string }).sql ?? ''))) servingReads += 1;
    });
    try {
      const { reads } = await tablesRead(async () => {
        for (let i = 0; i < 3; i += 1) await botToken(gateway, desk, ENG_NODE);
      });
      expect(reads.org_units).toBeUndefined();
      expect(servingReads).toBe(1);
    } finally {
      gateway.sequelize.removeHook('afterQuery', 'count-serving');
    }
  });

  it('keeps the person, their units, the app and the node between requests until one of them changes', async () => {
    const refreshToken = await signedIn('alice');
    const first = await client.refreshTokenGrant(rp, refreshToken, { resource: ENG_NODE });
    const kept = await tablesRead(() => client.refreshTokenGrant(rp, first.refresh_token!, { resource: ENG_NODE }));
    expect(kept.reads).toMatchObject({ read_version: 1 });
    for (const table of ['users', 'apps', 'memberships', 'org_units']) expect(kept.reads[table]).toBeUndefined();
    // The refresh token with its grant, in one statement (the client is kept).
    expect(kept.reads.oidc_payloads).toBe(1);

    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'alice', { displayName: 'Alice C.' });
    const changed = await tablesRead(() =>
      client.refreshTokenGrant(rp, kept.result.refresh_token!, { resource: ENG_NODE }),
    );
    expect(changed.reads.users).toBe(1);
    expect(decodeJwt(changed.result.access_token).name).toBe('Alice C.');
  });

  it('names the home node and every node of a person of two colleges in the token', async () => {
    const { tokens } = await codeFlow(rp, REDIRECT, 'carol', {
      scope: 'openid profile atrium im offline_access',
      resource: ENG_NODE,
    });
    const nodeToken = await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: ENG_NODE });
    expect(decodeJwt(nodeToken.access_token)).toMatchObject({
      im_home_domain: 'arts.campus.test',
      im_domains: ['arts.campus.test', 'eng.campus.test'],
    });
  });

  it('refuses the very next refresh of a person whose account was made inactive', async () => {
    const refreshToken = await signedIn('dave');
    const rotated = await client.refreshTokenGrant(rp, refreshToken, { resource: ENG_NODE });
    // Straight in the database, as another gateway process or a directory sync would leave it.
    await gateway.models.User.update({ status: 'disabled' }, { where: { username: 'dave' } });
    try {
      await expect(client.refreshTokenGrant(rp, rotated.refresh_token!, { resource: ENG_NODE })).rejects.toMatchObject({
        error: 'invalid_grant',
      });
    } finally {
      await gateway.models.User.update({ status: 'active' }, { where: { username: 'dave' } });
    }
  });

  it('refuses the very next refresh for a node the person no longer belongs to', async () => {
    const refreshToken = await signedIn('carol');
    const rotated = await client.refreshTokenGrant(rp, refreshToken, { resource: ENG_NODE });
    expect(decodeJwt(rotated.access_token).im_domains).toContain('eng.campus.test');
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'carol', {
      units: ['campus/arts/music'],
      moveChat: true,
    });
    await expect(client.refreshTokenGrant(rp, rotated.refresh_token!, { resource: ENG_NODE })).rejects.toMatchObject({
      error: 'invalid_target',
    });
  });

  it('refuses the very next refresh with the client of an app just disabled', async () => {
    const refreshToken = await signedIn('alice');
    const rotated = await client.refreshTokenGrant(rp, refreshToken, { resource: ENG_NODE });
    await setAppDisabled({ ...gateway.context(null), actor: operator('test') }, slug, true);
    try {
      await expect(client.refreshTokenGrant(rp, rotated.refresh_token!, { resource: ENG_NODE })).rejects.toMatchObject({
        error: 'invalid_client',
      });
    } finally {
      await setAppDisabled({ ...gateway.context(null), actor: operator('test') }, slug, false);
    }
  });
});

/** An app opened again by a signed-in person: authorize with prompt=none on the browser's session; the code. */
async function silentCode(agent: BrowserAgent, scope: string): Promise<string | null> {
  return (await silentCallback(agent, scope)).searchParams.get('code');
}

/** Where the browser comes back to the app from a silent sign-in. */
async function silentCallback(agent: BrowserAgent, scope: string, verifier = client.randomPKCECodeVerifier()) {
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope,
    prompt: 'none',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const page = await agent.navigate(url.toString(), {}, REDIRECT);
  return new URL(page.url);
}

/** The silent sign-in's code exchanged as the app does. */
const exchange = (callback: URL, verifier: string) =>
  client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });

describe("a silent sign-in's code", () => {
  it('is read with its grant and its session in one statement', async () => {
    const { agent } = await codeFlow(rp, REDIRECT, 'alice', { scope: 'openid profile' });
    const verifier = client.randomPKCECodeVerifier();
    const callback = await silentCallback(agent, 'openid profile', verifier);
    const { result, reads } = await tablesRead(() => exchange(callback, verifier));
    expect(result.claims()?.preferred_username).toBe('alice');
    expect(reads.oidc_payloads).toBe(1);
  });

  it('comes from an authorization that reads the session with its grant for the app in one statement', async () => {
    const { agent } = await codeFlow(rp, REDIRECT, 'alice', { scope: 'openid profile' });
    const { result, reads } = await tablesRead(() => silentCode(agent, 'openid profile'));
    expect(result).toBeTruthy();
    expect(reads.oidc_payloads).toBe(1);
  });

  it('is refused once the session it came from has ended', async () => {
    const { agent } = await codeFlow(rp, REDIRECT, 'alice', { scope: 'openid profile' });
    const verifier = client.randomPKCECodeVerifier();
    const callback = await silentCallback(agent, 'openid profile', verifier);
    const code = callback.searchParams.get('code')!;
    const { OidcPayload } = gateway.models;
    const stored = (await OidcPayload.findOne({ where: { model: 'AuthorizationCode', id: code } }))!;
    const { sessionUid } = JSON.parse(stored.payload) as { sessionUid: string };
    expect(await OidcPayload.destroy({ where: { model: 'Session', uid: sessionUid } })).toBe(1);
    await expect(exchange(callback, verifier)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

/** Grants (or sessions) written while `run` goes (statements inserting into the provider's store with that model). */
async function grantWrites(run: () => Promise<unknown>, kind = 'Grant'): Promise<number> {
  let writes = 0;
  gateway.sequelize.addHook('afterQuery', 'count-grants', (options, query) => {
    const sql = String((query as unknown as { sql?: string }).sql ?? '');
    const replacements = (options as { replacements?: unknown }).replacements;
    const model = Array.isArray(replacements) ? replacements[0] : undefined;
    if (/^\s*INSERT INTO\s+[`"]?oidc_payloads/i.test(sql) && model === kind) writes += 1;
  });
  try {
    await run();
  } finally {
    gateway.sequelize.removeHook('afterQuery', 'count-grants');
  }
  return writes;
}

describe('a first-party app opened again', () => {
  it('signs the person in silently without rewriting the grant, and adds to it what the app asks for anew', async () => {
    const { agent } = await codeFlow(rp, REDIRECT, 'alice', { scope: 'openid profile' });
    let code: string | null = null;
    expect(await grantWrites(async () => (code = await silentCode(agent, 'openid profile')))).toBe(0);
    expect(code).toBeTruthy();
    expect(await grantWrites(async () => (code = await silentCode(agent, 'openid profile email')))).toBe(1);
    expect(code).toBeTruthy();
    expect(await grantWrites(async () => (code = await silentCode(agent, 'openid email')))).toBe(0);
    expect(code).toBeTruthy();
  });

  it('does not rewrite the session it did not change, and keeps what a change adds to it', async () => {
    const { agent } = await codeFlow(rp, REDIRECT, 'alice', { scope: 'openid profile' });
    let code: string | null = null;
    expect(await grantWrites(async () => (code = await silentCode(agent, 'openid profile')), 'Session')).toBe(0);
    expect(code).toBeTruthy();
    // Another app opened in the same browser adds its authorization to the session: written.
    const other = await registerTestApp(gateway, { name: 'Library', redirectUris: [REDIRECT], firstParty: true });
    const otherRp = await discover(gateway.issuer, other.clientId, other.clientSecret);
    const url = client.buildAuthorizationUrl(otherRp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    let page: { url: string } | undefined;
    expect(await grantWrites(async () => (page = await agent.navigate(url.toString(), {}, REDIRECT)), 'Session')).toBe(
      1,
    );
    expect(new URL(page!.url).searchParams.get('code')).toBeTruthy();
    // Both apps still open silently on that session.
    expect(await silentCode(agent, 'openid profile')).toBeTruthy();
    const again = await agent.navigate(url.toString(), {}, REDIRECT);
    expect(new URL(again.url).searchParams.get('code')).toBeTruthy();
  });
});

describe("a person's units", () => {
  it('are read in one round trip for several people, primary unit first, as whole units', async () => {
    await addPeople(gateway, ['units-one', 'units-two'], 'campus/eng/cs');
    const ctx = { ...gateway.context(null), actor: operator('test') };
    await updateUser(ctx, 'units-two', { units: ['campus/arts/music', 'campus/eng/ee'] });
    const { User } = gateway.models;
    const one = (await User.findOne({ where: { username: 'units-one' } }))!;
    const two = (await User.findOne({ where: { username: 'units-two' } }))!;
    const { result, reads } = await tablesRead(() => membershipsOf(gateway.context(null), [one.id, two.id]));
    expect(reads.memberships).toBe(1);
    expect(reads.org_units ?? 0).toBe(0);
    expect(result.get(one.id)!.map((m) => [m.unit.path, m.primary])).toEqual([['campus/eng/cs', true]]);
    expect(result.get(two.id)!.map((m) => [m.unit.path, m.primary])).toEqual([
      ['campus/arts/music', true],
      ['campus/eng/ee', false],
    ]);
    const music = result.get(two.id)![0]!.unit;
    expect(music.name).toBeTruthy();
    expect(music.createdAt).toBeInstanceOf(Date);
    expect(Number.isNaN(music.createdAt.getTime())).toBe(false);
    const stored = (await gateway.models.OrgUnit.findOne({ where: { path: 'campus/arts/music' } }))!;
    expect(music.toJSON()).toEqual(stored.toJSON());
  });
});
