import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, signInThrough, type Page } from '../helpers/browser-agent.ts';
import { enrolAuthenticator, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { AccountLockedError } from '../../gateway/accounts/authenticate.ts';
import { changeOwnPassword } from '../../gateway/accounts/change-password.ts';
import { createRateLimiter } from '../../core/rate-limit.ts';

let gateway: TestGateway;
const url = (path: string) => `${gateway.issuer}${path}`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const alertOf = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1] ?? '';
const WAIT = /Try again in ([^.]*)\./;

const enrol = (username: string) => enrolAuthenticator(gateway, username);

/** A sign-in at the console's login form from a browser never used before; the page it ends on. */
const attempt = (username: string, password: string) =>
  signInThrough(new BrowserAgent(), url('/admin/login'), username, password);

/** The lock of `username` made to end `seconds` from now, as if it had begun a while ago. */
async function lockEndsIn(username: string, seconds: number) {
  await gateway.models.User.update({ lockedUntil: new Date(Date.now() + seconds * 1000) }, { where: { username } });
}

beforeAll(async () => {
  gateway = await startTestGateway('lockout-time-left', {
    LOGIN_MAX_FAILURES: '3',
    LOGIN_LOCKOUT_MINUTES: '15',
    LOGIN_IP_LIMIT: '1000',
  });
});
afterAll(async () => gateway?.stop());

describe('the wait a lockout states', () => {
  it('is the time left of the lock at the password, in its message and its Retry-After', async () => {
    for (let i = 0; i < 3; i++) await attempt('dave', `wrong-${i}-password`);
    let locked = await attempt('dave', DEMO_PASSWORD);
    expect(locked.status).toBe(429);
    expect(WAIT.exec(alertOf(locked))?.[1]).toBe('15 minutes');

    await lockEndsIn('dave', 4 * 60 + 10);
    locked = await attempt('dave', DEMO_PASSWORD);
    expect(locked.status).toBe(429);
    expect(WAIT.exec(alertOf(locked))?.[1]).toBe('5 minutes');
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(240);
    expect(retryAfter).toBeLessThanOrEqual(250);

    await lockEndsIn('dave', 30);
    locked = await attempt('dave', DEMO_PASSWORD);
    expect(WAIT.exec(alertOf(locked))?.[1]).toBe('1 minute');
  });

  it('goes down for a name no account has as it does for a real one', async () => {
    for (let i = 0; i < 3; i++) await attempt('ghost-user', `wrong-${i}-password`);
    let locked = await attempt('ghost-user', 'wrong-again-password');
    expect(locked.status).toBe(429);
    expect(WAIT.exec(alertOf(locked))?.[1]).toBe('15 minutes');
    // Its window begun ten minutes ago: five minutes left, as a real account's lock would say.
    await gateway.sequelize.query('UPDATE rate_limits SET window_start = window_start - 600000');
    locked = await attempt('ghost-user', 'wrong-again-password');
    expect(locked.status).toBe(429);
    expect(WAIT.exec(alertOf(locked))?.[1]).toBe('5 minutes');
    expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(300);
  });

  it('is the time left of the lock at the code step, after a wrong code and on a reload', async () => {
    await enrol('alice');
    const agent = new BrowserAgent();
    let step = await signInThrough(agent, url('/admin/login'), 'alice', DEMO_PASSWORD);
    const codeForm = formWithAction(step, '/code');
    for (let i = 0; i < 3; i++) step = await agent.submit(step, formWithAction(step, '/code'), { code: '000000' });
    expect(WAIT.exec(alertOf(step))?.[1]).toBe('15 minutes');

    await lockEndsIn('alice', 90);
    const reloaded = await agent.navigate(step.url.replace(/\/code$/, ''));
    expect(reloaded.status).toBe(429);
    expect(WAIT.exec(alertOf(reloaded))?.[1]).toBe('2 minutes');
    expect(Number(reloaded.headers.get('retry-after'))).toBeLessThanOrEqual(90);
    // A code posted from a page shown before the lock is refused with the same wait.
    const typed = await agent.submit(reloaded, codeForm, { code: '000000' });
    expect(typed.status).toBe(429);
    expect(WAIT.exec(alertOf(typed))?.[1]).toBe('2 minutes');
  });

  it('is the time left of the lock when a signed-in person changes their password meanwhile', async () => {
    const bob = await userNamed('bob');
    await lockEndsIn('bob', 3 * 60 + 5);
    const policy = {
      maxFailures: 3,
      lockoutMinutes: 15,
      ipLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
      identifierLimiter: createRateLimiter({ limit: 100, windowSeconds: 60 }),
    };
    const change = { current: DEMO_PASSWORD, password: 'a new password 123', confirmation: 'a new password 123' };
    const self = {
      ...gateway.context(null),
      actor: { kind: 'user' as const, id: bob.id, name: 'bob', roles: [], unitPaths: [] },
    };
    const refused = await changeOwnPassword(self, policy, await userNamed('bob'), change).then(
      () => null,
      (error: unknown) => error as Error,
    );
    expect(refused).toBeInstanceOf(AccountLockedError);
    expect(WAIT.exec(refused!.message)?.[1]).toBe('4 minutes');
  });
});
