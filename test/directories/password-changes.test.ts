import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, portalClient, startTestNode, type Login, type TestNode } from '../helpers/node.ts';
import { inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import type { BrowserAgent } from '../helpers/browser-agent.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import {
  filetimeToDate,
  generalizedTimeToDate,
  passwordChangeStep,
} from '../../gateway/directories/password-changes.ts';
import { asOperator, register, sealerOf, sync } from './fixtures.ts';

describe("reading when a directory's password last changed", () => {
  it("reads Active Directory's pwdLastSet, 100 ns since 1601, with 0 for a change due at the next logon", () => {
    expect(filetimeToDate('116444736000000000')).toEqual(new Date('1970-01-01T00:00:00.000Z'));
    expect(filetimeToDate('132223104000000000')).toEqual(new Date('2020-01-01T00:00:00.000Z'));
    // Beyond 2^53, where a Number would be off by far more than a millisecond.
    expect(filetimeToDate('134093664012345678')).toEqual(new Date('2025-12-05T00:00:01.234Z'));
    expect(filetimeToDate('0')).toBe('must-change');
    for (const bad of ['', '-1', '12a', '1.5', '999999999999999999999']) expect(filetimeToDate(bad)).toBeNull();
  });

  it("reads OpenLDAP's pwdChangedTime, an LDAP GeneralizedTime", () => {
    expect(generalizedTimeToDate('20261204120000Z')).toEqual(new Date('2026-12-04T12:00:00.000Z'));
    expect(generalizedTimeToDate('20261204120000.25Z')).toEqual(new Date('2026-12-04T12:00:00.250Z'));
    expect(generalizedTimeToDate('20261204140000+0200')).toEqual(new Date('2026-12-04T12:00:00.000Z'));
    expect(generalizedTimeToDate('202612041200Z')).toEqual(new Date('2026-12-04T12:00:00.000Z'));
    expect(generalizedTimeToDate('2026120412.5Z')).toEqual(new Date('2026-12-04T12:30:00.000Z'));
    for (const bad of ['20261204120000', '20261304120000Z', '20260231120000Z', '133800000000000000', 'soon'])
      expect(generalizedTimeToDate(bad)).toBeNull();
  });

  it('counts a later change only over a value read before, never a first value nor an older one', () => {
    const t1 = '20261204120000Z';
    const t2 = '20261204120001Z';
    expect(passwordChangeStep(null, t1)).toEqual({ keep: t1, changed: false });
    expect(passwordChangeStep(null, null)).toEqual({ keep: '', changed: false });
    expect(passwordChangeStep('', t1)).toEqual({ keep: t1, changed: true });
    expect(passwordChangeStep('', null)).toEqual({ changed: false });
    expect(passwordChangeStep(t1, t1)).toEqual({ changed: false });
    expect(passwordChangeStep(t1, t2)).toEqual({ keep: t2, changed: true });
    // A replica that has not yet heard of the change: neither kept nor counted.
    expect(passwordChangeStep(t2, t1)).toEqual({ changed: false });
    expect(passwordChangeStep(t1, null)).toEqual({ changed: false });
    const set = '134093664000000000';
    expect(passwordChangeStep(set, '134093664010000000')).toEqual({ keep: '134093664010000000', changed: true });
    expect(passwordChangeStep(set, '0')).toEqual({ keep: '0', changed: true });
    expect(passwordChangeStep('0', set)).toEqual({ keep: set, changed: true });
    expect(passwordChangeStep('0', '0')).toEqual({ changed: false });
  });
});

let gateway: TestGateway;
let ldap: TestSlapd;
let library: TestNode;

const person = (uid: string, name: string) => ({ uid, name, password: `${uid}-directory-pw`, ous: ['Library'] });
const nora = person('nora', 'Nora Nilsen');
const omar = person('omar', 'Omar Okafor');
const pia = person('pia', 'Pia Park');
const quinn = person('quinn', 'Quinn Quist');

