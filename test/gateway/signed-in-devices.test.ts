import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { Op } from 'sequelize';
import {
  BrowserAgent,
  filledFormWithAction,
  filledFormsOf,
  formWithAction,
  htmlText,
  mainText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, registerTestApp, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { openRaw, type RawSocket } from '../helpers/raw-socket.ts';
import { freePort } from '../helpers/ports.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { PORTAL_COOKIE } from '../../gateway/portal/portal.ts';
import { consoleCookie } from '../../gateway/admin/routes/session.ts';
import { sweepExpiredPayloads } from '../../gateway/oidc/adapter.ts';
import { signOutEverywhere } from '../../gateway/accounts/end-access.ts';
import { operator } from '../../gateway/context.ts';
import { deviceWords } from '../../gateway/accounts/device-words.ts';

const REDIRECT = 'http://localhost:9/cb';
const LAPTOP = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const LIBRARY =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15';
/** A browser whose name the page does not know, on a system it does. */
const KIOSK = 'Mozilla/5.0 (X11; Linux x86_64) KioskBrowser/3.1';
const PORTAL_API = { accept: 'application/json', 'x-atrium-portal': '1' };

let gateway: TestGateway;
let eng: TestNode;
let courses: { rp: client.Configuration; clientId: string };
const logoutTokens: string[] = [];
let receiver: Server;

const url = (path: string) => `${gateway.issuer}${path}`;

/** A browser signed in to the portal as `username`, on the account page. */
async function browser(username: string, userAgent: string): Promise<{ agent: BrowserAgent; page: Page }> {
  const agent = new BrowserAgent({ userAgent });
  await signInThrough(agent, url('/account/security'), username, DEMO_PASSWORD);
  const page = await agent.navigate(url('/account/security'));
  expect(page.html).toContain(`Signed in as <strong>${username}</strong>`);
  return { agent, page };
}

type Listed = { name: string; current: boolean; session: string; text: string; signOut: boolean };

/** The devices the account page lists, as a person reads them. */
function devicesOn(page: Page): Listed[] {
  return [...page.html.matchAll(/<li class="device" data-session="([^"]+)"([^>]*)>([\s\S]*?)<\/li>/g)].map((m) => ({
    session: m[1]!,
    name: htmlText(/class="device-name"[^>]*>([^<]*)</.exec(m[3]!)?.[1] ?? ''),
    current: m[2]!.includes('aria-current="true"'),
    text: htmlText(m[3]!),
    signOut: m[3]!.includes('action="/account/security/devices/sign-out"'),
  }));
}

/** What the page says after a post, in its "Where you are signed in" section. */
const noticeOn = (page: Page) => {
  const section = /<section[^>]*id="devices">([\s\S]*?)<\/section>/.exec(page.html)?.[1] ?? '';
  return htmlText(/id="account-notice">([^<]*)</.exec(section)?.[1] ?? '');
};

/** Presses "Sign out this device" on the account page for the listed device named `name`. */
async function signOutDevice(here: { agent: BrowserAgent; page: Page }, name: string, understood = true) {
  const page = await here.agent.navigate(url('/account/security'));
  const device = devicesOn(page).find((d) => d.name === name);
  expect(device?.signOut).toBe(true);
  const form = filledFormWithAction(page, '/account/security/devices/sign-out');
  return submitFilled(here.agent, page, form, { session: device!.session, understood: understood ? 'yes' : [] });
}

const me = (agent: BrowserAgent) => agent.request(url('/portal/api/me'), { headers: PORTAL_API });

/** The chat token the portal hands this browser for eng's node. */
async function chatToken(agent: BrowserAgent): Promise<string> {
  const response = await agent.request(url('/portal/api/token?domain=eng.campus.test'), { headers: PORTAL_API });
  expect(response.status).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

async function chatSocket(token: string): Promise<RawSocket> {
  const socket = await openRaw(eng.url, ['atrium.v1', `atrium.token.${token}`]);
  await socket.next((f) => f.type === 'ready');
  return socket;
}

/** How the socket closed, if the node closed it within a few seconds (the gateway tells it within one). */
const closedSoon = (socket: RawSocket) =>
  Promise.race([socket.closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 5_000))]);

