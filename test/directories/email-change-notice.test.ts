import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startMailbox, type Mailbox, type ReceivedMail } from '../helpers/mailbox.ts';
import { inetOrgPerson, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { register, sync } from './fixtures.ts';

/**
 * A directory that gives a person a new email address moves where their account's mail goes, password reset
 * mail included, as an administrator's edit in the console does: the old address is told, as it is then.
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let ldap: TestSlapd;

const gus = { uid: 'gus', name: 'Gus Grant', password: 'gus-directory-pw', ous: ['Library'] };
const hal = { uid: 'hal', name: 'Hal Hale', password: 'hal-directory-pw', ous: ['Library'] };
const text = (mail: ReceivedMail) => mail.text.replace(/\r\n/g, '\n');

/** Mails to `address` so far, once every notice under way was sent. */
async function mailsTo(address: string): Promise<ReceivedMail[]> {
  await gateway.context(null).notices!.settle();
  return mailbox.received.filter((m) => m.to.includes(address));
}

beforeAll(async () => {
  mailbox = await startMailbox();
  gateway = await startTestGateway('dir-email-notice', {
    SMTP_URL: mailbox.url,
    MAIL_FROM: 'Atrium <no-reply@campus.test>',
  });
  ldap = await startTestSlapd({ ldif: [ouLdif([['Library']]), inetOrgPerson(gus), inetOrgPerson(hal)].join('\n') });
  await register(gateway, 'campus-ldap', ldap.url);
  await sync(gateway, 'campus-ldap');
}, 60_000);
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
  await mailbox?.close();
});

describe('a directory sync that changes an email address', () => {
  it('tells the old address, with the new one masked, and the new address, as a console edit does', async () => {
    await ldap.replace(personDn(gus), 'mail', ['gus.grant@library.campus.test']);
    expect((await sync(gateway, 'campus-ldap')).updated).toBe(1);
    expect((await gateway.models.User.findOne({ where: { username: 'gus' } }))!.email).toBe(
      'gus.grant@library.campus.test',
    );
    const old = await mailbox.next('gus@campus.test');
    const fresh = await mailbox.next('gus.grant@library.campus.test');
    for (const mail of [old, fresh]) {
      expect(mail.subject).toBe('The email address of your Atrium account was changed');
      expect(text(mail)).toMatch(/^Hello Gus Grant,\n\n/);
      expect(text(mail)).toContain('\nBy: your campus directory, from which Atrium takes your details\n');
      expect(text(mail)).toContain('someone may have changed it in the campus directory in your name');
      expect(text(mail)).not.toContain('From:');
      expect(text(mail).match(/https?:\/\/\S+/g)).toEqual([`${gateway.issuer}/account`]);
    }
    expect(old.to).toEqual(['gus@campus.test']);
    expect(text(old)).toContain(
      'The email address of your Atrium account "gus" was changed from gus@campus.test to g***@library.campus.test.',
    );
    expect(text(old)).not.toContain('gus.grant');
    expect(text(fresh)).toContain('was changed to this address (it was g***@campus.test).');

    // The audit log says so as for an edit, naming the directory.
    const [event] = await gateway.models.AuditEvent.findAll({ where: { action: 'user.update', target: 'gus' } });
    expect(JSON.parse(event!.details!)).toEqual({
      directory: 'campus-ldap',
      before: { email: 'gus@campus.test', displayName: 'Gus Grant' },
      changes: { email: 'gus.grant@library.campus.test' },
    });
  });

  it('tells nobody of a sync that changes nothing, or only a name', async () => {
    await ldap.replace(personDn(hal), 'displayName', ['Hal Hale-Hardy']);
    expect((await sync(gateway, 'campus-ldap')).updated).toBe(1);
    expect((await sync(gateway, 'campus-ldap')).updated).toBe(0);
    expect(await mailsTo('hal@campus.test')).toEqual([]);
    expect(await mailsTo('gus.grant@library.campus.test')).toHaveLength(1);
  });

  it('greets the new address by the name the same sync gives, the old one by the name it knew', async () => {
    await ldap.replace(personDn(hal), 'displayName', ['Hal Hardy']);
    await ldap.replace(personDn(hal), 'mail', ['hal.hardy@library.campus.test']);
    expect((await sync(gateway, 'campus-ldap')).updated).toBe(1);
    // Whoever reads the old mailbox may no longer be the person: it learns nothing new, not the new name.
    expect(text(await mailbox.next('hal@campus.test'))).toMatch(/^Hello Hal Hale-Hardy,\n\n/);
    expect(text(await mailbox.next('hal.hardy@library.campus.test'))).toMatch(/^Hello Hal Hardy,\n\n/);
  });
});
