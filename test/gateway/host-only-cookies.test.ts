import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { BrowserAgent, signInThrough } from '../helpers/browser-agent.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Behind TLS, a campus's other hosts (www, a student's pages) are the same site as the gateway: SameSite
 * lets their forms through, and a cookie they set for the whole domain reaches the gateway. The gateway's
 * form cookie is therefore host-only (`__Host-`), which a browser takes from the gateway's own host alone,
 * and a cookie of the old name, which a sibling can set, counts for nothing.
 */
const ISSUER = 'https://sso.campus.test';
let gateway: TestGateway;
let base: string;
const plainFetch = globalThis.fetch;
/** Every cookie set as host-only, as the gateway wrote it. */
const hostOnly: string[] = [];

/**
 * The gateway as it runs behind a TLS-terminating proxy: an https issuer, plain http inside. The proxy is
 * played by the process's fetch, which the gateway's own sign-ins (portal, console) use too: a request
 * for the issuer goes to the gateway's port, saying it came over https.
 */
beforeAll(async () => {
  gateway = await startTestGateway('host-only-cookies', { ATRIUM_ISSUER: ISSUER, ATRIUM_TRUST_PROXY: 'true' });
  base = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
  globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (url.origin !== ISSUER) return plainFetch(input, init);
    const request = new Request(input, init);
    const headers = new Headers(request.headers);
    headers.set('x-forwarded-proto', 'https');
    headers.set('x-forwarded-host', url.host);
    const body = request.body ? await request.arrayBuffer() : undefined;
    const response = await plainFetch(`${base}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body,
      redirect: request.redirect,
    });
    hostOnly.push(...response.headers.getSetCookie().filter((c) => c.startsWith('__Host-')));
    return response;
  };
});
afterAll(async () => {
  globalThis.fetch = plainFetch;
  await gateway?.stop();
});

/** The forgot-password form as a browser gets it: its cookie (name=value) and the token in the form. */
async function formAndCookie(): Promise<{ setCookie: string; name: string; value: string; token: string }> {
  const page = await fetch(`${base}/password/forgot`);
  const setCookie = page.headers.getSetCookie().find((c) => c.includes('atrium.csrf'))!;
  const [name, value] = setCookie.split(';')[0]!.split('=') as [string, string];
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  return { setCookie, name, value, token };
}

const postForgot = (cookie: string, token: string) =>
  fetch(`${base}/password/forgot`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ _csrf: token, identifier: 'nobody-here' }),
  });

describe('the form cookie behind TLS', () => {
  it('is host-only, secure and for the whole gateway', async () => {
    const { setCookie, name } = await formAndCookie();
    expect(name).toBe('__Host-atrium.csrf');
    expect(setCookie).toMatch(/; Secure/i);
    expect(setCookie).toMatch(/; Path=\//i);
    expect(setCookie).not.toMatch(/Domain=/i);
  });

  it('alone makes a form count: one a sibling host could set, with a token it got here, is refused', async () => {
    // What another host of the campus can do: fetch a pair of its own, and set the cookie for the domain.
    const { value, token } = await formAndCookie();
    const tossed = await postForgot(`atrium.csrf=${value}`, token);
    expect(tossed.status).toBe(403);
    expect(await tossed.text()).toContain('did not come from this site');

    expect((await postForgot(`__Host-atrium.csrf=${value}`, token)).status).toBe(200);
  });
});

/** The names of the cookies a browser holds for the gateway. */
const cookieNames = (agent: BrowserAgent) => [...(agent.cookies.get(new URL(ISSUER).host) ?? new Map()).keys()];

describe('being signed in, behind TLS', () => {
  it('is held in host-only cookies: the gateway’s sign-in, the portal’s and the console’s', async () => {
    const portal = new BrowserAgent();
    const home = await signInThrough(portal, `${ISSUER}/`, 'alice', DEMO_PASSWORD);
    expect(home.url).toBe(`${ISSUER}/`);
    expect(home.status).toBe(200);
    expect(cookieNames(portal)).toEqual(expect.arrayContaining(['__Host-_session', '__Host-atrium.portal']));
    expect(cookieNames(portal)).not.toEqual(expect.arrayContaining(['_session']));
    expect(cookieNames(portal)).not.toEqual(expect.arrayContaining(['atrium.portal']));

    const { agent: console } = await signInToConsole(ISSUER, 'admin');
    expect(cookieNames(console)).toContain('__Host-atrium.admin');
    const dashboard = await console.navigate(`${ISSUER}/admin`);
    expect(dashboard.url).toBe(`${ISSUER}/admin/users`);
    expect(dashboard.html).toContain('Sign out');

    // A browser keeps a `__Host-` cookie only if it is Secure, for the whole site and for this host alone.
    expect(hostOnly.length).toBeGreaterThan(0);
    for (const line of hostOnly) {
      expect(line).toMatch(/; secure/i);
      expect(line).toMatch(/; path=\/(;|$)/i);
      expect(line).not.toMatch(/domain=/i);
    }
  });

  it('counts only from those: a portal session a sibling host set under the plain name is not signed in', async () => {
    const agent = new BrowserAgent();
    await signInThrough(agent, `${ISSUER}/`, 'alice', DEMO_PASSWORD);
    const session = agent.cookies.get(new URL(ISSUER).host)!.get('__Host-atrium.portal')!;
    const me = (cookie: string) =>
      fetch(`${ISSUER}/portal/api/me`, { headers: { cookie, accept: 'application/json', 'x-atrium-portal': '1' } });

    expect((await me(`atrium.portal=${session}`)).status).toBe(401);
    expect((await me(`__Host-atrium.portal=${session}`)).status).toBe(200);
  });
});
