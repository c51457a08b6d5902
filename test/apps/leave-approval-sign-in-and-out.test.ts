import session, { type SessionData } from 'express-session';
import { generateKeyPair, importJWK, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endSessions } from '../../examples/leave-approval/end-sessions.ts';
import type { LeaveApp } from '../../examples/leave-approval/main.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { operator } from '../../gateway/context.ts';
import { loadPrivateJwks } from '../../gateway/oidc/keys.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { dayFromToday, startLeaveApprovalFor } from '../helpers/leave-approval.ts';
import { chromiumMissing, launchChromium, PHONE } from '../portal/browser.ts';
import { ensureRegistered } from '../../cli/register-leave-approval.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { loadClient } from '../../gateway/apps-registry/client-metadata.ts';
import { callbackSecretSealer } from '../../gateway/apps-registry/secrets.ts';
import { join } from 'node:path';
import { gatewayToken } from './helpers.ts';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const CAMPUS_ENDED =
  'You were signed out by your campus sign-in (signed out elsewhere, or by an administrator). Sign in again';

let gateway: TestGateway;
let app: LeaveApp;
let appUrl: string;
let clientId: string;

const text = (page: Page) =>
  page.html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c)))
    .replace(/\s+/g, ' ');
const isSignedIn = async (agent: BrowserAgent, name: string) =>
  text(await agent.navigate(`${appUrl}/`)).includes(`Signed in as ${name}`);
/** Whether the browser still holds a session of the app itself (no silent sign-in followed). */
const hasAppSession = async (agent: BrowserAgent) => {
  const response = await agent.request(`${appUrl}/`);
  return response.status === 200 && (await response.text()).includes('Signed in as');
};
const subOf = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!.id;

/** Opens the app as a person signed in at the gateway does from the workbench: its home URL, no click. */
async function openedFromWorkbench(username: string): Promise<{ agent: BrowserAgent; page: Page }> {
  const { agent } = await gatewayToken(gateway, username);
  return { agent, page: await agent.navigate(`${appUrl}/`) };
}

async function signOutAtGateway(agent: BrowserAgent): Promise<void> {
  const confirm = await agent.navigate(`${gateway.issuer}/session/end`);
  expect(confirm.html).toContain('Sign out?');
  await agent.submit(confirm, formWithAction(confirm, '/session/end/confirm'), { logout: 'yes' });
}

/** A logout token signed with the gateway's own signing key, so only the claims under test are wrong. */
async function gatewaySigned(claims: JWTPayload, typ = 'logout+jwt'): Promise<string> {
  const [jwk] = await loadPrivateJwks(gateway.models, gateway.sealer);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: jwk!.kid!, typ })
    .sign(await importJWK(jwk!, 'RS256'));
}

