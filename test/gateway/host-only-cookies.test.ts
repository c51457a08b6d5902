import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Behind TLS, a campus's other hosts (www, a student's pages) are the same site as the gateway: SameSite
 * lets their forms through, and a cookie they set for the whole domain reaches the gateway. The gateway's
 * form cookie is therefore host-only (`__Host-`), which a browser takes from the gateway's own host alone,
 * and a cookie of the old name, which a sibling can set, counts for nothing.
 */
let gateway: TestGateway;
let base: string;

/** The gateway as it runs behind a TLS-terminating proxy: an https issuer, plain http inside. */
beforeAll(async () => {
  gateway = await startTestGateway('host-only-cookies', { ATRIUM_ISSUER: 'https://sso.campus.test' });
  base = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
});
afterAll(async () => {
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
