import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { BrowserAgent, formWithAction, type Page } from '../helpers/browser-agent.ts';
import {
  addPeople,
  passwordVerifications,
  registerTestApp,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { codeFlow, discover, loginAttempt } from '../helpers/rp.ts';
import { startMailbox, type Mailbox } from '../helpers/mailbox.ts';
import { garbageServer, silentServer, type BrokenServer } from '../helpers/broken-servers.ts';
import { inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { resetPassword } from '../../gateway/accounts/update-user.ts';
import { openDirectory, endpointOf } from '../../gateway/directories/connection.ts';
import { findPersonDn, personFilter } from '../../gateway/directories/directory-password.ts';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { asOperator, passedLogin, register, RESET_URL, sealerOf, sync } from './fixtures.ts';

const REDIRECT = 'http://localhost:9/cb';
const MAX_FAILURES = 3;
let gateway: TestGateway;
let ldap: TestSlapd;
let mailbox: Mailbox;
let rp: client.Configuration;

const people = {
  nora: { uid: 'nora', name: 'Nora Nilsen', password: 'nora-in-the-directory', ous: ['Library'] },
  otto: { uid: 'otto', name: 'Otto Olsen', password: 'otto-in-the-directory', ous: ['Library'] },
  pia: { uid: 'pia', name: 'Pia Park', password: 'pia-in-the-directory', ous: ['Library'] },
  quinn: { uid: 'quinn', name: 'Quinn Quist', password: 'quinn-in-the-directory', ous: ['Library'] },
  rosa: { uid: 'rosa', name: 'Rosa Ruiz', password: 'rosa-in-the-directory', ous: ['Library'] },
  sven: { uid: 'sven', name: 'Sven Strand', password: 'sven-in-the-directory', ous: ['Library'] },
  tara: { uid: 'tara', name: 'Tara Toft', password: 'tara-in-the-directory', ous: ['Library'] },
  una: { uid: 'una', name: 'Una Ueda', password: 'una-in-the-directory', ous: ['Library'] },
};
const dnOf = (p: { uid: string; ous: string[] }) => personDn(p);

async function loginPage(agent = new BrowserAgent()): Promise<{ agent: BrowserAgent; page: Page }> {
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  return { agent, page: await agent.navigate(url.toString(), {}, REDIRECT) };
}

/** One try at the gateway's real login page, as a browser without JavaScript makes it. */
const attempt = (username: string, password: string): Promise<Page> => loginAttempt(rp, REDIRECT, username, password);

const alertOf = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1]?.replace(/&#x27;/g, "'");
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const lastLogin = async (target: string) =>
  (
    await gateway.models.AuditEvent.findAll({ where: { action: 'login', target }, order: [['id', 'DESC']], limit: 1 })
  )[0]!;

beforeAll(async () => {
  mailbox = await startMailbox();
  gateway = await startTestGateway('dir-sign-in', {
    LOGIN_MAX_FAILURES: String(MAX_FAILURES),
    LOGIN_LOCKOUT_MINUTES: '10',
    LOGIN_IP_LIMIT: '1000',
    SMTP_URL: mailbox.url,
    MAIL_FROM: 'Atrium <no-reply@campus.test>',
    ATRIUM_TRUST_PROXY: 'true',
  });
  const app = await registerTestApp(gateway, { name: 'Course Notes', redirectUris: [REDIRECT] });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  ldap = await startTestSlapd({
    ldif: [ouLdif([['Library']]), ...Object.values(people).map((p) => inetOrgPerson(p))].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url, { timeoutSeconds: 2 });
  const report = await sync(gateway, 'campus-ldap');
  expect(report.added).toBe(Object.keys(people).length);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
  await mailbox?.close();
});

describe('signing in with a directory password', () => {
  it('signs a directory person in through the login page by a bind as their entry; Atrium keeps no password', async () => {
    const before = ldap.binds(dnOf(people.nora));
    const { tokens } = await codeFlow(rp, REDIRECT, 'nora', {}, undefined, people.nora.password);
    const claims = decodeJwt(tokens.id_token!);
    expect(claims.preferred_username).toBe('nora');
    expect(claims.org_units).toEqual(['campus/library']);
    expect(ldap.binds(dnOf(people.nora))).toBe(before + 1);
    expect((await userNamed('nora')).passwordHash).toBeNull();
    expect((await lastLogin('nora')).outcome).toBe('success');
  });

  it('takes the email as well, and still binds as the entry the username finds', async () => {
    const page = await attempt('Nora@Campus.test', people.nora.password);
    // Straight back to the app, which nora allowed at her sign-in above.
    expect(passedLogin(page)).toBe(true);
  });

  it('keeps local accounts working beside directory people', async () => {
    const binds = ldap.binds();
    const page = await attempt('alice', DEMO_PASSWORD);
    expect(page.html).toContain('/confirm"');
    expect(ldap.binds()).toBe(binds);
  });

  it('refuses a wrong directory password like any wrong password, and counts it toward the lockout', async () => {
    const page = await attempt('otto', 'not-the-directory-password');
    expect(page.status).toBe(401);
    expect(alertOf(page)).toBe('Wrong username or password.');
    expect((await userNamed('otto')).failedLogins).toBe(1);
    expect((await lastLogin('otto')).details).toContain('wrong_password');
  });

  it('locks the person after repeated failures, and then sends nothing to the directory, not even the right password', async () => {
    for (let i = 1; i < MAX_FAILURES; i++) expect((await attempt('otto', `wrong-${i}-password`)).status).toBe(401);
    expect((await userNamed('otto')).lockedUntil!.getTime()).toBeGreaterThan(Date.now());
    const binds = ldap.binds(dnOf(otto()));
    const all = ldap.binds();
    const locked = await attempt('otto', people.otto.password);
    expect(locked.status).toBe(429);
    expect(locked.html).toContain('Too many failed attempts');
    // The lockout's ten minutes, less the moments the failures themselves took on a busy machine.
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(590);
    expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(600);
    expect(ldap.binds(dnOf(otto()))).toBe(binds);
    expect(ldap.binds()).toBe(all);
    // With the directory stopped the answer is the same: the lockout is decided before any bind is tried.
    await ldap.pause();
    try {
      const stillLocked = await attempt('otto', people.otto.password);
      expect(stillLocked.status).toBe(429);
    } finally {
      await ldap.resume();
    }
  });

  it('refuses an empty password without asking the directory (an empty bind would be anonymous)', async () => {
    const all = ldap.binds();
    const { agent, page } = await loginPage();
    const refused = await agent.submit(
      page,
      formWithAction(page, '/login'),
      { username: 'rosa', password: '' },
      REDIRECT,
    );
    expect(refused.status).toBe(401);
    expect(ldap.binds()).toBe(all);
  });
});

const otto = () => people.otto;

describe('a directory that does not answer', () => {
  it('says "try again later" and locks nobody out, however often the person tries', async () => {
    await ldap.pause();
    try {
      for (let i = 0; i < MAX_FAILURES + 2; i++) {
        const page = await attempt('pia', people.pia.password);
        expect(page.status).toBe(503);
        expect(alertOf(page)).toMatch(/directory is not answering .* Try again/);
        expect(page.headers.get('retry-after')).toBe('60');
      }
      const pia = await userNamed('pia');
      expect(pia.failedLogins).toBe(0);
      expect(pia.lockedUntil).toBeNull();
      expect((await lastLogin('pia')).details).toContain('directory_unavailable');
    } finally {
      await ldap.resume();
    }
    expect((await attempt('pia', people.pia.password)).html).toContain('/confirm"');
  });

  describe('that hangs or answers garbage', () => {
    let silent: BrokenServer;
    let garbage: BrokenServer;
    beforeAll(async () => {
      silent = await silentServer();
      garbage = await garbageServer();
      await register(gateway, 'hung', silent.url, { timeoutSeconds: 1 });
      await register(gateway, 'babbling', garbage.url, { timeoutSeconds: 1 });
    });
    afterAll(async () => {
      await silent?.close();
      await garbage?.close();
    });

    // Quinn's registration is pointed at the broken server, as if their directory went wrong under them.
    async function quinnFrom(directory: string, work: () => Promise<void>) {
      const quinn = await userNamed('quinn');
      const link = (await gateway.models.DirectoryAccount.findByPk(quinn.id))!;
      const home = link.directoryId;
      link.directoryId = (await gateway.models.Directory.findOne({ where: { name: directory } }))!.id;
      await link.save();
      try {
        await work();
      } finally {
        link.directoryId = home;
        await link.save();
      }
    }

    it('gives up on a hung directory within its timeout, with the same answer', async () => {
      await quinnFrom('hung', async () => {
        const started = Date.now();
        const page = await attempt('quinn', people.quinn.password);
        expect(page.status).toBe(503);
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(silent.connections()).toBeGreaterThan(0);
      });
      expect((await userNamed('quinn')).failedLogins).toBe(0);
    });

    it('treats garbage as no answer', async () => {
      await quinnFrom('babbling', async () => {
        const page = await attempt('quinn', people.quinn.password);
        expect(page.status).toBe(503);
        expect(alertOf(page)).toMatch(/not answering/);
        expect(garbage.connections()).toBeGreaterThan(0);
      });
      expect((await userNamed('quinn')).failedLogins).toBe(0);
    });
  });
});

describe('someone taken off the directory', () => {
  const linkOf = async (username: string) =>
    (await gateway.models.DirectoryAccount.findByPk((await userNamed(username)).id))!;

  it('is disabled by the next sign-in with their name, which answers as before, and loses every session and token', async () => {
    const { sven } = people;
    const { tokens, agent } = await codeFlow(rp, REDIRECT, 'sven', {}, undefined, sven.password);
    await ldap.removeEntry(dnOf(sven));
    // A directory that does not answer says nothing of anyone.
    await ldap.pause();
    try {
      expect((await attempt('sven', sven.password)).status).toBe(503);
    } finally {
      await ldap.resume();
    }
    expect((await userNamed('sven')).status).toBe('active');

    const page = await attempt('sven', sven.password);
    expect(page.status).toBe(401);
    expect(alertOf(page)).toBe('Wrong username or password.');
    expect((await userNamed('sven')).status).toBe('disabled');
    expect((await linkOf('sven')).disabledByDirectory).toBe(true);
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toThrow();
    const silent = client.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const back = await agent.navigate(silent.toString(), {}, REDIRECT);
    expect(new URL(back.url).searchParams.get('error')).toBe('login_required');
  });

  it('disables nobody when the search finds no one at all (a filter gone wrong), nor someone the directory renamed', async () => {
    const { tara } = people;
    const edit = (userFilter: string) =>
      updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap', { userFilter });
    await edit('(objectClass=organizationalRole)');
    try {
      expect((await attempt('pia', 'not-pias-password')).status).toBe(401);
    } finally {
      await edit('(objectClass=inetOrgPerson)');
    }
    expect((await userNamed('pia')).status).toBe('active');

    // Found by the id their link keeps, as the sync finds them.
    await ldap.moveEntry(dnOf(tara), dnOf({ ...tara, uid: 'tara-t' }));
    expect((await attempt('tara', 'not-taras-password')).status).toBe(401);
    expect((await userNamed('tara')).status).toBe('active');
  });
});

describe('names that try to rewrite the directory search', () => {
  const attempts = [
    '*',
    '*)(uid=*',
    'nora)(|(uid=*',
    'admin)(|(uid=*',
    '\\2a',
    'nora*',
    'uid=nora,ou=Library,ou=People,dc=campus,dc=test',
    'nora,ou=People',
  ];

  it('refuses each at the login page, sends nothing to the directory and changes nobody', async () => {
    const users = await gateway.models.User.count();
    const binds = ldap.binds();
    for (const name of attempts) {
      const page = await attempt(name, people.nora.password);
      expect(page.status, name).toBe(401);
      expect(alertOf(page), name).toBe('Wrong username or password.');
    }
    expect(ldap.binds()).toBe(binds);
    expect(await gateway.models.User.count()).toBe(users);
    expect((await userNamed('nora')).failedLogins).toBe(0);
  });

  it('matches nobody in the directory itself: the name is escaped into the filter, never pasted', async () => {
    const directory = (await gateway.models.Directory.findOne({ where: { name: 'campus-ldap' } }))!;
    const settings = directorySettingsOf(directory);
    expect(personFilter(settings, '*)(uid=*').toString()).toBe(
      '(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))',
    );
    const ldapClient = await openDirectory(endpointOf(directory, sealerOf(gateway)));
    try {
      for (const name of attempts) expect(await findPersonDn(ldapClient, settings, name), name).toBeNull();
      expect(await findPersonDn(ldapClient, settings, 'nora')).toMatchObject({ dn: dnOf(people.nora) });
    } finally {
      await ldapClient.unbind();
    }
  });
});

describe('a directory person who forgot their password', () => {
  it('finds the directory\'s reset page on the "forgot password" page', async () => {
    const page = await new BrowserAgent().navigate(`${gateway.issuer}/password/forgot`);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`href="${RESET_URL}"`);
  });

  it("is mailed the directory's reset page rather than a link that would set an Atrium password", async () => {
    const agent = new BrowserAgent();
    const page = await agent.navigate(`${gateway.issuer}/password/forgot`);
    const sent = await agent.submit(page, formWithAction(page, '/password/forgot'), { identifier: 'rosa' });
    expect(sent.status).toBe(200);
    const mail = await mailbox.next('rosa@campus.test');
    expect(mail.text).toContain(RESET_URL);
    expect(mail.text).not.toContain('/password/reset/');
    expect(await gateway.models.PasswordReset.count({ where: { userId: (await userNamed('rosa')).id } })).toBe(0);
  });

  it('cannot be given an Atrium password by an administrator either', async () => {
    await expect(resetPassword(asOperator(gateway), 'rosa', 'an-atrium-password')).rejects.toThrow(
      /directory campus-ldap/,
    );
    expect((await userNamed('rosa')).passwordHash).toBeNull();
  });
});

describe('a refused sign-in', () => {
  it('costs one password verification whoever was named, so its time does not tell who exists', async () => {
    await addPeople(gateway, ['wes']);
    const refusals: [who: string, username: string, password: string][] = [
      ['an account here, wrong password', 'bob', 'not-bobs-password'],
      ['an account without a password here', 'wes', 'any-password-at-all'],
      ['a name nobody has, here or in a directory', 'nobody-anywhere', 'any-password-at-all'],
      ['a directory person, whose directory refuses the bind', 'una', 'not-unas-password'],
      ['a directory person with no password, which never reaches the directory', 'una', ''],
    ];
    for (const [who, username, password] of refusals) {
      const before = await passwordVerifications(gateway);
      const page = await attempt(username, password);
      expect(page.status, who).toBe(401);
      expect(alertOf(page), who).toBe('Wrong username or password.');
      expect((await passwordVerifications(gateway)) - before, who).toBe(1);
    }
  });
});
