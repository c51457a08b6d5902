import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, signInThrough, type Page } from '../helpers/browser-agent.ts';
import { enrolAuthenticator, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { resetFactorsOf } from '../../gateway/factors/reset-factors.ts';
import { operator } from '../../gateway/context.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let gateway: TestGateway;
const url = (path: string) => `${gateway.issuer}${path}`;
const alertOf = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1] ?? '';
const helpdesk = () => ({ ...gateway.context(null), actor: operator('helpdesk') });
const SIGN_IN_AGAIN =
  'Your sign-in was stopped because your account was signed out everywhere meanwhile (for example, when your second factor was reset). Sign in again.';

const enrol = (username: string) => enrolAuthenticator(gateway, username);

/** A sign-in of `username` left at its code step: the browser, the step's page and its address. */
async function waitingAtCode(username: string) {
  const agent = new BrowserAgent();
  const step = await signInThrough(agent, url('/admin/login'), username, DEMO_PASSWORD);
  expect(step.html).toContain('/code"');
  return { agent, step, at: step.url.replace(/\/(code|login)$/, '') };
}

beforeAll(async () => {
  gateway = await startTestGateway('pending-step-after-reset');
});
afterAll(async () => gateway?.stop());

describe('a sign-in waiting at its code step when the helpdesk resets the factors', () => {
  it('starts over at the password on a reload, saying why, instead of asking for a code she has not', async () => {
    await enrol('alice');
    const { agent, at } = await waitingAtCode('alice');
    await resetFactorsOf(helpdesk(), 'alice');

    const reloaded = await agent.navigate(at);
    expect(alertOf(reloaded)).toBe(SIGN_IN_AGAIN);
    expect(reloaded.html).not.toContain('/code"');
    expect(reloaded.html).not.toContain('recovery code');
    // The password again, and then on as a fresh sign-in goes: no second factor, none required.
    const after = await agent.submit(reloaded, formWithAction(reloaded, '/login'), {
      username: 'alice',
      password: DEMO_PASSWORD,
    });
    expect(after.html).not.toContain('/code"');
    expect(after.url.startsWith(url('/admin'))).toBe(true);
  });

  it('takes no code posted from the page shown before the reset', async () => {
    await enrol('dave');
    const { agent, step } = await waitingAtCode('dave');
    const codeForm = formWithAction(step, '/code');
    await resetFactorsOf(helpdesk(), 'dave');
    const posted = await agent.submit(step, codeForm, { code: '000000' });
    expect(alertOf(posted)).toBe(SIGN_IN_AGAIN);
    expect(posted.html).toContain('/login"');
  });

  it('goes on as before for a sign-in begun after the reset', async () => {
    await enrol('bob');
    await resetFactorsOf(helpdesk(), 'bob');
    await enrol('bob');
    const { agent, step } = await waitingAtCode('bob');
    expect(alertOf(step)).toBe('');
    const reloaded = await agent.navigate(step.url.replace(/\/(code|login)$/, ''));
    expect(reloaded.html).toContain('/code"');
  });
});
