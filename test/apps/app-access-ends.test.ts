import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteApp } from '../../gateway/apps-registry/delete-app.ts';
import { rotateClientSecret } from '../../gateway/apps-registry/rotate-secrets.ts';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { removeAppAccess } from '../../gateway/oidc/allowed-apps.ts';
import type { EndedAccess } from '../../node/auth/ended-access.ts';
import { endingCreatorsWebhooks } from '../../node/webhooks/ended-creators.ts';
import { AtriumClient } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, fetchMe, startTestNode, type TestNode } from '../helpers/node.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { asOperator, botToken, client, nodeApi, register } from './helpers.ts';

const APP_REDIRECT = 'http://localhost:9/rooms';
const DAVE = 'dave@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
let alice: Awaited<ReturnType<typeof connectAs>>;

beforeAll(async () => {
  gateway = await startTestGateway('app-access-ends', { LOGIN_IP_LIMIT: '1000' });
  // A short app cache: the node asks the gateway about an app again within the test.
  eng = await startTestNode(gateway, 'eng.campus.test', { REGISTRY_TTL_SECONDS: '1' });
  alice = await connectAs(gateway, eng, 'alice');
});
afterAll(async () => {
  alice?.close();
  await eng?.stop();
  await gateway?.stop();
});

/** A third-party app (not first-party), and a chat token it got through a person's consent. */
async function appWithConsent(name: string, slug: string, username: string) {
  const app = await register(gateway, { name, slug, redirectUris: [APP_REDIRECT], botEnabled: true });
  const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  const consent = async () => {
    const { tokens } = await codeFlow(rp, APP_REDIRECT, username, {
      scope: 'openid im offline_access',
      resource: eng.url,
    });
    return (await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: eng.url })).access_token;
  };
  return { app, token: await consent(), consent };
}

const userOf = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;

