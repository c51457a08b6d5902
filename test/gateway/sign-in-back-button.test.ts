import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { BrowserAgent, formWithAction, mainText, type Form, type Page } from '../helpers/browser-agent.ts';
import {
  enrolAuthenticator,
  passwordVerifications,
  registerTestApp,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { MFA_ACR } from '../../gateway/factors/acr.ts';

/**
 * The browser's Back button (and Reload) on the gateway's sign-in pages. A page that answered a form post
 * is, on Back or Reload, posted again ("Confirm Form Resubmission"); a page reached by a GET is only asked
 * for again. So every step's page is a GET the post redirected to, and a sign-in that is over (finished,
 * expired, cancelled) says so, with a link to where the person can go on.
 */
const REDIRECT = 'http://localhost:9/cb';
const HOME = 'http://localhost:9/home';
let gateway: TestGateway;
let rp: client.Configuration;

const OVER = 'This sign-in is over';
const url = (path: string) => `${gateway.issuer}${path}`;
const alertOf = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1];
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const secondFactorFailures = (username: string) =>
  gateway.models.AuditEvent.count({ where: { action: 'login.second_factor', target: username, outcome: 'failure' } });

/** The six-digit code of a key at a 30-second step. */
const codeAt = (secret: string, step: number) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: step * 30_000 });

async function startSignIn(params: Record<string, string> = {}) {
  const agent = new BrowserAgent();
  const authorization = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    state: client.randomState(),
    ...params,
  });
  const page = await agent.navigate(authorization.toString(), {}, REDIRECT);
  expect(page.url).toMatch(/\/interaction\/[^/]+$/);
  return { agent, page, at: page.url };
}

async function password(username: string, params: Record<string, string> = {}) {
  const flow = await startSignIn(params);
  const page = await flow.agent.submit(
    flow.page,
    formWithAction(flow.page, '/login'),
    { username, password: DEMO_PASSWORD },
    REDIRECT,
  );
  return { ...flow, page };
}