const nodeAnswers = async (token: string) =>
  (await fetch(`${eng.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status;

/** The id of the session a browser holds in the cookie named so (its signed value, less the signature). */
function sessionOf(agent: BrowserAgent, cookieName: string): string {
  const cookie = agent.cookies.get(new URL(gateway.issuer).host)?.get(cookieName) ?? '';
  const signed = decodeURIComponent(cookie).slice('s:'.length);
  return signed.slice(0, signed.lastIndexOf('.'));
}

/** The id of the portal session a browser holds. */
const portalSessionOf = (agent: BrowserAgent) => sessionOf(agent, PORTAL_COOKIE);

/** When the account page says the device named so was last active (its time element's own value). */
function lastActiveOf(page: Page, name: string): Date {
  const item = [...page.html.matchAll(/<li class="device"[\s\S]*?<\/li>/g)]
    .map((m) => m[0])
    .find((html) => html.includes(`>${name}</strong>`));
  const at = /last active <time datetime="([^"]+)"/.exec(item ?? '')?.[1];
  if (!at) throw new Error(`no last active time for ${name} on the page:\n${item ?? page.html.slice(0, 1500)}`);
  return new Date(at);
}

beforeAll(async () => {
  gateway = await startTestGateway('signed-in-devices', { LOGIN_IP_LIMIT: '1000' });
  eng = await startTestNode(gateway, 'eng.campus.test');
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token');
      if (token) logoutTokens.push(token);
      res.writeHead(200).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => receiver.listen(port, 'localhost', resolve));
  const app = await registerTestApp(gateway, {
    name: 'Course pages',
    redirectUris: [REDIRECT],
    firstParty: true,
    backchannelLogoutUri: `http://localhost:${port}/backchannel-logout`,
  });
  courses = { rp: await discover(gateway.issuer, app.clientId, app.clientSecret), clientId: app.clientId };
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
  receiver?.closeAllConnections();
  receiver?.close();
});

describe('a device in plain words', () => {
  it('names the browser and the system a person knows, from what the browser says of itself', () => {
    const said = {
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1':
        'Safari on iPhone',
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36':
        'Chrome on Android',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0':
        'Edge on Windows',
      'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0': 'Firefox on Linux',
      'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36':
        'Chrome on ChromeOS',
      [KIOSK]: 'a browser on Linux',
      'curl/8.5.0': 'an unknown browser',
    };
    expect(Object.fromEntries(Object.keys(said).map((ua) => [ua, deviceWords(ua)]))).toEqual(said);
    expect(deviceWords(null)).toBe('an unknown browser');
  });
});

describe('the signed-in devices on the account page', () => {
  it('lists each browser in plain words, where and when it signed in, its apps, and marks this device', async () => {
    await addPerson(gateway, 'dee');
    const laptop = await browser('dee', LAPTOP);
    const library = await browser('dee', LIBRARY);
    await codeFlow(courses.rp, REDIRECT, 'dee', {}, library.agent);
    // The library computer signed in five hours ago and was last used three hours ago: its sessions say so
    // (the sign-in time, and expiries that use pushes on).
    const now = Math.floor(Date.now() / 1000) * 1000;
    const at = (hours: number) => new Date(now - hours * 3600_000);
    const expiry = new Date(at(3).getTime() + gateway.config.sessionTtlHours * 3600_000);
    const libraryUid = devicesOn(await library.agent.navigate(url('/account/security'))).find(
      (d) => d.current,
    )!.session;
    const stored = (await gateway.models.OidcPayload.findOne({ where: { model: 'Session', uid: libraryUid } }))!;
    const payload = { ...JSON.parse(stored.payload), loginTs: at(5).getTime() / 1000 };
    await stored.update({ payload: JSON.stringify(payload), expiresAt: expiry });
    await gateway.models.WebSession.update({ expiresAt: expiry }, { where: { sid: portalSessionOf(library.agent) } });
    const shown = (date: Date) => `${date.toISOString().replace('T', ' ').slice(0, 19)} UTC`;

    const onLaptop = devicesOn(await laptop.agent.navigate(url('/account/security')));
    expect(onLaptop.map(({ name, current, signOut }) => ({ name, current, signOut }))).toEqual([
      { name: 'Firefox on Windows', current: true, signOut: false },
      { name: 'Safari on macOS', current: false, signOut: true },
    ]);
    const [here, there] = onLaptop as [Listed, Listed];
    expect(here.text).toContain('This device');
    expect(here.text).toContain('Signed in to: Atrium portal and chat');
    expect(there.text).toContain(
      `Safari on macOS from 127.0.0.1 · signed in ${shown(at(5))} · last active ${shown(at(3))}`,
    );
    expect(there.text).toContain('Signed in to: Atrium portal and chat, Course pages');

    // Seen from the library computer, it is the one marked.
    const onLibrary = devicesOn(await library.agent.navigate(url('/account/security')));
    expect(onLibrary.map(({ name, current }) => ({ name, current }))).toEqual([
      { name: 'Safari on macOS', current: true },
      { name: 'Firefox on Windows', current: false },
    ]);
  });
});

