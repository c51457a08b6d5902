import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filledFormWithAction, mainText, submitFilled, type BrowserAgent } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { register } from './fixtures.ts';

/** How a sync's report reads in the console and the CLI: counts with their nouns, and whom it signed out. */
let gateway: TestGateway;
let ldap: TestSlapd;
let admin: BrowserAgent;

const PAGE = '/admin/directories/library-ldap';
const nora = { uid: 'nora', name: 'Nora Nilsen', password: 'nora-directory-pw', ous: ['Library'] };
const omar = { uid: 'omar', name: 'Omar Okafor', password: 'omar-directory-pw', ous: ['Library'] };

beforeAll(async () => {
  gateway = await startTestGateway('dir-report-words', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({
    ldif: [ouLdif([['Library']]), inetOrgPerson(nora)].join('\n'),
    // The ppolicy overlay keeps pwdChangedTime, which a password change sets.
    databaseLines: ['moduleload ppolicy', 'overlay ppolicy'],
  });
  await register(gateway, 'library-ldap', ldap.url);
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe("a sync's report", () => {
  it('counts one entry, one page and one unit in the singular', async () => {
    const synced = await runAtrium(gateway.db, ['directories', 'sync', 'library-ldap']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toMatch(/: 1 entry; 1 added, .*; 1 unit created\.$/m);
    const page = mainText(await admin.navigate(`${gateway.issuer}${PAGE}`));
    expect(page).toMatch(/: 1 entry; 1 added, .*; 1 unit created\./);
    expect(page).toMatch(/Started .*, 1 page\./);
  });

  it('names the people it signed out everywhere on the console, as the CLI does', async () => {
    await ldap.replace(personDn(nora), 'userPassword', ['a-new-directory-password']);
    await ldap.addEntry(personDn(omar), {
      objectClass: 'inetOrgPerson',
      uid: omar.uid,
      cn: omar.name,
      sn: 'Okafor',
      mail: 'omar@campus.test',
    });
    const page = await admin.navigate(`${gateway.issuer}${PAGE}`);
    const synced = mainText(await submitFilled(admin, page, filledFormWithAction(page, `${PAGE}/sync`)));
    expect(synced).toMatch(/: 2 entries; 1 added, .*, 1 signed out everywhere \(password changed there\)\./);
    expect(synced).toContain('Signed out everywhere, their password changed there: nora');
    const shown = await runAtrium(gateway.db, ['directories', 'show', 'library-ldap']);
    expect(shown.stdout).toContain('Signed out everywhere, their password changed there: nora');
  });
});
