import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Op } from 'sequelize';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  signInThrough,
  submitFilled,
} from '../helpers/browser-agent.ts';
import { addPerson, registerTestApp, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { runAtrium } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { deleteApp } from '../../gateway/apps-registry/delete-app.ts';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';

const REDIRECT = 'http://localhost:9/cb';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
// Short enough for a test: tries 500 ms, then 1 s after a failure, given up after the third.
const RETRY = { firstDelayMs: 500, maxTries: 3 };
// An app that does not answer is waited for 2 s (2.5 s in production), and what is due is read every
// 100 ms (every second): a try comes when it is due.
const APP_CALL_TIMEOUT_MS = 2_000;
const OUTBOX_INTERVAL_MS = 100;

let gateway: TestGateway;
const servers: Server[] = [];

type Receiver = { uri: string; tokens: string[]; requests: () => number; listen(): Promise<void> };

/**
 * An app's back-channel logout endpoint, recording the logout tokens it is posted. One that `hangs`
 * takes the connection and never answers; one not yet listening refuses connections until listen().
 */
async function backchannelReceiver(behaviour: 'answers' | 'hangs' = 'answers', listening = true): Promise<Receiver> {
  const tokens: string[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    requests += 1;
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (behaviour === 'hangs') return;
      const token = new URLSearchParams(body).get('logout_token');
      if (req.method === 'POST' && token) tokens.push(token);
      res.writeHead(200).end();
    });
  });
  servers.push(server);
  const port = await freePort();
  const listen = () => new Promise<void>((resolve) => server.listen(port, 'localhost', resolve));
  if (listening) await listen();
  return { uri: `http://localhost:${port}/backchannel-logout`, tokens, requests: () => requests, listen };
}

type TestApp = { rp: client.Configuration; clientId: string; slug: string; receiver: Receiver };

async function appWith(name: string, receiver: Receiver): Promise<TestApp> {
  const app = await registerTestApp(gateway, { name, redirectUris: [REDIRECT], backchannelLogoutUri: receiver.uri });
  const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  return { rp, clientId: app.clientId, slug: app.slug, receiver };
}

const seedUser = (username: string) => addPerson(gateway, username);

/** The person signs in to the app through the real code flow; what their ID token says. */
async function signInTo(app: TestApp, username: string, agent = new BrowserAgent()) {
  const { tokens } = await codeFlow(app.rp, REDIRECT, username, {}, agent);
  const claims = tokens.claims()!;
  expect(claims.sid).toBeTruthy();
  return { sub: claims.sub, sid: claims.sid as string };
}

/** The logout tokens the app received for `sub`, each verified as an app would (signed by the gateway, for it). */
async function logoutTokensOf(app: TestApp, sub: string) {
  const jwks = createRemoteJWKSet(new URL(app.rp.serverMetadata().jwks_uri!));
  const verified = await Promise.all(
    app.receiver.tokens.map((token) =>
      jwtVerify(token, jwks, { issuer: gateway.issuer, audience: app.clientId, typ: 'logout+jwt' }),
    ),
  );
  return verified.map(({ payload }) => payload).filter((payload) => payload.sub === sub);
}

/** The one logout token the app received for `sub`: waits for it to arrive. */
async function logoutTokenFor(app: TestApp, sub: string) {
  await expect.poll(async () => (await logoutTokensOf(app, sub)).length, { timeout: 8_000 }).toBe(1);
  const [payload] = await logoutTokensOf(app, sub);
  expect(payload!.events).toHaveProperty([LOGOUT_EVENT]);
  return payload!;
}

/** A browser signed in to the portal, on the account page (another session than the app's). */
async function accountPage(username: string) {
  const agent = new BrowserAgent();
  await signInThrough(agent, `${gateway.issuer}/account/security`, username, DEMO_PASSWORD);
  const page = await agent.navigate(`${gateway.issuer}/account/security`);
  expect(page.html).toContain(`Signed in as <strong>${username}</strong>`);
  return { agent, page };
}

const backchannelAudit = (clientId: string) =>
  gateway.models.AuditEvent.findAll({
    where: { action: 'logout.backchannel', target: clientId },
    order: [['id', 'ASC']],
  });

let courses: TestApp;