const postLogout = (token: string | undefined) =>
  fetch(`${appUrl}/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: token === undefined ? '' : new URLSearchParams({ logout_token: token }),
  });

beforeAll(async () => {
  gateway = await startTestGateway('leave-sso', { LOGIN_IP_LIMIT: '1000' });
  // Nobody files leave here, so the chat nodes are never reached.
  ({ app, url: appUrl } = await startLeaveApprovalFor(gateway, {
    eng: 'http://127.0.0.1:9',
    arts: 'http://127.0.0.1:9',
  }));
  clientId = (await gateway.models.App.findOne({ where: { slug: 'leave-approval' } }))!.clientId;
});
afterAll(async () => {
  await app?.close();
  await gateway?.stop();
});

describe('signing in to the leave-approval example and out of it', () => {
  it('opens signed in from the workbench, without a click, and offers the link to someone not signed in', async () => {
    const { page } = await openedFromWorkbench('alice');
    expect(page.url).toBe(`${appUrl}/`);
    expect(text(page)).toContain('Signed in as Alice Chen');

    const stranger = await new BrowserAgent().navigate(`${appUrl}/`);
    expect(stranger.url).toBe(`${appUrl}/`);
    expect(stranger.status).toBe(200);
    expect(stranger.html).toContain('href="/login"');
  });

  it('signing out of the app stays signed out there, even while the gateway session lasts', async () => {
    const { agent, page } = await openedFromWorkbench('alice');
    // She declines to end the gateway session too; the app must not sign her straight back in.
    const confirm = await agent.submit(page, formWithAction(page, '/logout'));
    expect(confirm.html).toContain('Sign out?');
    const back = await agent.navigate(`${appUrl}/`);
    expect(back.url).toBe(`${appUrl}/`);
    expect(back.html).toContain('href="/login"');
    expect(text(back)).not.toContain('Signed in as');
  });

  it("ends the app's session of the browser that signs out at the gateway, and only that one", async () => {
    const { agent: laptop } = await openedFromWorkbench('alice');
    const { agent: phone } = await openedFromWorkbench('alice');
    expect(await isSignedIn(laptop, 'Alice Chen')).toBe(true);
    expect(await isSignedIn(phone, 'Alice Chen')).toBe(true);
    const form = await laptop.navigate(`${appUrl}/`);

    await signOutAtGateway(laptop);
    await expect.poll(() => hasAppSession(laptop), { timeout: 5000 }).toBe(false);
    // A leave form filled in before is not sent, and says why rather than blaming the form.
    const late = await laptop.submit(form, formWithAction(form, '/requests'), {
      from: '2027-01-10',
      to: '2027-01-12',
      reason: 'Family visit',
    });
    expect(late.status).toBe(401);
    expect(text(late)).toContain(
      'You are signed out Your campus sign-in ended (signed out elsewhere, or by an administrator), so nothing was sent.',
    );
    expect(late.html).toContain('href="/login"');
    expect(await isSignedIn(laptop, 'Alice Chen')).toBe(false);
    // Reloading after the sign-out lands on the link and says why, not in a loop of silent sign-ins.
    const reloaded = await laptop.navigate(`${appUrl}/`);
    expect(reloaded.url).toBe(`${appUrl}/`);
    expect(text(reloaded)).toContain(CAMPUS_ENDED);
    expect(reloaded.html).toContain('<a href="/login">Sign in again</a>');
    expect(await hasAppSession(phone)).toBe(true);
    // Signing in again starts afresh.
    const again = await signInThrough(laptop, `${appUrl}/login`, 'alice', DEMO_PASSWORD);
    expect(text(again)).toContain('Signed in as Alice Chen');
    expect(text(again)).not.toContain(CAMPUS_ENDED);
  });

  it("ends all of a person's sessions in the app when an administrator disables them", async () => {
    const browser = new BrowserAgent();
    await signInThrough(browser, `${appUrl}/login`, 'dave', DEMO_PASSWORD);
    expect(await isSignedIn(browser, 'Dave Okafor')).toBe(true);

    await updateUser({ ...gateway.context(null), actor: operator('test') }, await subOf('dave'), {
      status: 'disabled',
    });
    await expect.poll(() => isSignedIn(browser, 'Dave Okafor'), { timeout: 10_000 }).toBe(false);
    expect(text(await browser.navigate(`${appUrl}/`))).toContain(CAMPUS_ENDED);
  });

  it('keeps nothing of the person in a session the campus ended, only that it ended', async () => {
    const store = new session.MemoryStore();
    const put = (id: string, data: object) =>
      new Promise<void>((resolve, reject) => store.set(id, data as SessionData, (e) => (e ? reject(e) : resolve())));
    const cookie = { originalMaxAge: null, httpOnly: true, path: '/' };
    const person = {
      sub: 'sub-1',
      username: 'ines',
      name: 'Ines Ivanova',
      address: 'ines@eng.campus.test',
      sid: 's-1',
    };
    await put('ended', { cookie, csrf: 'form-token', notice: 'Sent to Carol', passport: { user: person } });
    await put('other', { cookie, passport: { user: { ...person, sid: 's-2' } } });

    expect(await endSessions(store, { sub: 'sub-1', sid: 's-1' })).toBe(1);
    const kept = await new Promise((resolve) => store.get('ended', (_e, data) => resolve(data)));
    expect(kept).toEqual({ cookie: expect.objectContaining({ path: '/' }), endedByCampus: true });
    const other = await new Promise((resolve) => store.get('other', (_e, data) => resolve(data)));
    expect(other).toMatchObject({ passport: { user: { sid: 's-2' } } });
  });

  it('refuses forged, unsigned, foreign and stale logout tokens, and they end nothing', async () => {
    const { agent } = await openedFromWorkbench('bob');
    expect(await isSignedIn(agent, 'Bob Martin')).toBe(true);
    const now = Math.floor(Date.now() / 1000);
    const good = {
      iss: gateway.issuer,
      aud: clientId,
      sub: await subOf('bob'),
      iat: now,
      exp: now + 120,
      jti: 'logout-1',
      events: { [LOGOUT_EVENT]: {} },
    };
    const { privateKey } = await generateKeyPair('RS256');
    const [gatewayKey] = await loadPrivateJwks(gateway.models, gateway.sealer);
    const forged = await new SignJWT(good)
      .setProtectedHeader({ alg: 'RS256', kid: gatewayKey!.kid!, typ: 'logout+jwt' })
      .sign(privateKey);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64(good)}.`;
    const { events: _events, ...noEvent } = good;

    const refused = {
      missing: undefined,
      'not a JWT': 'logout',
      unsigned,
      'signed by another key': forged,
      'for another app': await gatewaySigned({ ...good, aud: 'some-other-client' }),
      'from another issuer': await gatewaySigned({ ...good, iss: 'http://elsewhere.test' }),
      'an hour old': await gatewaySigned({ ...good, iat: now - 3600, exp: now + 60 }),
      'an ID token': await gatewaySigned({ ...noEvent, nonce: 'n-1' }, 'JWT'),
      'with a nonce': await gatewaySigned({ ...good, nonce: 'n-1' }),
      'naming nobody': await gatewaySigned({ ...good, sub: undefined }),
    };
    for (const [name, token] of Object.entries(refused)) {
      const answer = await postLogout(token);
      expect(answer.status, name).toBe(400);
      expect(await answer.json(), name).toMatchObject({ error: 'invalid_request' });
    }
    expect(await hasAppSession(agent)).toBe(true);

    // The same token with its claims right is taken: what was refused was refused for its flaw.
    const taken = await postLogout(await gatewaySigned(good));
    expect(taken.status).toBe(200);
    // Only the app's session ends; the gateway's lasts, so opening the app again signs in silently.
    expect(await hasAppSession(agent)).toBe(false);
  });

  it('brings a registration from an older demo, without back-channel logout, up to date on start', async () => {
    const ctx = { ...gateway.context(null), actor: operator('test') };
    await updateApp(ctx, 'leave-approval', { backchannelLogoutUri: null });
    expect((await loadClient(ctx, clientId))?.backchannel_logout_uri).toBeUndefined();

    await ensureRegistered(ctx, callbackSecretSealer(gateway.config.secretKey), {
      publicUrl: appUrl,
      credentialsFile: join(gateway.db.dataDir, 'leave-credentials.json'),
    });
    expect(await loadClient(ctx, clientId)).toMatchObject({
      backchannel_logout_uri: `${appUrl}/backchannel-logout`,
      backchannel_logout_session_required: true,
    });
  });
});

