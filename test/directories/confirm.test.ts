import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { TOTP, Secret } from 'otpauth';
import { BrowserAgent, formWithAction, signInThrough } from '../helpers/browser-agent.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { createDatabaseRateLimiter } from '../../core/database-rate-limit.ts';
import type { LoginPolicy } from '../../gateway/accounts/authenticate.ts';
import { confirmIdentity } from '../../gateway/factors/confirm-identity.ts';
import { totpDeps } from '../../gateway/factors/totp.ts';
import { directoryPasswordCheck } from '../../gateway/directories/directory-password.ts';
import { PORTAL_COOKIE } from '../../gateway/portal/portal.ts';
import { register, sealerOf, sync } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;
let policy: LoginPolicy;

const rosa = { uid: 'rosa', name: 'Rosa Rossi', password: 'rosa-directory-pw', ous: ['Library'] };
const rosaUser = async () => (await gateway.models.User.findOne({ where: { username: 'rosa' } }))!;

beforeAll(async () => {
  gateway = await startTestGateway('dir-confirm');
  ldap = await startTestSlapd({ ldif: [ouLdif([['Library']]), inetOrgPerson(rosa)].join('\n') });
  await register(gateway, 'campus-ldap', ldap.url);
  await sync(gateway, 'campus-ldap');
  const { sequelize } = gateway;
  policy = {
    maxFailures: 5,
    lockoutMinutes: 15,
    ipLimiter: createDatabaseRateLimiter({ sequelize, name: 'confirm-ip', limit: 100, windowSeconds: 60 }),
    identifierLimiter: createDatabaseRateLimiter({ sequelize, name: 'confirm-id', limit: 100, windowSeconds: 60 }),
    directoryPassword: directoryPasswordCheck({ sealer: sealerOf(gateway), logger: pino({ level: 'silent' }) }),
  };
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('confirming it is you on the account page, as a directory person', () => {
  const totp = () => totpDeps(gateway.config.secretKey, gateway.issuer);

  it('takes the directory password, checked by the directory, and counts a wrong one toward the lockout', async () => {
    await expect(
      confirmIdentity(gateway.context(null), totp(), policy, await rosaUser(), { password: 'not-it', code: '' }),
    ).rejects.toMatchObject({ code: 'confirmation_failed' });
    expect((await rosaUser()).failedLogins).toBe(1);
    await expect(
      confirmIdentity(gateway.context(null), totp(), policy, await rosaUser(), { password: rosa.password, code: '' }),
    ).resolves.toBe('pwd');
  });

  it('says to try again later, and counts nothing, while the directory does not answer', async () => {
    const before = (await rosaUser()).failedLogins;
    await ldap.pause();
    try {
      await expect(
        confirmIdentity(gateway.context(null), totp(), policy, await rosaUser(), { password: rosa.password, code: '' }),
      ).rejects.toMatchObject({ code: 'directory_unavailable' });
    } finally {
      await ldap.resume();
    }
    expect((await rosaUser()).failedLogins).toBe(before);
  });
});

describe('setting up an authenticator app on the account page, as a directory person', () => {
  it('takes the directory password to confirm it is them, and counts no failure for it', async () => {
    const account = `${gateway.issuer}/account/security`;
    const agent = new BrowserAgent();
    await signInThrough(agent, account, 'rosa', rosa.password);
    // The sign-in an hour old, as if the session had been left open since: the page asks who it is.
    const user = await rosaUser();
    for (const row of await gateway.models.OidcPayload.findAll({ where: { model: 'Session' } })) {
      const payload = JSON.parse(row.payload) as { accountId?: string; loginTs?: number };
      if (payload.accountId !== user.id) continue;
      payload.loginTs = Math.floor(Date.now() / 1000) - 3600;
      await row.update({ payload: JSON.stringify(payload) });
    }
    agent.cookies.get(new URL(gateway.issuer).host)!.delete(PORTAL_COOKIE);
    await agent.navigate(account);
    const page = await agent.navigate(account);
    expect(page.html).toContain('To set one up, confirm it is you first');
    const failedBefore = (await rosaUser()).failedLogins;

    const confirmed = await agent.submit(page, formWithAction(page, '/account/security/confirm'), {
      password: rosa.password,
    });
    expect((await rosaUser()).failedLogins).toBe(failedBefore);
    expect(confirmed.html).toContain('id="begin-totp"');
    const setup = await agent.submit(confirmed, formWithAction(confirmed, '/account/security/totp/start'));
    const secret = /id="totp-secret">([^<]+)</.exec(setup.html)![1]!.replace(/\s/g, '');
    const done = await agent.submit(setup, formWithAction(setup, '/account/security/totp'), {
      code: TOTP.generate({ secret: Secret.fromBase32(secret) }),
    });
    expect(done.html).toContain('shown only now');
    expect((await rosaUser()).failedLogins).toBe(failedBefore);
  });
});
