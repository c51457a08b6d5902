import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { AtriumClient } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { asOperator, register } from './helpers.ts';

const REDIRECT = 'http://localhost:9/timetable-cb';

let gateway: TestGateway;
let eng: TestNode;
let timetable: { slug: string; clientId: string; clientSecret: string };
let token: string;

beforeAll(async () => {
  gateway = await startTestGateway('disabled-app');
  // The node asks the gateway about clients every second here (REGISTRY_TTL_SECONDS), not every 30 s.
  eng = await startTestNode(gateway, 'eng.campus.test', { REGISTRY_TTL_SECONDS: '1' });
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  const app = await register(gateway, {
    name: 'Timetable',
    slug: 'timetable',
    redirectUris: [REDIRECT],
    firstParty: true,
  });
  timetable = { slug: 'timetable', clientId: app.clientId, clientSecret: app.clientSecret! };
  // Alice signs in to the app, which asks for a token for the chat node (to post her timetable changes).
  const rp = await discover(gateway.issuer, timetable.clientId, timetable.clientSecret);
  const { tokens } = await codeFlow(rp, REDIRECT, 'alice', {
    scope: 'openid im offline_access',
    prompt: 'consent',
    resource: eng.url,
  });
  token = (await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: eng.url })).access_token;
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

const me = (bearer: string) => fetch(`${eng.url}/api/v1/me`, { headers: { authorization: `Bearer ${bearer}` } });

describe('a disabled app', () => {
  it("loses its people's node tokens within the node's cache time: its sockets close, new ones and HTTP calls are refused", async () => {
    const first = await me(token);
    expect(first.status).toBe(200);
    const socket = new AtriumClient({
      url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`,
      token: () => token,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    await socket.connect();
    const portalUser = await connectAs(gateway, eng, 'dave');
    const ended = socket.once('ended', () => true, 15_000);

    await setAppDisabled(asOperator(gateway), timetable.slug, true);
    await expect.poll(async () => (await me(token)).status, { timeout: 10_000 }).toBe(401);
    expect(await (await me(token)).json()).toMatchObject({ error: { code: 'client_disabled' } });
    expect(await ended).toEqual({ code: 4403, reason: 'client_disabled' });
    expect(socket.state).toBe('closed');
    // Reconnecting cannot help (the close is final), and the portal's people are not touched.
    await expect(
      new AtriumClient({ url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`, token: () => token }).connect(),
    ).rejects.toMatchObject({ code: 'client_disabled' });
    expect(portalUser.state).toBe('online');
    portalUser.close();

    await setAppDisabled(asOperator(gateway), timetable.slug, false);
    await expect.poll(async () => (await me(token)).status, { timeout: 10_000 }).toBe(200);
  });
});