describe('the leave-approval example for a student', () => {
  it('names the approver on every request once it knows her name, older requests too', async () => {
    const student = new BrowserAgent();
    const home = await signInThrough(student, `${appUrl}/login`, 'alice', DEMO_PASSWORD);
    await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: dayFromToday(5),
      to: dayFromToday(6),
      reason: 'Orchestra tour',
    });
    // Carol has never opened the app: it knows her by her chat address only.
    expect(approverCells(await student.navigate(`${appUrl}/`))).toEqual(['carol@arts.campus.test']);

    await signInThrough(new BrowserAgent(), `${appUrl}/login`, 'carol', DEMO_PASSWORD);
    expect(approverCells(await student.navigate(`${appUrl}/`))).toEqual(['Carol Silva']);
  });

  it.skipIf(chromiumMissing)(
    'fits a phone screen: the requests stack instead of running off the side',
    {
      timeout: 60_000,
    },
    async () => {
      const browser = await launchChromium();
      try {
        const context = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
        const page = await context.newPage();
        await page.goto(`${appUrl}/login`);
        await page.fill('#username', 'alice');
        await page.fill('#password', DEMO_PASSWORD);
        await page.click('button[type=submit]');
        await page.waitForURL(`${appUrl}/`);
        await page.fill('#from', dayFromToday(10));
        await page.fill('#to', dayFromToday(12));
        await page.fill('#reason', 'Regional chamber music competition with the university string quartet');
        await page.click('button[type=submit]:has-text("Send to my approver")');
        await page.waitForSelector('td:has-text("Regional chamber music")');
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        expect(width).toBeLessThanOrEqual(PHONE.width);
        // Each request still says what each of its lines is.
        expect(
          await page
            .locator('td[data-label="Approver"]')
            .first()
            .evaluate((td) => getComputedStyle(td, '::before').content),
        ).toBe('"Approver: "');
      } finally {
        await browser.close();
      }
    },
  );
});

/** What the Approver column says, row by row. */
function approverCells(page: Page): string[] {
  return [...page.html.matchAll(/<td data-label="Approver">([^<]*)<\/td>/g)].map((m) =>
    m[1]!.replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c))),
  );
}
