import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDirectory } from '../../gateway/directories/sync-directory.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { adUser, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { asOperator, personOf, register, sealerOf, sync } from './fixtures.ts';

/**
 * An entry that cannot be read into a person (no username, no email, a value Atrium cannot use) keeps its
 * person as they were: it is not taken for gone.
 */
let gateway: TestGateway;
let ad: TestSlapd;
const names = ['wanda', 'xavi', 'yara', 'zeno', 'abel'];
const dnOf = (uid: string) => personDn({ uid }, 'cn');

beforeAll(async () => {
  gateway = await startTestGateway('dir-unreadable');
  ad = await startTestSlapd({
    activeDirectoryLike: true,
    ldif: names.map((uid) => adUser({ uid, name: `${uid[0]!.toUpperCase()}${uid.slice(1)} Person` })).join('\n'),
  });
  await register(gateway, 'campus-ad', ad.url, { preset: 'active-directory' });
  expect((await sync(gateway, 'campus-ad')).added).toBe(names.length);
});
afterAll(async () => {
  await ad?.stop();
  await gateway?.stop();
});

describe('an entry whose username cannot be read', () => {
  it('keeps its person signed in and active, found by the DN of their entry', async () => {
    await ad.replace(dnOf('yara'), 'sAMAccountName', []);
    const report = await sync(gateway, 'campus-ad');
    expect(report.outcome).toBe('success');
    expect(report.names.refused).toEqual([{ username: null, dn: dnOf('yara'), reason: 'has no sAMAccountName' }]);
    expect(report.disabled).toBe(0);
    expect((await personOf(gateway, 'yara'))!.status).toBe('active');
  });

  it('disables nobody when no entry at all can be read, not even whom AD marks disabled, and the report says why', async () => {
    // A typo in the username attribute (or an ACL that hides it from the service account): every
    // entry is still there, under the same DN, but none can be read.
    await ad.replace(dnOf('abel'), 'userAccountControl', ['514']);
    await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad', {
      usernameAttribute: 'employeeNumber',
    });
    const report = await sync(gateway, 'campus-ad');
    expect(report.entries).toBe(names.length);
    expect(report.refused).toBe(names.length);
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(/none of the 5 entries .* could be read .* nobody was disabled/);
    expect(report.disabled).toBe(0);
    for (const uid of names) expect((await personOf(gateway, uid))!.status, uid).toBe('active');
    expect(await gateway.models.EndedAccess.count()).toBe(0);
    await ad.replace(dnOf('abel'), 'userAccountControl', ['512']);

    await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad', {
      usernameAttribute: 'sAMAccountName',
    });
    await ad.replace(dnOf('yara'), 'sAMAccountName', ['yara']);
    expect(await sync(gateway, 'campus-ad')).toMatchObject({ outcome: 'success', refused: 0, disabled: 0 });
  });
});

describe('a person disabled in AD whose entry cannot be read any more', () => {
  it('is disabled in Atrium, with everything they hold ended, like any person disabled in AD', async () => {
    const wanda = (await personOf(gateway, 'wanda'))!;
    const xavi = (await personOf(gateway, 'xavi'))!;
    // A common off-boarding: AD's ACCOUNTDISABLE bit set, and the mailbox attributes cleared; or the
    // account hidden from the service account's view of sAMAccountName.
    await ad.replace(dnOf('wanda'), 'userAccountControl', ['514']);
    await ad.replace(dnOf('wanda'), 'mail', []);
    await ad.replace(dnOf('wanda'), 'userPrincipalName', []);
    await ad.replace(dnOf('xavi'), 'userAccountControl', ['514']);
    await ad.replace(dnOf('xavi'), 'sAMAccountName', []);
    const report = await sync(gateway, 'campus-ad');
    expect(report.outcome).toBe('success');
    expect(report.names.disabled.sort()).toEqual(['wanda', 'xavi']);
    for (const person of [wanda, xavi]) {
      expect((await personOf(gateway, person.user.username))!.status).toBe('disabled');
      expect(await gateway.models.EndedAccess.count({ where: { kind: 'sub', subject: person.user.id } })).toBe(1);
    }
    const [audit] = await gateway.models.AuditEvent.findAll({ where: { action: 'user.disable', target: 'wanda' } });
    expect(JSON.parse(audit!.details!)).toMatchObject({ directory: 'campus-ad', reason: 'disabled in the directory' });
    expect((await sync(gateway, 'campus-ad')).disabled).toBe(0);
  });
});

describe('an unreadable entry that only shares a username with a person', () => {
  // More than one page (1,000 entries): vera and walt on the first, entries added later on the second.
  let big: TestSlapd;
  const fillers = Array.from({ length: 1_000 }, (_, i) => `f${String(i).padStart(4, '0')}`);
  const impostor = (cn: string, username: string, control: string) =>
    big.addEntry(dnOf(cn), {
      objectClass: 'user',
      objectCategory: 'person',
      cn,
      sn: 'Impostor',
      sAMAccountName: username,
      userAccountControl: control,
      objectGUID: randomBytes(16),
    });

  beforeAll(async () => {
    big = await startTestSlapd({
      activeDirectoryLike: true,
      ldif: ['vera', 'walt', ...fillers].map((uid) => adUser({ uid, name: `Person ${uid}` })).join('\n'),
    });
    await register(gateway, 'big-ad', big.url, { preset: 'active-directory' });
    expect(await sync(gateway, 'big-ad')).toMatchObject({ pages: 2, added: fillers.length + 2 });
  });
  afterAll(async () => big?.stop());

  it('does not disable the person, even on another page than their own entry', async () => {
    // Whoever may add an entry to the directory adds one with vera's username, no mail, and AD's disabled bit.
    await impostor('vera-2', 'vera', '514');
    const report = await sync(gateway, 'big-ad');
    expect(report).toMatchObject({ outcome: 'success', pages: 2, disabled: 0 });
    expect(report.names.refused).toEqual([
      { username: 'vera', dn: dnOf('vera-2'), reason: 'has no email (mail or userPrincipalName)' },
    ]);
    const vera = (await personOf(gateway, 'vera'))!;
    expect(vera.status).toBe('active');
    expect(await gateway.models.EndedAccess.count({ where: { kind: 'sub', subject: vera.user.id } })).toBe(0);
  });

  it('does not keep someone who left active', async () => {
    await impostor('walt-2', 'walt', '512');
    await big.removeEntry(dnOf('walt'));
    const report = await sync(gateway, 'big-ad');
    expect(report).toMatchObject({ outcome: 'success', disabled: 1 });
    expect(report.names.disabled).toEqual(['walt']);
    expect((await personOf(gateway, 'walt'))!.status).toBe('disabled');
  });

  it('disables nobody when the sync stops part-way, not even whom AD marks disabled on an earlier page', async () => {
    await big.replace(dnOf('f0001'), 'userAccountControl', ['514']);
    const stop = new AbortController();
    const report = await syncDirectory(
      asOperator(gateway),
      { sealer: sealerOf(gateway), signal: stop.signal, onProgress: () => stop.abort() },
      'big-ad',
    );
    expect(report).toMatchObject({ outcome: 'failure', pages: 1, disabled: 0 });
    expect((await personOf(gateway, 'f0001'))!.status).toBe('active');
    expect((await sync(gateway, 'big-ad')).names.disabled).toEqual(['f0001']);
  });
});
