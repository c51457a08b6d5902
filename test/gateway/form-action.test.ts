import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { BrowserAgent, formWithAction, formsOf, signInThrough, type Page } from '../helpers/browser-agent.ts';
import {
  enrolAuthenticator,
  registerTestApp,
  signInToConsole,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

const REDIRECT = 'http://localhost:9/cb';
const SIGNED_OUT = 'https://survey.campus.example/bye';
let gateway: TestGateway;
let survey: client.Configuration;
let notes: client.Configuration;

/** The sources a page's forms may post to (its CSP's form-action), and the rest of its policy. */
function formTargets(page: Page): { formAction: string | undefined; rest: string[] } {
  const directives = (page.headers.get('content-security-policy') ?? '').split(';').map((d) => d.trim());
  return {
    formAction: directives.find((d) => d.startsWith('form-action '))?.slice('form-action '.length),
    rest: directives.filter((d) => d && !d.startsWith('form-action ') && !d.startsWith('script-src ')),
  };
}

let ownPolicy: string[];

/** Starts signing in to `rp` in a new browser: the login page. */
async function startSignIn(rp: client.Configuration, extra: Record<string, string> = {}, agent = new BrowserAgent()) {
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { agent, page: await agent.navigate(url.toString(), {}, REDIRECT) };
}

/** The page after the password step for `username`. */
async function afterPassword(rp: client.Configuration, username: string, password = DEMO_PASSWORD) {
  const { agent, page } = await startSignIn(rp);
  return {
    agent,
    login: page,
    next: await agent.submit(page, formWithAction(page, '/login'), { username, password }, REDIRECT),
  };
}

beforeAll(async () => {
  gateway = await startTestGateway('form-action');
  const a = await registerTestApp(gateway, {
    name: 'Survey Tool',
    redirectUris: [REDIRECT, 'https://survey.campus.example/cb', 'https://survey.campus.example/other'],
    postLogoutRedirectUris: [SIGNED_OUT],
  });
  survey = await discover(gateway.issuer, a.clientId, a.clientSecret);
  const b = await registerTestApp(gateway, {
    name: 'Course Notes',
    redirectUris: [REDIRECT, 'https://notes.campus.example/cb'],
    firstParty: true,
  });
  notes = await discover(gateway.issuer, b.clientId, b.clientSecret);
  ownPolicy = formTargets(await new BrowserAgent().navigate(`${gateway.issuer}/password/forgot`)).rest;
});
afterAll(async () => gateway?.stop());

describe('where the forms of the gateway’s pages may post', () => {
  it('its own pages (forgot password, account, portal, admin console): only to the gateway', async () => {
    const forgot = await new BrowserAgent().navigate(`${gateway.issuer}/password/forgot`);
    expect(forgot.status).toBe(200);
    expect(formTargets(forgot).formAction).toBe("'self'");

    const agent = new BrowserAgent();
    const account = await signInThrough(agent, `${gateway.issuer}/account/security`, 'alice', DEMO_PASSWORD);
    expect(account.url).toBe(`${gateway.issuer}/account/security`);
    expect(formTargets(account).formAction).toBe("'self'");
    const portal = await agent.navigate(`${gateway.issuer}/`);
    expect(portal.html).toContain('<script');
    expect(formTargets(portal).formAction).toBe("'self'");

    const { page: consolePage } = await signInToConsole(gateway.issuer, 'admin');
    expect(consolePage.url).toBe(`${gateway.issuer}/admin/users`);
    expect(formTargets(consolePage).formAction).toBe("'self'");
  });

  it('the sign-in’s pages: to the gateway and the origins of that one app’s redirect URIs, nothing else changed', async () => {
    const appTargets = "'self' http://localhost:9 https://survey.campus.example";
    const { agent, login, next } = await afterPassword(survey, 'bob', 'not-the-password');
    expect(login.html).toContain('/login"');
    expect(formTargets(login)).toEqual({ formAction: appTargets, rest: ownPolicy });
    // The login page again, answering the post, with its alert.
    expect(next.status).toBe(401);
    expect(formTargets(next).formAction).toBe(appTargets);

    const consent = await agent.submit(next, formWithAction(next, '/login'), {
      username: 'bob',
      password: DEMO_PASSWORD,
    });
    expect(consent.html).toContain('/confirm"');
    expect(formTargets(consent)).toEqual({ formAction: appTargets, rest: ownPolicy });

    // Another app's sign-in names its own origins, never the first app's.
    const other = await startSignIn(notes);
    expect(formTargets(other.page).formAction).toBe("'self' http://localhost:9 https://notes.campus.example");

    // A sign-in that is over leads on with a link: its page has no app to post to.
    const uid = /\/interaction\/([^/?]+)/.exec(consent.url)![1]!;
    await agent.submit(consent, formWithAction(consent, '/confirm'), {}, REDIRECT);
    const over = await agent.navigate(`${gateway.issuer}/interaction/${uid}`);
    expect(over.url).toBe(`${gateway.issuer}/interaction/${uid}/over`);
    expect(formTargets(over).formAction).toBe("'self'");
  });

  it('the second factor’s page: to the gateway and the app’s origins', async () => {
    await enrolAuthenticator(gateway, 'carol');
    const { next } = await afterPassword(notes, 'carol');
    expect(next.html).toContain('/code"');
    expect(formTargets(next)).toEqual({
      formAction: "'self' http://localhost:9 https://notes.campus.example",
      rest: ownPolicy,
    });
  });

  it('the sign-out question, and its stand-in when nobody is signed in: to the gateway and the app’s post-logout origins', async () => {
    const endSession = `${gateway.issuer}/session/end?${new URLSearchParams({
      client_id: String(survey.clientMetadata().client_id),
      post_logout_redirect_uri: SIGNED_OUT,
    })}`;
    const { agent } = await afterPassword(notes, 'dave');
    const question = await agent.navigate(endSession);
    expect(question.html).toContain('op.logoutForm');
    expect(formTargets(question)).toEqual({ formAction: "'self' https://survey.campus.example", rest: ownPolicy });

    // Nobody signed in: the provider's own page posts itself (its script allowed by hash), then on to the app.
    const standIn = await new BrowserAgent().navigate(endSession);
    expect(formsOf(standIn.html).map((f) => f.action)).toEqual([`${gateway.issuer}/session/end/confirm`]);
    expect(formTargets(standIn).formAction).toBe("'self' https://survey.campus.example");
    expect(standIn.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-[^']+'/);

    // No app named: nowhere to go on to.
    const plain = await agent.navigate(`${gateway.issuer}/session/end`);
    expect(plain.html).toContain('op.logoutForm');
    expect(formTargets(plain).formAction).toBe("'self'");
  });

  it('a response in form_post mode posts to the app’s origin; an error page, only to the gateway', async () => {
    const { agent } = await afterPassword(notes, 'dave');
    const { page } = await startSignIn(notes, { response_mode: 'form_post' }, agent);
    expect(formsOf(page.html).map((f) => f.action)).toEqual([REDIRECT]);
    expect(formTargets(page).formAction).toBe("'self' http://localhost:9 https://notes.campus.example");

    const refused = await startSignIn(notes, { redirect_uri: 'https://elsewhere.example/cb' });
    expect(refused.page.status).toBe(400);
    expect(formTargets(refused.page).formAction).toBe("'self'");
  });
});