async function post(url: string, text: string): Promise<number> {
  const response = await fetch(url.replace(eng.url, eng.localUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return response.status;
}

/** A webhook the app makes with its token in a group alice owns. */
async function appsWebhook(token: string, groupId: string, name: string) {
  const made = await nodeApi(eng.localUrl, `/api/v1/conversations/${groupId}/webhooks`, token, {
    method: 'POST',
    body: { name },
  });
  expect(made.status).toBe(201);
  return made.body as { webhook: Record<string, unknown>; url: string };
}

describe("a webhook an app makes with a person's token", () => {
  it("is listed as the app's for them, and ends when they remove the app's access; theirs go on", async () => {
    const { app, token, consent } = await appWithConsent('Room Booking', 'room-booking', 'alice');
    const group = await alice.createGroup('Facilities desk', [DAVE]);
    const made = await appsWebhook(token, group.id, 'Facilities');
    expect(made.webhook).toMatchObject({
      createdBy: 'alice@eng.campus.test',
      createdVia: { clientId: app.clientId, name: 'Room Booking' },
    });
    const own = await alice.createWebhook(group.id, 'Her own');
    const listed = await nodeApi(eng.localUrl, `/api/v1/conversations/${group.id}/webhooks`, token);
    expect(listed.body.webhooks).toEqual([
      expect.objectContaining({ name: 'Facilities', createdVia: { clientId: app.clientId, name: 'Room Booking' } }),
      expect.objectContaining({ name: 'Her own', createdBy: 'alice@eng.campus.test' }),
    ]);
    // Made in the (test) portal, a first-party app of its own: not Room Booking's.
    expect(listed.body.webhooks[1].createdVia?.clientId).not.toBe(app.clientId);
    expect(await post(made.url, 'Room 4 is booked')).toBe(201);

    const person = await userOf('alice');
    await removeAppAccess(asOperator(gateway), person, app.clientId);
    const removedAt = Date.now();
    await expect.poll(() => post(made.url, 'still here?'), { timeout: 10_000, interval: 500 }).toBe(410);
    expect(await post(own.url, 'mine goes on')).toBe(201);

    // Allowed again, the app's new webhook is theirs again: the old entry, told again, leaves it. A token's
    // iat has whole seconds, and one issued in the second of the removal counts as before it (ended-access.ts):
    // the new consent comes in a later second, as a person's would.
    const nextSecond = (Math.floor(removedAt / 1000) + 1) * 1000 - Date.now();
    if (nextSecond > 0) await new Promise((resolve) => setTimeout(resolve, nextSecond + 20));
    const later = await appsWebhook(await consent(), group.id, 'Facilities 2');
    const told = endingCreatorsWebhooks({ record: async () => {} } as unknown as EndedAccess, {
      Webhook: eng.services.apps.Webhook,
      directory: { domain: eng.domain, gatewayIssuer: gateway.issuer, signingKey: eng.federation.keys.signingKey },
      apps: eng.services.apps.directory,
      logger: eng.logger,
    });
    const endedAt = Date.now() - 60_000;
    await told.record([
      { kind: 'sub', subject: person.id, clientId: app.clientId, endedAt, keepUntil: endedAt + 3_600_000 },
    ]);
    expect(await post(later.url, 'made after')).toBe(201);
  });

  it('ends when an administrator disables or deletes the app', async () => {
    const group = await alice.createGroup('Labs desk', [DAVE]);
    const disabled = await appWithConsent('Lab Booking', 'lab-booking', 'alice');
    const deleted = await appWithConsent('Desk Booking', 'desk-booking', 'alice');
    const hookOfDisabled = await appsWebhook(disabled.token, group.id, 'Labs');
    const hookOfDeleted = await appsWebhook(deleted.token, group.id, 'Desks');
    const own = await alice.createWebhook(group.id, 'Her labs');

    await setAppDisabled(asOperator(gateway), 'lab-booking', true);
    await expect.poll(() => post(hookOfDisabled.url, 'disabled?'), { timeout: 10_000, interval: 500 }).toBe(410);
    expect(await post(hookOfDeleted.url, 'still on')).toBe(201);
    await deleteApp(asOperator(gateway), 'desk-booking');
    await expect.poll(() => post(hookOfDeleted.url, 'deleted?'), { timeout: 10_000, interval: 500 }).toBe(410);
    expect(await post(own.url, 'mine goes on')).toBe(201);
  });
});

describe("a third-party app's token", () => {
  it('may not search the people directory by name, but looks up usernames; the portal searches', async () => {
    const { token } = await appWithConsent('Room Finder', 'room-finder', 'dave');
    const search = await nodeApi(eng.localUrl, '/api/v1/directory?q=department', token);
    expect(search.status).toBe(403);
    expect(search.body.error).toMatchObject({ code: 'forbidden' });
    expect(search.body.error.message).toContain('Room Finder may not search the people directory by name');
    const named = await nodeApi(eng.localUrl, '/api/v1/directory?usernames=alice', token);
    expect(named.status).toBe(200);
    expect(named.body.people).toEqual([expect.objectContaining({ username: 'alice' })]);

    // The portal (a first-party app) searches as before.
    const portal = await alice.login.tokenFor(eng.url);
    const found = await nodeApi(eng.localUrl, '/api/v1/directory?q=department', portal);
    expect(found.status).toBe(200);
    expect(found.body.people.length).toBeGreaterThan(1);
  });
});

describe("rotating an app's client secret", () => {
  it('ends the bot tokens issued with the old one; a token got with the new one works', async () => {
    const app = await register(gateway, {
      name: 'Shuttle Times',
      slug: 'shuttle',
      redirectUris: [APP_REDIRECT],
      botEnabled: true,
    });
    const before = await botToken(gateway, app, eng.url);
    expect((await fetchMe(eng, before)).status).toBe(200);

    const { clientSecret } = await rotateClientSecret(asOperator(gateway), app.slug);
    await expect.poll(async () => (await fetchMe(eng, before)).status, { timeout: 10_000 }).toBe(401);
    const refused = await fetchMe(eng, before);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('token_revoked');

    // A token's `iat` has whole seconds: one issued in the second of the rotation counts as before it.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const after = await botToken(gateway, { clientId: app.clientId, clientSecret }, eng.url);
    expect((await fetchMe(eng, after)).status).toBe(200);
    // The gateway's introspection says the same of both.
    const rp = await discover(gateway.issuer, app.clientId, clientSecret);
    expect(await client.tokenIntrospection(rp, before)).toEqual({ active: false });
    expect(await client.tokenIntrospection(rp, after)).toMatchObject({ active: true, sub: app.clientId });
  });

  it("closes the bot's sockets opened before, telling it why; one opened with the new secret's token stays", async () => {
    const app = await register(gateway, {
      name: 'Parking Spots',
      slug: 'parking',
      redirectUris: [APP_REDIRECT],
      botEnabled: true,
    });
    const botSocket = (token: string) =>
      new AtriumClient({
        url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`,
        token: () => token,
        backoff: { initialMs: 50, maxMs: 500 },
      });
    const before = botSocket(await botToken(gateway, app, eng.url));
    await before.connect();
    const ended = before.once('ended', () => true, 10_000);

    const { clientSecret } = await rotateClientSecret(asOperator(gateway), app.slug);
    expect(await ended).toEqual({ code: 4409, reason: 'secret_rotated', why: 'secret_rotated' });
    expect(before.state).toBe('closed');

    // A token's `iat` has whole seconds: one issued in the second of the rotation counts as before it.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const after = botSocket(await botToken(gateway, { clientId: app.clientId, clientSecret }, eng.url));
    await after.connect();
    // Another app's rotation closes nothing of this one's (the node hears of it before the rotation returns).
    await rotateClientSecret(asOperator(gateway), 'shuttle');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(after.state).toBe('online');
    after.close();
  });
});
