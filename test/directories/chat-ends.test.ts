import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';
import { inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { asOperator, register, sync } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;
let library: TestNode;

const nora = { uid: 'nora', name: 'Nora Nilsen', password: 'nora-directory-pw', ous: ['Library'] };
const omar = { uid: 'omar', name: 'Omar Okafor', password: 'omar-directory-pw', ous: ['Library'] };

beforeAll(async () => {
  gateway = await startTestGateway('dir-chat-ends');
  ldap = await startTestSlapd({
    ldif: [ouLdif([['Library'], ['Archives']]), inetOrgPerson(nora), inetOrgPerson(omar)].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url);
  await sync(gateway, 'campus-ldap');
  // The Library's own chat node, for the units the directory brought.
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

describe('a directory person removed from the directory', () => {
  it('loses their open chat socket and their tokens at the sync that disables them; the others chat on', async () => {
    const noraChat = await connectAs(gateway, library, 'nora', await login(gateway, 'nora', nora.password));
    const omarChat = await connectAs(gateway, library, 'omar', await login(gateway, 'omar', omar.password));
    expect((await noraChat.send({ to: 'omar@library.campus.test', text: 'Shelving at 3?' })).seq).toBe(1);
    const ended = new Promise<{ code: number; reason: string }>((resolve) => noraChat.on('ended', resolve));

    await ldap.removeEntry(personDn(nora));
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.disabled).toEqual(['nora']);

    // Pushed by the gateway as its sessions end: the socket closes as a final close, not a reconnect.
    await expect(ended).resolves.toMatchObject({ code: 4409 });
    await expect(noraChat.login.tokenFor(library.url)).rejects.toBeTruthy();
    expect(omarChat.state).toBe('online');
    expect((await omarChat.send({ to: 'nora@library.campus.test', text: 'Nora?' })).seq).toBe(2);
    noraChat.close();
    omarChat.close();
  });
});

describe('a directory person moved to units another domain serves, or none', () => {
  it('loses their socket on the domain they left at the sync that moves them, and stays signed in', async () => {
    const omarChat = await connectAs(gateway, library, 'omar', await login(gateway, 'omar', omar.password));
    const ended = new Promise<{ code: number; reason: string }>((resolve) => omarChat.on('ended', resolve));

    await ldap.moveEntry(personDn(omar), personDn({ ...omar, ous: ['Archives'] }));
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.updated).toContain('omar');

    await expect(ended).resolves.toEqual({ code: 4403, reason: 'left_domain', why: 'left_domain' });
    const user = await gateway.models.User.findOne({ where: { username: 'omar' } });
    expect(user!.status).toBe('active');
    await expect(omarChat.login.tokenFor(library.url)).rejects.toMatchObject({ error: 'invalid_target' });
    omarChat.close();
  });
});
