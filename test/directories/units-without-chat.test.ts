import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mainText } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { register, sync } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;

beforeAll(async () => {
  gateway = await startTestGateway('dir-units-without-chat', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Library'], ['Eng']]),
      inetOrgPerson({ uid: 'lia', name: 'Lia Lund', ous: ['Library'] }),
      inetOrgPerson({ uid: 'leo', name: 'Leo Lind', ous: ['Library'] }),
      inetOrgPerson({ uid: 'eli', name: 'Eli Eng', ous: ['Eng'] }),
    ].join('\n'),
  });
  // Engineering's people land in campus/eng, which eng.campus.test serves; the Library's in no domain's unit.
  await register(gateway, 'chatless', ldap.url);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('a sync of people whose units no chat domain serves', () => {
  it('names those units in its report, with where to fix it, in the CLI and the console', async () => {
    const report = await sync(gateway, 'chatless');
    expect(report.outcome).toBe('success');
    expect(report.unservedUnits).toEqual([{ unit: 'campus/library', people: 2 }]);
    const note =
      'No chat domain serves 2 people from this directory, in campus/library (2): they see "Chat is not set up for your account yet". ' +
      'Add each unit to the domain that should serve it, under Domains in the console, or with atrium domains update DOMAIN --unit PATH, ' +
      'giving every unit the domain serves already too (--unit replaces its list; atrium domains list shows it).';
    const shown = await runAtrium(gateway.db, ['directories', 'show', 'chatless']);
    expect(shown.stdout).toContain(note);
    const synced = await runAtrium(gateway.db, ['directories', 'sync', 'chatless']);
    expect(synced.stdout).toContain(note);
    const admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
    const page = await admin.navigate(`${gateway.issuer}/admin/directories/chatless`);
    expect(mainText(page)).toContain(note);
  });
});
