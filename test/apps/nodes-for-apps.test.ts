import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateClientSecret } from '../../gateway/apps-registry/rotate-secrets.ts';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { ARTS_NODE, ENG_NODE, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { actingAs, asOperator, botToken, register } from './helpers.ts';

// Few failures allowed from one address, so that the last test can reach the limit.
const FAILURES_ALLOWED = 5;

let gateway: TestGateway;
let desk: { clientId: string; clientSecret: string };

beforeAll(async () => {
  gateway = await startTestGateway('nodes-for-apps', { LOGIN_IP_LIMIT: String(FAILURES_ALLOWED) });
  desk = await register(gateway, {
    name: 'Campus Desk',
    slug: 'campus-desk',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  // A partner organization's domain: no campus app's bot gets a token there, so none is told of it.
  await addDomain(asOperator(gateway), { name: 'sales.acme.test', url: 'http://acme-proxy.example', units: [] });
});
afterAll(async () => gateway?.stop());

const basic = (clientId: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function nodes(authorization?: string) {
  const response = await fetch(`${gateway.issuer}/api/v1/nodes`, {
    headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

const CAMPUS_NODES = [
  { domain: 'arts.campus.test', url: ARTS_NODE },
  { domain: 'eng.campus.test', url: ENG_NODE },
];

describe('GET /api/v1/nodes, for apps', () => {
  it("lists the nodes a campus-wide app's bot may get tokens for, with the URL the token endpoint takes", async () => {
    const answer = await nodes(basic(desk.clientId, desk.clientSecret));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.body).toEqual({ nodes: CAMPUS_NODES });
    for (const node of answer.body.nodes as { url: string }[])
      expect(await botToken(gateway, desk, node.url)).toEqual(expect.any(String));
  });

  it('lists for an app owned by a unit only the nodes serving that unit and the units inside it', async () => {
    const approvals = await register(
      gateway,
      {
        name: 'Eng Approvals',
        slug: 'eng-approvals',
        ownerUnit: 'campus/eng',
        redirectUris: ['http://localhost:9/cb'],
      },
      await actingAs(gateway, 'eng-admin'),
    );
    const answer = await nodes(basic(approvals.clientId, approvals.clientSecret));
    expect(answer.body).toEqual({ nodes: [{ domain: 'eng.campus.test', url: ENG_NODE }] });
  });

  it('refuses a wrong secret, an unknown client and no credentials alike, as the token endpoint does', async () => {
    const refusals = [
      await nodes(basic(desk.clientId, `${desk.clientSecret}x`)),
      await nodes(basic('app-nobody', desk.clientSecret)),
      await nodes(),
    ];
    for (const refused of refusals) {
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Basic realm="atrium"');
      expect(refused.body.error.message).toMatch(/^client authentication failed/);
      expect(refused.body.nodes).toBeUndefined();
    }
    expect(refusals[0]!.body).toEqual(refusals[1]!.body);
  });

  it('answers to the previous secret while its grace lasts, and to the new one', async () => {
    const rotated = await rotateClientSecret(asOperator(gateway), 'campus-desk', { graceSeconds: 3600 });
    expect((await nodes(basic(desk.clientId, desk.clientSecret))).body).toEqual({ nodes: CAMPUS_NODES });
    expect((await nodes(basic(desk.clientId, rotated.clientSecret))).body).toEqual({ nodes: CAMPUS_NODES });
    desk = { clientId: desk.clientId, clientSecret: rotated.clientSecret };
  });

  it('tells a disabled app that proves itself that it is turned off, and anyone else nothing more', async () => {
    await setAppDisabled(asOperator(gateway), 'campus-desk', true);
    try {
      const own = await nodes(basic(desk.clientId, desk.clientSecret));
      expect(own.status).toBe(403);
      expect(own.body.error.message).toBe('the app is turned off at the gateway');
      const guess = await nodes(basic(desk.clientId, 'a-guess'));
      expect(guess.status).toBe(401);
      expect(guess.body.error.message).toBe('client authentication failed');
    } finally {
      await setAppDisabled(asOperator(gateway), 'campus-desk', false);
    }
  });
});

describe('the token endpoint', () => {
  it('says where the node URLs are when a resource is not one', async () => {
    await expect(botToken(gateway, desk, 'http://chat.eng.campus.test')).rejects.toMatchObject({
      error: 'invalid_target',
      error_description:
        'http://chat.eng.campus.test is not a registered domain node: see GET /api/v1/nodes or the im_home_node claim',
    });
  });
});

describe('guessing client secrets at GET /api/v1/nodes', () => {
  // Last: the address stays over its allowance for the rest of the window.
  it('is stopped once an address has failed as often as a sign-in may, even for the right secret', async () => {
    let failures = 0;
    let answer = await nodes(basic(desk.clientId, 'guess-0'));
    while (answer.status === 401 && failures <= FAILURES_ALLOWED) {
      failures += 1;
      answer = await nodes(basic(desk.clientId, `guess-${failures}`));
    }
    expect(answer.status).toBe(429);
    expect(answer.body.error.code).toBe('rate_limited');
    expect(answer.headers.get('retry-after')).toEqual(expect.stringMatching(/^\d+$/));
    expect((await nodes(basic(desk.clientId, desk.clientSecret))).status).toBe(429);
  });
});