/** A form sent as the browser sends it, without following where it leads: the answer itself. */
async function post(agent: BrowserAgent, page: Page, form: Form, values: Record<string, string> = {}) {
  const response = await agent.request(new URL(form.action, page.url).toString(), {
    method: 'POST',
    body: new URLSearchParams({ ...form.fields, ...values }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  await response.arrayBuffer();
  return { status: response.status, location: response.headers.get('location') };
}

/** The page that says a sign-in is over: what it says, and where its link leads. */
function expectOver(page: Page, wayOn: { href: string; label: string }) {
  expect(page.html, page.html.slice(0, 1500)).toContain(OVER);
  expect(mainText(page)).toContain('This sign-in has already finished, or it expired');
  expect(page.html).toContain(`<a class="button" href="${wayOn.href}" id="way-on">${wayOn.label}</a>`);
  // Said in words, not as a protocol's error code.
  expect(mainText(page)).not.toContain('invalid_request');
  expect(page.headers.get('cache-control')).toBe('no-store');
}

beforeAll(async () => {
  gateway = await startTestGateway('sign-in-back-button', { LOGIN_MAX_FAILURES: '5', LOGIN_IP_LIMIT: '1000' });
  for (const username of ['bea', 'cal', 'dot']) {
    await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username,
        displayName: username,
        email: `${username}@campus.test`,
        units: ['campus/eng/cs'],
        roles: ['student'],
        password: DEMO_PASSWORD,
      },
    );
  }
  const app = await registerTestApp(gateway, {
    name: 'Grades',
    redirectUris: [REDIRECT],
    homeUrl: HOME,
    firstParty: true,
  });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => gateway?.stop());

describe('the password step', () => {
  it('shows a refused password after a redirect, once, with the name typed, and a reload sends no password', async () => {
    const { agent, page, at } = await startSignIn();
    expect(page.headers.get('cache-control')).toBe('no-store');
    const before = await passwordVerifications(gateway);
    const refused = await post(agent, page, formWithAction(page, '/login'), { username: 'dot', password: 'not-it' });
    expect(refused).toEqual({ status: 303, location: `/interaction/${at.split('/').pop()}` });
    const shown = await agent.navigate(at);
    expect(shown.status).toBe(401);
    expect(alertOf(shown)).toBe('Wrong username or password.');
    expect(shown.html).toContain('value="dot"');
    expect(shown.html).toContain('aria-invalid="true"');
    expect(await passwordVerifications(gateway)).toBe(before + 1);
    expect((await userNamed('dot')).failedLogins).toBe(1);

    const reloaded = await agent.navigate(at);
    expect(reloaded.status).toBe(200);
    expect(alertOf(reloaded)).toBeUndefined();
    expect(await passwordVerifications(gateway)).toBe(before + 1);
    expect((await userNamed('dot')).failedLogins).toBe(1);

    const app = await agent.submit(
      reloaded,
      formWithAction(reloaded, '/login'),
      {
        username: 'dot',
        password: DEMO_PASSWORD,
      },
      REDIRECT,
    );
    expect(app.url.startsWith(REDIRECT)).toBe(true);
    expectOver(await agent.navigate(at), { href: HOME, label: 'Go to Grades' });
  });
});

describe('the code step', () => {
  it('shows a refused code after a redirect, once, and counts it once however often the page is reloaded', async () => {
    const secret = await enrolAuthenticator(gateway, 'bea');
    const enrolledAt = Math.floor(Date.now() / 30_000);
    const { agent, page, at } = await password('bea');
    expect(page.url).toBe(at);
    expect(page.headers.get('cache-control')).toBe('no-store');

    // A form the gateway cannot trust (its token forged): refused, with the way back to the step.
    const forged = await agent.submit(page, formWithAction(page, '/code'), { code: '123456', _csrf: 'forged' });
    expect(forged.status).toBe(403);
    expect(forged.html).toContain(
      `<a class="button" href="/interaction/${at.split('/').pop()}" id="way-on">Back to signing in</a>`,
    );
    expect(await secondFactorFailures('bea')).toBe(0);

    const wrongCode = codeAt(secret, enrolledAt + 1) === '000000' ? '111111' : '000000';
    const refused = await post(agent, page, formWithAction(page, '/code'), { code: wrongCode });
    expect(refused).toEqual({ status: 303, location: `/interaction/${at.split('/').pop()}` });
    const shown = await agent.navigate(at);
    expect(shown.status).toBe(401);
    expect(alertOf(shown)).toContain('That code is not valid.');
    expect(shown.headers.get('cache-control')).toBe('no-store');
    expect((await userNamed('bea')).failedLogins).toBe(1);
    expect(await secondFactorFailures('bea')).toBe(1);

    // A reload asks for the page again: the refusal was said once, and nothing is counted.
    const reloaded = await agent.navigate(at);
    expect(reloaded.status).toBe(200);
    expect(alertOf(reloaded)).toBeUndefined();
    expect(reloaded.html).toContain('/code"');
    expect((await userNamed('bea')).failedLogins).toBe(1);
    expect(await secondFactorFailures('bea')).toBe(1);

    const done = await agent.submit(
      reloaded,
      formWithAction(reloaded, '/code'),
      { code: codeAt(secret, enrolledAt + 1) },
      REDIRECT,
    );
    expect(done.url.startsWith(REDIRECT)).toBe(true);

    // Back from the app: the step's page says the sign-in is over and leads to the app.
    expectOver(await agent.navigate(at), { href: HOME, label: 'Go to Grades' });
    // The code form posted again (a page the browser kept): the same page, and no try counted.
    const resent = await agent.submit(page, formWithAction(page, '/code'), { code: wrongCode }, REDIRECT);
    expectOver(resent, { href: HOME, label: 'Go to Grades' });
    expect(await secondFactorFailures('bea')).toBe(1);
  });
});

describe('setting up a second factor at sign-in', () => {
  it('shows the recovery codes after a redirect, and Back from the app leads to the app', async () => {
    const { agent, page, at } = await password('cal', { acr_values: MFA_ACR });
    expect(page.html).toContain('/totp/start"');
    const started = await agent.submit(page, formWithAction(page, '/totp/start'), {}, REDIRECT);
    const secret = /id="totp-secret">([^<]+)</.exec(started.html)![1]!.replace(/\s/g, '');
    const step = Math.floor(Date.now() / 30_000);

    // A wrong code: the step again, by a redirect, with the refusal and the same key.
    const wrongCode = codeAt(secret, step) === '000000' ? '111111' : '000000';
    expect(await post(agent, started, formWithAction(started, '/enrol'), { code: wrongCode })).toMatchObject({
      status: 303,
    });
    const refused = await agent.navigate(at);
    expect(refused.status).toBe(401);
    expect(alertOf(refused)).toContain('That code is not right.');
    expect(refused.html).toContain(/id="totp-secret">([^<]+)</.exec(started.html)![1]);

    const confirmed = await post(agent, refused, formWithAction(refused, '/enrol'), { code: codeAt(secret, step) });
    expect(confirmed.status).toBe(303);
    const codes = await agent.navigate(url(confirmed.location!));
    expect(codes.url).toBe(at);
    expect(codes.html).toContain('shown only now');
    expect([...codes.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)]).toHaveLength(10);
    expect(codes.headers.get('cache-control')).toBe('no-store');
    // Shown once: a reload shows none.
    const reloaded = await agent.navigate(at);
    expect(reloaded.html).not.toContain('<li><code>');
    expect(reloaded.html).toContain('/continue"');

    const app = await agent.submit(reloaded, formWithAction(reloaded, '/continue'), {}, REDIRECT);
    expect(app.url.startsWith(REDIRECT)).toBe(true);

    // Back from the app, and the Continue of the page as the browser may have kept it.
    expectOver(await agent.navigate(at), { href: HOME, label: 'Go to Grades' });
    expectOver(await agent.submit(codes, formWithAction(codes, '/continue'), {}, REDIRECT), {
      href: HOME,
      label: 'Go to Grades',
    });
  });
});

describe('a sign-in that is over', () => {
  it('says so when it expired, and a password sent to it is not checked', async () => {
    const { agent, page, at } = await startSignIn();
    await gateway.models.OidcPayload.destroy({ where: { model: 'Interaction', id: at.split('/').pop()! } });
    expectOver(await agent.navigate(at), { href: HOME, label: 'Go to Grades' });
    const before = await passwordVerifications(gateway);
    const sent = await agent.submit(page, formWithAction(page, '/login'), { username: 'dot', password: 'x' });
    expectOver(sent, { href: HOME, label: 'Go to Grades' });
    expect(await passwordVerifications(gateway)).toBe(before);
  });

  it('leads to the account page when the browser never had it', async () => {
    const page = await new BrowserAgent().navigate(url('/interaction/not-one'));
    expect(page.status).toBe(400);
    expectOver(page, { href: '/account', label: 'Go to your account' });
  });
});