describe('when a device was last active', () => {
  it('counts using the admin console there, as using the portal does', async () => {
    await addPerson(gateway, 'ida', { units: ['campus'], roles: ['admin', 'staff'] });
    const laptop = await browser('ida', LAPTOP);
    const library = await browser('ida', LIBRARY);
    expect((await signInThrough(library.agent, url('/admin/login'), 'ida', DEMO_PASSWORD)).url).toBe(
      url('/admin/users'),
    );
    // Signed in on the library computer five hours ago, and nothing done there for three: its gateway, portal
    // and console sessions say so.
    const now = Math.floor(Date.now() / 1000) * 1000;
    const threeHoursAgo = now - 3 * 3600_000;
    const expiresAt = new Date(threeHoursAgo + gateway.config.sessionTtlHours * 3600_000);
    const libraryUid = devicesOn(await library.agent.navigate(url('/account/security'))).find(
      (d) => d.current,
    )!.session;
    const stored = (await gateway.models.OidcPayload.findOne({ where: { model: 'Session', uid: libraryUid } }))!;
    const payload = { ...JSON.parse(stored.payload), loginTs: (now - 5 * 3600_000) / 1000 };
    await stored.update({ payload: JSON.stringify(payload), expiresAt });
    const sids = [portalSessionOf(library.agent), sessionOf(library.agent, consoleCookie(false).name)];
    await gateway.models.WebSession.update({ expiresAt }, { where: { sid: { [Op.in]: sids } } });
    const lastActive = async () =>
      lastActiveOf(await laptop.agent.navigate(url('/account/security')), 'Safari on macOS').getTime();
    expect(await lastActive()).toBe(threeHoursAgo);

    // Then the console is used there: the library computer is active now.
    const before = Date.now();
    expect((await library.agent.navigate(url('/admin/users'))).status).toBe(200);
    expect(await lastActive()).toBeGreaterThanOrEqual(before - 1_000);
  });
});

