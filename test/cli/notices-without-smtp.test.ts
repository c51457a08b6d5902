import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { addPerson, type TestGateway } from '../helpers/gateway.ts';
import type { Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';

/**
 * An operator's shell in production often lacks the gateway's SMTP_URL. A change made there is told to the
 * person all the same: the command writes its notices to the outbox, the running gateway (which has SMTP)
 * mails them, and the command says so in one line on stderr.
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;

/** A production configuration of the same database, without SMTP_URL. */
const productionShell = () => ({
  ATRIUM_MODE: 'production',
  ATRIUM_ISSUER: 'https://id.campus.test',
  ATRIUM_SECRET_KEY: gateway.config.secretKey,
  ATRIUM_COOKIE_KEYS: 'c'.repeat(40),
});

const noticesOf = (account: string) =>
  gateway.models.SecurityNotice.findAll({ where: { account }, order: [['id', 'ASC']] });

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('cli-notices-prod'));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('a command run in production without SMTP_URL', () => {
  it('leaves the notice of a password reset for the running gateway, which mails it', async () => {
    await addPerson(gateway, 'cyd');
    const done = await runAtrium(gateway.db, ['users', 'reset-password', 'cyd', '--password-stdin'], {
      stdin: 'a password from the shell\n',
      env: productionShell(),
    });
    expect(done).toMatchObject({
      code: 0,
      stdout: 'Set a new password for cyd. It is temporary: they choose their own at their next sign-in.\n',
    });
    expect(done.stderr).toBe(
      "Security notices to cyd wait in the gateway's outbox: this command has no SMTP_URL, so the running gateway mails them.\n",
    );
    const mail = await mailbox.next('cyd@campus.test', { timeoutMs: 20_000 });
    expect(mail.text).toContain('"cyd"');
    expect(mail.text).toContain('https://id.campus.test/account');
    await expect
      .poll(async () => (await noticesOf('cyd')).map((n) => [n.action, n.status]))
      .toEqual([['user.reset_password', 'sent']]);
  });

  it('leaves both notices of a new address, and keeps stdout the JSON answer', async () => {
    await addPerson(gateway, 'dot');
    const done = await runAtrium(gateway.db, ['users', 'update', 'dot', '--email', 'dot.new@campus.test', '--json'], {
      env: productionShell(),
    });
    expect(done.code).toBe(0);
    expect(jsonOf(done)).toMatchObject({ user: { username: 'dot', email: 'dot.new@campus.test' } });
    expect(done.stderr).toContain("Security notices to dot wait in the gateway's outbox");
    await mailbox.next('dot@campus.test', { timeoutMs: 20_000 });
    await mailbox.next('dot.new@campus.test', { timeoutMs: 20_000 });
  });

  it('says nothing of notices where it changed nothing', async () => {
    await addPerson(gateway, 'eve');
    const refused = await runAtrium(gateway.db, ['users', 'reset-password', 'eve', '--password-stdin'], {
      stdin: 'short\n',
      env: productionShell(),
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).not.toContain('Security notices');
    expect(await noticesOf('eve')).toEqual([]);
  });
});
