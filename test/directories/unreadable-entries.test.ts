import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('disables nobody when no entry at all can be read, and the report says why', async () => {
    // A typo in the username attribute (or an ACL that hides it from the service account): every
    // entry is still there, under the same DN, but none can be read.
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

    await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad', {
      usernameAttribute: 'sAMAccountName',
    });
    await ad.replace(dnOf('yara'), 'sAMAccountName', ['yara']);
    expect(await sync(gateway, 'campus-ad')).toMatchObject({ outcome: 'success', refused: 0, disabled: 0 });
  });
});