describe('"Sign out this device"', () => {
  it('ends that browser’s sign-in, portal session, app and chat tokens and sockets, and nothing of this one', async () => {
    const fay = await addPerson(gateway, 'fay');
    const laptop = await browser('fay', LAPTOP);
    const library = await browser('fay', LIBRARY);
    const app = await codeFlow(courses.rp, REDIRECT, 'fay', {}, library.agent);
    const appSid = app.tokens.claims()!.sid;
    const tokens = { laptop: await chatToken(laptop.agent), library: await chatToken(library.agent) };
    const sockets = { laptop: await chatSocket(tokens.laptop), library: await chatSocket(tokens.library) };

    const done = await signOutDevice(laptop, 'Safari on macOS');
    // The page opens at the notice, focused, however far down its section is.
    expect(done.url).toBe(url('/account/security#account-notice'));
    expect(done.html).toMatch(/<p [^>]*tabindex="-1" autofocus id="account-notice">/);
    expect(noticeOn(done)).toBe(
      'Signed out Safari on macOS: it is signed out of Atrium and of its apps, and its open chats were closed.',
    );
    expect(devicesOn(done).map((d) => d.name)).toEqual(['Firefox on Windows']);

    // The library computer: its portal session, its app's refresh token, its chat socket and token end.
    expect((await me(library.agent)).status).toBe(401);
    await expect(client.refreshTokenGrant(courses.rp, app.tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect(await closedSoon(sockets.library)).toEqual({ code: 4409, reason: 'session_ended' });
    expect(sockets.library.frames).toContainEqual(
      expect.objectContaining({ type: 'session.ended', reason: 'signed_out' }),
    );
    expect(await nodeAnswers(tokens.library)).toBe(401);
    // Its gateway session is gone too: the account page asks for the password, not a silent sign-in.
    expect((await library.agent.navigate(url('/account/security'))).html).toContain('/login"');
    // The app is told over its back-channel logout URI, naming that session.
    await expect
      .poll(() => logoutTokens.map((token) => decodeJwt(token)).filter((claims) => claims.sub === fay.id).length, {
        timeout: 8_000,
      })
      .toBe(1);
    expect(logoutTokens.map((token) => decodeJwt(token)).find((claims) => claims.sub === fay.id)?.sid).toBe(appSid);

    // This laptop goes on: its portal session, a fresh chat token, its open socket.
    expect((await me(laptop.agent)).status).toBe(200);
    expect(await nodeAnswers(tokens.laptop)).toBe(200);
    expect(sockets.laptop.socket.readyState).toBe(sockets.laptop.socket.OPEN);
    sockets.laptop.socket.close();
    const [event] = await gateway.models.AuditEvent.findAll({
      where: { action: 'user.sign_out_device', target: 'fay' },
    });
    expect(event?.actorName).toBe('fay');
    expect(JSON.parse(event!.details!)).toMatchObject({ device: 'Safari on macOS', ip: '127.0.0.1' });
    // She pressed it herself: no mail tells her of it.
    expect(await gateway.models.SecurityNotice.count({ where: { account: 'fay' } })).toBe(0);
  });

  it('names a device in lower case mid-sentence, and with a capital only where a sentence or its label starts', async () => {
    await addPerson(gateway, 'kip');
    const laptop = await browser('kip', LAPTOP);
    await browser('kip', KIOSK);
    const page = await laptop.agent.navigate(url('/account/security'));
    const kiosk = devicesOn(page).find((d) => !d.current)!;
    expect(kiosk.name).toBe('A browser on Linux');
    expect(kiosk.text).toContain('I understand: a browser on Linux is signed out of Atrium and its apps at once.');

    const done = await signOutDevice(laptop, 'A browser on Linux');
    expect(noticeOn(done)).toBe(
      'Signed out a browser on Linux: it is signed out of Atrium and of its apps, and its open chats were closed.',
    );
    const [event] = await gateway.models.AuditEvent.findAll({
      where: { action: 'user.sign_out_device', target: 'kip' },
    });
    expect(JSON.parse(event!.details!)).toMatchObject({ device: 'A browser on Linux' });
  });

  it('refuses another person’s session, this device, an unticked box and a forged form, and changes nothing', async () => {
    const gil = await addPerson(gateway, 'gil');
    await addPerson(gateway, 'hal');
    const gilBrowser = await browser('gil', LIBRARY);
    const hal = await browser('hal', LAPTOP);
    const halLibrary = await browser('hal', LIBRARY);
    const [gilSession] = await gateway.models.OidcPayload.findAll({ where: { model: 'Session', accountId: gil.id } });
    const gilUid = gilSession!.uid!;
    const page = await hal.agent.navigate(url('/account/security'));
    const form = filledFormWithAction(page, '/account/security/devices/sign-out');
    const halHere = devicesOn(page).find((d) => d.current)!.session;

    const post = (values: Record<string, string | string[]>, withCsrf = true) =>
      submitFilled(
        hal.agent,
        page,
        withCsrf ? form : { ...form, entries: form.entries.filter(([name]) => name !== '_csrf') },
        values,
      );
    const someoneElse = await post({ session: gilUid, understood: 'yes' });
    expect(noticeOn(someoneElse)).toBe('That device is not signed in to your account any more.');
    const thisOne = await post({ session: halHere, understood: 'yes' });
    expect(noticeOn(thisOne)).toBe('That is this device: to sign out here, use Sign out in the portal.');
    const unticked = await post({ session: devicesOn(page).find((d) => !d.current)!.session, understood: [] });
    expect(noticeOn(unticked)).toBe('Tick “I understand” to sign out that device. No device was signed out.');
    const forged = await post({ session: gilUid, understood: 'yes' }, false);
    expect(forged.status).toBe(403);

    expect((await me(gilBrowser.agent)).status).toBe(200);
    expect((await me(hal.agent)).status).toBe(200);
    expect((await me(halLibrary.agent)).status).toBe(200);
    expect(devicesOn(await gilBrowser.agent.navigate(url('/account/security'))).map((d) => d.session)).toEqual([
      gilUid,
    ]);
    expect(devicesOn(await hal.agent.navigate(url('/account/security')))).toHaveLength(2);
    expect(
      await gateway.models.EndedAccess.count({ where: { kind: 'sid', subject: { [Op.in]: [gilUid, halHere] } } }),
    ).toBe(0);
    const audited = { action: 'user.sign_out_device', target: { [Op.in]: ['gil', 'hal'] } };
    expect(await gateway.models.AuditEvent.count({ where: audited })).toBe(0);
  });
});

describe("the signed-in devices on the person's console page", () => {
  /** The devices the console's person page lists (the same markup as the account page's list). */
  const consoleDevicesOn = (page: Page) => {
    const section = /<section[^>]*id="devices">([\s\S]*?)<\/section>/.exec(page.html)?.[1] ?? '';
    return devicesOn({ ...page, html: section });
  };
  const personPage = (agent: BrowserAgent, userId: string) => agent.navigate(url(`/admin/users/${userId}`));

  it('lists what the person sees on their account page, and signs out one device alone, audited as the admin', async () => {
    const { agent: admin } = await signInToConsole(gateway.issuer, 'admin');
    const mo = await addPerson(gateway, 'mo');
    const laptop = await browser('mo', LAPTOP);
    const library = await browser('mo', LIBRARY);
    await codeFlow(courses.rp, REDIRECT, 'mo', {}, library.agent);
    const libraryToken = await chatToken(library.agent);
    const librarySocket = await chatSocket(libraryToken);

    const page = await personPage(admin, mo.id);
    const listed = consoleDevicesOn(page);
    expect(listed.map((d) => d.name).sort()).toEqual(['Firefox on Windows', 'Safari on macOS']);
    const safari = listed.find((d) => d.name === 'Safari on macOS')!;
    expect(safari.text).toContain('Safari on macOS from 127.0.0.1 · signed in');
    expect(safari.text).toContain('Signed in to: Atrium portal and chat, Course pages');
    expect(safari.text).toContain('I understand: Safari on macOS is signed out of the gateway and its apps at once.');
    // Each device has its own form, box and button.
    const forms = [
      ...page.html.matchAll(/<form method="post" action="\/admin\/users\/[^"]+\/device-sign-out"[\s\S]*?<\/form>/g),
    ];
    expect(forms).toHaveLength(2);
    for (const [form] of forms) {
      expect(form).toContain('name="understood"');
      expect(form).toContain('Sign out this device');
    }

    const form = filledFormsOf(page.html).find(
      (f) =>
        f.action.endsWith('/device-sign-out') && f.entries.some(([n, v]) => n === 'session' && v === safari.session),
    )!;
    const unticked = await submitFilled(admin, page, form, {});
    expect(unticked.status).toBe(400);
    expect(htmlText(/id="devices-error"[^>]*>([^<]*)</.exec(unticked.html)?.[1] ?? '')).toBe(
      'Tick “I understand” to sign out that device. No device was signed out.',
    );
    expect((await me(library.agent)).status).toBe(200);
    const forged = await submitFilled(
      admin,
      page,
      { ...form, entries: form.entries.filter(([n]) => n !== '_csrf') },
      { understood: 'yes' },
    );
    expect(forged.status).toBe(403);
    expect((await me(library.agent)).status).toBe(200);

    const done = await submitFilled(admin, page, form, { understood: 'yes' });
    expect(done.status).toBe(200);
    expect(mainText(done)).toContain(
      'Signed mo out of Safari on macOS: it is signed out of Atrium and of its apps, and its open chats were closed. Their other devices stay signed in.',
    );
    expect(consoleDevicesOn(done).map((d) => d.name)).toEqual(['Firefox on Windows']);
    expect((await me(library.agent)).status).toBe(401);
    expect(await closedSoon(librarySocket)).toEqual({ code: 4409, reason: 'session_ended' });
    expect(await nodeAnswers(libraryToken)).toBe(401);
    expect((await me(laptop.agent)).status).toBe(200);

    const [event] = await gateway.models.AuditEvent.findAll({
      where: { action: 'user.sign_out_device', target: 'mo' },
    });
    expect(event?.actorName).toBe('admin');
    expect(JSON.parse(event!.details!)).toMatchObject({ device: 'Safari on macOS', ip: '127.0.0.1' });
    // Mo is mailed that an administrator did it, naming the device, as a sign-out everywhere is.
    const notices = await gateway.models.SecurityNotice.findAll({ where: { account: 'mo' } });
    expect(notices.map((n) => n.subject)).toEqual(['A device was signed out of your Atrium account']);
    expect(notices[0]!.body).toContain(
      'Your campus administrators signed your Atrium account "mo" out on Safari on macOS (address 127.0.0.1)',
    );
    expect(notices[0]!.body).toContain('Your other devices stay signed in.');
    // The person's account activity, on the same page, names the device and who signed it out.
    const history = /<table class="audit" id="account-history">([\s\S]*?)<\/table>/.exec(done.html)?.[1] ?? '';
    expect(htmlText(history)).toMatch(/Signed out of one device: Safari on macOS\s*admin/);

    // Pressed again from the page opened before: that device is gone, and nothing else ends.
    const again = await submitFilled(admin, page, form, { understood: 'yes' });
    expect(again.status).toBe(404);
    expect(htmlText(/id="devices-error"[^>]*>([^<]*)</.exec(again.html)?.[1] ?? '')).toBe(
      "That device is not signed in to mo's account any more: nothing was signed out.",
    );
    expect((await me(laptop.agent)).status).toBe(200);
  });

  it('is for whoever may sign the person out everywhere: another college’s unit admin ends nothing', async () => {
    await addPerson(gateway, 'arts-desk', { units: ['campus/arts'], roles: ['unit-admin', 'staff'] });
    const { agent: artsDesk } = await signInToConsole(gateway.issuer, 'arts-desk');
    const ned = await addPerson(gateway, 'ned');
    const laptop = await browser('ned', LAPTOP);
    const [session] = await gateway.models.OidcPayload.findAll({ where: { model: 'Session', accountId: ned.id } });
    // Someone they may not manage is nobody they can find, on the page or by a post.
    expect((await personPage(artsDesk, ned.id)).status).toBe(404);
    const list = await artsDesk.navigate(url('/admin/users'));
    const csrf = /name="_csrf" value="([^"]+)"/.exec(list.html)?.[1] ?? '';
    const refused = await artsDesk.navigate(url(`/admin/users/${ned.id}/device-sign-out`), {
      method: 'POST',
      body: new URLSearchParams({ _csrf: csrf, session: session!.uid!, understood: 'yes' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(refused.status).toBe(404);
    expect((await me(laptop.agent)).status).toBe(200);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'user.sign_out_device', target: 'ned' } })).toBe(0);
  });
});

