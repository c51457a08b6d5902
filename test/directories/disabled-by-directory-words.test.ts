import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { htmlText } from '../helpers/browser-agent.ts';
import { FORMER, inetOrgPerson, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { accountHistory } from '../../gateway/accounts/account-history.ts';
import { asOperator, register, sync } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;

beforeAll(async () => {
  gateway = await startTestGateway('dir-disabled-words');
  ldap = await startTestSlapd({
    ldif: [inetOrgPerson({ uid: 'pia', name: 'Pia Park' }), inetOrgPerson({ uid: 'quin', name: 'Quin Quade' })].join(
      '\n',
    ),
  });
  await register(gateway, 'words-ldap', ldap.url);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe("a directory person's account activity", () => {
  it('says their directory disabled and enabled them at a sync an administrator started, not the administrator', async () => {
    await sync(gateway, 'words-ldap');
    const pia = (await gateway.models.User.findOne({ where: { username: 'pia' } }))!;
    await ldap.moveEntry(personDn({ uid: 'pia' }), `uid=pia,${FORMER}`);
    await sync(gateway, 'words-ldap');
    await ldap.moveEntry(`uid=pia,${FORMER}`, personDn({ uid: 'pia' }));
    await sync(gateway, 'words-ldap');
    const { entries } = await accountHistory(asOperator(gateway), pia.id, 1);
    const said = entries.map((e) => e.what);
    expect(said).toContain('Enabled again by their directory, at a sync an administrator started');
    expect(said.some((w) => w.startsWith('Disabled by their directory, at a sync an administrator started ('))).toBe(
      true,
    );
  });

  it("tags their console page disabled by the directory, and only while the directory's disable stands", async () => {
    const quin = (await gateway.models.User.findOne({ where: { username: 'quin' } }))!;
    const admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
    const status = async () =>
      htmlText((await admin.navigate(`${gateway.issuer}/admin/users/${quin.id}`)).html)
        .match(/disabled[^·]*?(?=Created)/)?.[0]
        .trim();
    await ldap.moveEntry(personDn({ uid: 'quin' }), `uid=quin,${FORMER}`);
    await sync(gateway, 'words-ldap');
    expect(await status()).toBe('disabled by the directory');
    await ldap.moveEntry(`uid=quin,${FORMER}`, personDn({ uid: 'quin' }));
    await sync(gateway, 'words-ldap');
    expect(await status()).toBeUndefined();
  });
});
