import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from '../helpers/browser-agent.ts';
import { inetOrgPerson, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { RESET_URL, register, startSignInGateway, sync, type SignInGateway } from './fixtures.ts';

let signIn: SignInGateway;
let ldap: TestSlapd;

beforeAll(async () => {
  signIn = await startSignInGateway('dir-locked-out', 'Timetable', 2);
  ldap = await startTestSlapd({
    ldif: inetOrgPerson({ uid: 'lena', name: 'Lena Lind', password: 'lena-in-the-directory' }),
  });
  await register(signIn.gateway, 'campus-ldap', ldap.url);
  expect(await sync(signIn.gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', added: 1 });
});
afterAll(async () => {
  await signIn?.gateway.stop();
  await ldap?.stop();
});

/** The login page's alert as the person reads it, links and all. */
const alertWords = (page: Page) =>
  /role="alert">(.*?)<\/p>/s
    .exec(page.html)?.[1]
    ?.replace(/<[^>]+>/g, '')
    .replace(/&#x27;/g, "'");

/** Wrong passwords until the account is locked, then its right one: the locked page. */
async function lockedPage(username: string, password: string): Promise<Page> {
  for (let i = 0; i < 2; i++) expect((await signIn.attempt(username, `wrong-${i}-password`)).status).toBe(401);
  const page = await signIn.attempt(username, password);
  expect(page.status).toBe(429);
  return page;
}

describe('a locked account', () => {
  it("sends a directory person to the directory's password page or IT, not to a reset they cannot use", async () => {
    const page = await lockedPage('lena', 'lena-in-the-directory');
    expect(alertWords(page)).toBe(
      'Too many failed attempts (wrong passwords or codes): signing in to this account is paused. Try again in 10 ' +
        'minutes. You can still sign in on a browser or device you have signed in with before. ' +
        "If you have forgotten your password: for a campus directory account, choose a new one at the directory's " +
        `password page, ${RESET_URL}, or ask your campus IT; for any other account, with “Forgot your password?” below.`,
    );
    expect(page.html).toContain(`<a href="${RESET_URL}" rel="noopener">${RESET_URL}</a>`);
  });

  it('reads the same for a local account, so that it tells nobody who comes from the directory', async () => {
    const local = await lockedPage('dave', 'atrium-demo');
    const directory = await signIn.attempt('lena', 'lena-in-the-directory');
    expect(alertWords(local)).toBe(alertWords(directory));
  });
});