describe('what is noted of each device', () => {
  it('is forgotten once its session is gone: signed out there, or all access ended', async () => {
    const ivy = await addPerson(gateway, 'ivy');
    const kept = await browser('ivy', LAPTOP);
    const gone = await browser('ivy', LIBRARY);
    const uidOf = (page: Page) => devicesOn(page).find((d) => d.current)!.session;
    const noted = async () =>
      (await gateway.models.SessionDevice.findAll({ where: { accountId: ivy.id } })).map((d) => d.sessionUid).sort();
    expect(await noted()).toEqual([uidOf(kept.page), uidOf(gone.page)].sort());

    // The portal's Sign out in the library ends its gateway session; the sweep then forgets its device.
    const signOut = await gone.agent.request(url('/portal/api/logout'), { method: 'POST', headers: PORTAL_API });
    const end = await gone.agent.navigate(((await signOut.json()) as { redirect: string }).redirect);
    // The page's script presses Sign out at once; this browser runs none.
    await gone.agent.submit(end, formWithAction(end, '/session/end/confirm'), { logout: 'yes' });
    await sweepExpiredPayloads(gateway.models);
    expect(await noted()).toEqual([uidOf(kept.page)]);

    await signOutEverywhere({ ...gateway.context(null), actor: operator('test') }, 'ivy');
    expect(await noted()).toEqual([]);
  });
});