beforeAll(async () => {
  gateway = await startTestGateway(
    'ended-access-apps',
    { LOGIN_IP_LIMIT: '1000' },
    { appLogoutRetry: RETRY, appCallTimeoutMs: APP_CALL_TIMEOUT_MS, outboxIntervalMs: OUTBOX_INTERVAL_MS },
  );
  courses = await appWith('Course pages', await backchannelReceiver());
});
afterAll(async () => {
  await gateway?.stop();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

describe('ending access tells the apps the person is signed in to', () => {
  it('tells the app, with a signed logout token naming her session, when an administrator disables her', async () => {
    const alice = await gateway.models.User.findOne({ where: { username: 'alice' } });
    const signedIn = await signInTo(courses, 'alice');

    const { agent: admin } = await signInToConsole(gateway.issuer, 'admin');
    const edit = await admin.navigate(`${gateway.issuer}/admin/users/${alice!.id}`);
    const saved = await submitFilled(admin, edit, filledFormWithAction(edit, `/admin/users/${alice!.id}`), {
      status: 'disabled',
      understood: 'yes',
    });
    expect(saved.html).toContain('Disabled alice: they can no longer sign in');

    const token = await logoutTokenFor(courses, signedIn.sub);
    expect(token).toMatchObject({ iss: gateway.issuer, aud: courses.clientId, sub: alice!.id, sid: signedIn.sid });
    const [event] = await backchannelAudit(courses.clientId);
    expect(event?.outcome).toBe('success');
    expect(JSON.parse(event!.details!)).toMatchObject({ reason: 'ended_access', account: alice!.id });
    await expect.poll(() => gateway.models.AppLogout.count()).toBe(0);
  });

  it('tells the app when she signs out everywhere from her account page', async () => {
    await seedUser('ines');
    const signedIn = await signInTo(courses, 'ines');
    const here = await accountPage('ines');
    await here.agent.submit(here.page, formWithAction(here.page, '/account/security/sign-out-everywhere'));

    expect(await logoutTokenFor(courses, signedIn.sub)).toMatchObject({ sid: signedIn.sid });
  });

  it('tells the app when she changes her password', async () => {
    await seedUser('jude');
    const signedIn = await signInTo(courses, 'jude');
    const here = await accountPage('jude');
    const changed = await here.agent.submit(here.page, formWithAction(here.page, '/account/security/password'), {
      current: DEMO_PASSWORD,
      password: 'a brand new passphrase',
      confirmation: 'a brand new passphrase',
    });
    expect(changed.url).toContain('/account/password-changed');

    expect(await logoutTokenFor(courses, signedIn.sub)).toMatchObject({ sid: signedIn.sid });
  });

  it('tells every app of every session of hers, and drops what was for an app deleted since', async () => {
    const kai = await seedUser('kai');
    const mail = await appWith('Mail', await backchannelReceiver());
    const gone = await appWith('Old wiki', await backchannelReceiver());
    const laptop = new BrowserAgent();
    const first = await signInTo(courses, 'kai', laptop);
    const second = await signInTo(mail, 'kai', laptop);
    await signInTo(gone, 'kai', laptop);
    const phone = await signInTo(courses, 'kai');
    await deleteApp({ ...gateway.context(null), actor: operator('test') }, gone.slug);

    await updateUser({ ...gateway.context(null), actor: operator('test') }, kai.id, { status: 'disabled' });

    await expect
      .poll(async () => (await logoutTokensOf(courses, kai.id)).map((p) => p.sid).sort(), { timeout: 8_000 })
      .toEqual([first.sid, phone.sid].sort());
    expect(await logoutTokenFor(mail, kai.id)).toMatchObject({ sid: second.sid });
    await expect.poll(() => gateway.models.AppLogout.count()).toBe(0);
    expect(gone.receiver.tokens).toEqual([]);
    expect(await backchannelAudit(gone.clientId)).toEqual([]);
  });
});

describe('an app that does not answer', () => {
  it('is tried again until it takes the logout, while one that never answers is given up on', async () => {
    const lena = await seedUser('lena');
    const down = await appWith('Library', await backchannelReceiver('answers', false));
    const stuck = await appWith('Printing', await backchannelReceiver('hangs'));
    const agent = new BrowserAgent();
    const signedIn = await signInTo(down, 'lena', agent);
    await signInTo(stuck, 'lena', agent);

    await updateUser({ ...gateway.context(null), actor: operator('test') }, lena.id, { status: 'disabled' });

    // The library's first try was refused and the next is set (not merely claimed): now it comes back.
    await expect
      .poll(async () => {
        const row = await gateway.models.AppLogout.findOne({ where: { clientId: down.clientId } });
        return row !== null && row.tries === 1 && row.nextAt.getTime() < Date.now() + 5_000;
      })
      .toBe(true);
    await down.receiver.listen();
    expect(await logoutTokenFor(down, lena.id)).toMatchObject({ sid: signedIn.sid });
    const [told] = await backchannelAudit(down.clientId);
    expect({ outcome: told?.outcome, details: JSON.parse(told!.details!) }).toMatchObject({
      outcome: 'success',
      details: { reason: 'ended_access', account: lena.id, tries: 2 },
    });

    // Printing takes each try and never answers: three tries of APP_CALL_TIMEOUT_MS, then it is given up on.
    await expect
      .poll(async () => (await backchannelAudit(stuck.clientId)).map((e) => e.outcome), { timeout: 20_000 })
      .toEqual(['failure']);
    const [failure] = await backchannelAudit(stuck.clientId);
    expect(JSON.parse(failure!.details!)).toMatchObject({ reason: 'ended_access', account: lena.id, tries: 3 });
    expect(
      await gateway.models.AppLogout.count({ where: { clientId: { [Op.in]: [down.clientId, stuck.clientId] } } }),
    ).toBe(0);
  });
});

describe('an app that never answers, with many logouts waiting', () => {
  it('holds up no other app, is tried once at a time, and all its logouts are given up together', async () => {
    const nora = await seedUser('nora');
    const otto = await seedUser('otto');
    const stuck = await appWith('Copy shop', await backchannelReceiver('hangs'));
    // Twenty sessions of nora's in the app, then all ended at once.
    await Promise.all(Array.from({ length: 20 }, () => signInTo(stuck, 'nora')));
    const signedIn = await signInTo(courses, 'otto');
    await updateUser({ ...gateway.context(null), actor: operator('test') }, nora.id, { status: 'disabled' });
    await expect.poll(() => stuck.receiver.requests()).toBeGreaterThan(0);

    const disabledAt = Date.now();
    await updateUser({ ...gateway.context(null), actor: operator('test') }, otto.id, { status: 'disabled' });
    expect(await logoutTokenFor(courses, otto.id)).toMatchObject({ sid: signedIn.sid });
    // Within one try of the stuck app, not behind twenty of them shared among the senders (nor while
    // the senders all wait on it).
    expect(Date.now() - disabledAt).toBeLessThan(APP_CALL_TIMEOUT_MS + 2_000);
    expect(stuck.receiver.requests()).toBeLessThanOrEqual(2);

    await expect.poll(async () => (await backchannelAudit(stuck.clientId)).length, { timeout: 15_000 }).toBe(20);
    expect((await backchannelAudit(stuck.clientId)).every((e) => e.outcome === 'failure')).toBe(true);
    expect(stuck.receiver.requests()).toBeLessThanOrEqual(RETRY.maxTries + 1);
    expect(await gateway.models.AppLogout.count({ where: { clientId: stuck.clientId } })).toBe(0);
  });
});

describe('an app that is disabled or deleted meanwhile', () => {
  const asTest = () => ({ ...gateway.context(null), actor: operator('test') });

  it('is told once it is enabled again, if that is within the tries', async () => {
    const pia = await seedUser('pia');
    const timetable = await appWith('Timetable', await backchannelReceiver());
    const signedIn = await signInTo(timetable, 'pia');
    await setAppDisabled(asTest(), timetable.slug, true);

    await updateUser(asTest(), pia.id, { status: 'disabled' });
    await expect
      .poll(async () => (await gateway.models.AppLogout.findOne({ where: { clientId: timetable.clientId } }))?.tries)
      .toBe(1);
    expect(timetable.receiver.tokens).toEqual([]);

    await setAppDisabled(asTest(), timetable.slug, false);
    expect(await logoutTokenFor(timetable, pia.id)).toMatchObject({ sid: signedIn.sid });
  });

  it('deleted, takes the logouts still waiting for it along', async () => {
    const quin = await seedUser('quin');
    const plotter = await appWith('Plotter', await backchannelReceiver('answers', false));
    await signInTo(plotter, 'quin');
    await updateUser(asTest(), quin.id, { status: 'disabled' });
    await expect
      .poll(async () => (await gateway.models.AppLogout.findOne({ where: { clientId: plotter.clientId } }))?.tries)
      .toBe(1);

    await deleteApp(asTest(), plotter.slug);
    expect(await gateway.models.AppLogout.count({ where: { clientId: plotter.clientId } })).toBe(0);
  });
});

describe('ended by another process', () => {
  it('tells the app when the operator disables her with the CLI', async () => {
    const mona = await seedUser('mona');
    const signedIn = await signInTo(courses, 'mona');

    const result = await runAtrium(gateway.db, ['users', 'disable', 'mona']);
    expect(result).toMatchObject({ code: 0, stderr: '' });

    expect(await logoutTokenFor(courses, mona.id)).toMatchObject({ sid: signedIn.sid });
  });
});
