import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, signInThrough, type Page } from '../helpers/browser-agent.ts';
import { signInToConsole, enrolAuthenticator, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let gateway: TestGateway;
let admin: BrowserAgent;
const url = (path: string) => `${gateway.issuer}${path}`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const alertOf = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1] ?? '';

const enrol = (username: string) => enrolAuthenticator(gateway, username);

beforeAll(async () => {
  gateway = await startTestGateway('reset-factors-lock', { LOGIN_MAX_FAILURES: '3', LOGIN_LOCKOUT_MINUTES: '15' });
  let page: Page;
  ({ agent: admin, page } = await signInToConsole(gateway.issuer, 'admin'));
  expect(page.url.startsWith(url('/admin/')), page.html.slice(0, 800)).toBe(true);
});
afterAll(async () => gateway?.stop());

describe('the helpdesk’s reset of a person’s second factors', () => {
  it('lifts the lockout their wrong codes caused, says so, and audits it', async () => {
    await enrol('dave');
    // Wrong codes after the right password, up to the lock: the code step says the account is paused.
    const agent = new BrowserAgent();
    let step = await signInThrough(agent, url('/admin/login'), 'dave', DEMO_PASSWORD);
    for (let i = 0; i < 3; i++) step = await agent.submit(step, formWithAction(step, '/code'), { code: '000000' });
    expect(alertOf(step)).toMatch(/^Too many failed attempts/);
    const lockedUntil = (await userNamed('dave')).lockedUntil!;
    expect(lockedUntil.getTime()).toBeGreaterThan(Date.now());

    const dave = await userNamed('dave');
    let page = await admin.navigate(url(`/admin/users/${dave.id}`));
    // Locked by wrong codes after the right password: the console does not blame wrong passwords alone.
    expect(/id="lock-reason">([^<]*)/.exec(page.html)?.[1]).toMatch(
      /^Too many failed attempts \(wrong passwords or codes\); sign-in is blocked until /,
    );
    page = await admin.submit(page, formWithAction(page, '/reset-factors'), { understood: 'yes' });
    expect(page.html).toContain('Reset the second factor of dave, lifted their lockout and signed them out everywhere');
    expect(page.html).not.toContain('id="unlock-heading"');
    const after = await userNamed('dave');
    expect(after.lockedUntil).toBeNull();
    expect(after.failedLogins).toBe(0);
    const entry = await gateway.models.AuditEvent.findOne({ where: { action: 'user.reset_factors', target: 'dave' } });
    expect(JSON.parse(String(entry?.details))).toMatchObject({ wasLockedUntil: lockedUntil.toISOString() });

    // At a browser the reset left no trace of, the password alone goes on again: no lock, no code to ask.
    const fresh = await signInThrough(new BrowserAgent(), url('/admin/login'), 'dave', DEMO_PASSWORD);
    expect(alertOf(fresh)).not.toMatch(/Too many failed attempts/);
    expect(fresh.html).not.toContain('/code"');
  });

  it('tells nothing of a lockout when the account was not locked', async () => {
    await enrol('alice');
    const alice = await userNamed('alice');
    let page = await admin.navigate(url(`/admin/users/${alice.id}`));
    page = await admin.submit(page, formWithAction(page, '/reset-factors'), { understood: 'yes' });
    expect(page.html).toContain('Reset the second factor of alice and signed them out everywhere');
    const entry = await gateway.models.AuditEvent.findOne({ where: { action: 'user.reset_factors', target: 'alice' } });
    expect(JSON.parse(String(entry?.details))).toMatchObject({ wasLockedUntil: null });
  });
});