beforeAll(async () => {
  gateway = await startTestGateway('dir-password-changes');
  ldap = await startTestSlapd({
    ldif: [ouLdif([['Library']]), ...[nora, omar, pia, quinn].map((p) => inetOrgPerson(p))].join('\n'),
    // The ppolicy overlay keeps pwdChangedTime (the entries loaded offline have none until a change).
    databaseLines: ['moduleload ppolicy', 'overlay ppolicy'],
  });
  await register(gateway, 'campus-ldap', ldap.url);
  const first = await sync(gateway, 'campus-ldap');
  expect(first.added).toBe(4);
  await addDomain(asOperator(gateway), {
    name: 'library.campus.test',
    url: 'http://127.0.0.1:9',
    units: ['campus/library'],
  });
  library = await startTestNode(gateway, 'library.campus.test');
});
afterAll(async () => {
  await library?.stop();
  await ldap?.stop();
  await gateway?.stop();
});

/** What IT does in the directory: a new password, which the ppolicy overlay stamps with the time. */
const changePassword = (p: { uid: string; ous: string[] }, password: string) =>
  ldap.replace(personDn(p), 'userPassword', [password]);

/**
 * Waits for the next second: pwdChangedTime has whole seconds, and so has a token's iat (a node takes a token
 * issued in the second access ended as issued before it).
 */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));

/** Whether the browser's gateway session still signs it in to the portal without a form. */
async function silentlySignedIn(agent: BrowserAgent): Promise<boolean> {
  const portal = await portalClient(gateway);
  const url = client.buildAuthorizationUrl(portal, {
    redirect_uri: 'http://localhost:9/portal-cb',
    scope: 'openid',
    prompt: 'none',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const back = await agent.navigate(url.toString(), {}, 'http://localhost:9/portal-cb');
  return new URL(back.url).searchParams.has('code');
}

const stillIn = async (who: Login) => (await who.tokenFor(library.url)).length > 0 && silentlySignedIn(who.agent);
const linkOf = async (username: string) => {
  const user = await gateway.models.User.findOne({ where: { username } });
  return (await gateway.models.DirectoryAccount.findByPk(user!.id))!;
};
const lastSignOut = async (target: string) => {
  const [event] = await gateway.models.AuditEvent.findAll({
    where: { action: 'user.sign_out_everywhere', target },
    order: [['id', 'DESC']],
    limit: 1,
  });
  return event && { actor: event.actorName, details: JSON.parse(event.details!) as Record<string, unknown> };
};

describe('a password changed in the directory', () => {
  it('signs the person out everywhere at the next sync, chat included; the others stay signed in', async () => {
    const noraChat = await connectAs(gateway, library, 'nora', await login(gateway, 'nora', nora.password));
    const omarIn = await login(gateway, 'omar', omar.password);
    const ended = new Promise<{ code: number }>((resolve) => noraChat.on('ended', resolve));

    await changePassword(nora, 'nora-after-the-breach');
    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'success', signedOut: 1, names: { signedOut: ['nora'] } });

    await expect(ended).resolves.toMatchObject({ code: 4409 });
    await expect(noraChat.login.tokenFor(library.url)).rejects.toBeTruthy();
    expect(await silentlySignedIn(noraChat.login.agent)).toBe(false);
    expect(await stillIn(omarIn)).toBe(true);
    const user = await gateway.models.User.findOne({ where: { username: 'nora' } });
    expect(user!.status).toBe('active');
    expect(await lastSignOut('nora')).toMatchObject({
      details: { directory: 'campus-ldap', reason: 'password changed in the directory' },
    });
    noraChat.close();

    // The new password signs her in, and a sync that finds nothing new signs nobody out.
    const noraAgain = await login(gateway, 'nora', 'nora-after-the-breach');
    const quiet = await sync(gateway, 'campus-ldap');
    expect(quiet).toMatchObject({ outcome: 'success', signedOut: 0, names: { signedOut: [] } });
    expect(await stillIn(noraAgain)).toBe(true);
    expect(await stillIn(omarIn)).toBe(true);
  });

  it('signs them out again at a later change', async () => {
    const noraIn = await login(gateway, 'nora', 'nora-after-the-breach');
    await nextSecond();
    await changePassword(nora, 'nora-second-change');
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.signedOut).toEqual(['nora']);
    await expect(noraIn.tokenFor(library.url)).rejects.toBeTruthy();
    expect(await stillIn(await login(gateway, 'nora', 'nora-second-change'))).toBe(true);
  });

  it('found at a sign-in, ends the sessions from before the change at once; the sign-in itself goes on', async () => {
    const piaChat = await connectAs(gateway, library, 'pia', await login(gateway, 'pia', pia.password));
    const ended = new Promise<{ code: number }>((resolve) => piaChat.on('ended', resolve));
    await nextSecond();
    await changePassword(pia, 'pia-new-pw');

    const signInStarted = Date.now();
    const piaNow = await login(gateway, 'pia', 'pia-new-pw');
    const tokenNow = await piaNow.tokenFor(library.url);
    await expect(ended).resolves.toMatchObject({ code: 4409 });
    await expect(piaChat.login.tokenFor(library.url)).rejects.toBeTruthy();
    // The ending is dated before the second the sign-in began: a node takes a token issued in the second of an
    // ending as issued before it. So the sign-in's token is good on the node, which knows of the ending.
    const { accessEndedAt } = (await gateway.models.User.findOne({ where: { username: 'pia' } }))!;
    expect(accessEndedAt!.getTime()).toBeLessThan(Math.floor(signInStarted / 1000) * 1000);
    const me = await fetch(`${library.localUrl}/api/v1/me`, { headers: { authorization: `Bearer ${tokenNow}` } });
    expect(me.status).toBe(200);
    const piaChatNow = await connectAs(gateway, library, 'pia', piaNow);
    expect(piaChatNow.state).toBe('online');
    expect(await stillIn(piaNow)).toBe(true);
    expect(await lastSignOut('pia')).toMatchObject({
      actor: 'directory-sign-in',
      details: { reason: 'password changed in the directory (found at a sign-in)' },
    });
    // The sync finds the change noted, and leaves the new session alone.
    const report = await sync(gateway, 'campus-ldap');
    expect(report.signedOut).toBe(0);
    expect(await stillIn(piaNow)).toBe(true);
    expect(piaChatNow.state).toBe('online');
    piaChat.close();
    piaChatNow.close();
  });

  it('found at a sign-in with the old password, which fails, ends the sessions all the same', async () => {
    const quinnIn = await login(gateway, 'quinn', quinn.password);
    await nextSecond();
    await changePassword(quinn, 'quinn-new-pw');
    await expect(login(gateway, 'quinn', quinn.password)).rejects.toBeTruthy();
    await expect(quinnIn.tokenFor(library.url)).rejects.toBeTruthy();
    expect((await sync(gateway, 'campus-ldap')).signedOut).toBe(0);
  });
});

describe('upgrading, or reading another attribute', () => {
  it('signs nobody out at the first sync after the upgrade: it only notes the times it reads', async () => {
    const omarIn = await login(gateway, 'omar', omar.password);
    // As migration 0022 leaves every link, with a change made in the directory before or since; and the
    // registration as it was stored before, without the setting, which then is its preset's.
    await gateway.models.DirectoryAccount.update({ passwordChanged: null }, { where: {} });
    const directory = (await gateway.models.Directory.findOne({ where: { name: 'campus-ldap' } }))!;
    const { passwordChangedAttribute, ...before } = JSON.parse(directory.settings) as Record<string, unknown>;
    expect(passwordChangedAttribute).toBe('pwdChangedTime');
    await directory.update({ settings: JSON.stringify(before) });
    await changePassword(omar, 'omar-new-pw');
    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'success', signedOut: 0 });
    expect(await stillIn(omarIn)).toBe(true);
    expect((await linkOf('omar')).passwordChanged).toMatch(/^\d{14}Z$/);
    expect((await linkOf('nora')).passwordChanged).toMatch(/^\d{14}Z$/);
  });

  it('forgets the times kept when the attribute changes, so the next sync signs nobody out', async () => {
    const omarIn = await login(gateway, 'omar', 'omar-new-pw');
    const edit = (passwordChangedAttribute: string) =>
      updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap', { passwordChangedAttribute });
    // An attribute that is no time at all (a slip): each of its values differs from the pwdChangedTime kept.
    const changed = await edit('entryUUID');
    expect(changed.attributes.passwordChanged).toBe('entryUUID');
    expect((await linkOf('omar')).passwordChanged).toBeNull();
    expect((await sync(gateway, 'campus-ldap')).signedOut).toBe(0);
    expect(await stillIn(omarIn)).toBe(true);

    // Turned off, nothing is read or kept.
    expect((await edit('none')).attributes.passwordChanged).toBeNull();
    expect((await sync(gateway, 'campus-ldap')).signedOut).toBe(0);
    expect((await linkOf('omar')).passwordChanged).toBeNull();
  });
});
