import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction } from '../helpers/browser-agent.ts';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/ports.ts';
import { accountHistory } from '../../gateway/accounts/account-history.ts';
import { createUserWithLink } from '../../gateway/accounts/new-account-link.ts';
import { operator } from '../../gateway/context.ts';
import { smtpMailer } from '../../gateway/recovery/mailer.ts';
import { mailResetLink, type RecoveryDeps } from '../../gateway/recovery/request-reset.ts';
import { createRateLimiter } from '../../core/rate-limit.ts';
import { localAccountsOnly } from '../../gateway/recovery/directory-reset.ts';

/**
 * A reset mail the mail server refuses, or that no mail server is there to take, is lost: the asker is
 * told nothing (the page never says whether the account exists), but the operator finds it in the log and
 * the helpdesk in the audit log, without the link. A new account's link the mail server does not answer
 * for keeps the administrator's page waiting only a few seconds. Real SMTP servers in this process.
 */
const MAIL_FROM = 'Atrium <no-reply@campus.test>';

type LogLine = { level: number; msg: string; [key: string]: unknown };

let gateway: TestGateway;
let refusing: SMTPServer;
let silent: { url: string; close(): Promise<void> };
const logged: LogLine[] = [];

/** An SMTP server that refuses every recipient, as one does an address it does not know. */
async function refusingSmtp(): Promise<{ server: SMTPServer; url: string }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo: (_address, _session, callback) =>
      callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 })),
  });
  const listening = server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => listening.once('listening', resolve));
  return { server, url: `smtp://127.0.0.1:${(listening.address() as { port: number }).port}` };
}

/** A TCP server that accepts and never says a word: a mail server that hangs before its greeting. */
async function silentSmtp(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `smtp://127.0.0.1:${(server.address() as { port: number }).port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const captured = () =>
  pino(
    { level: 'info' },
    new Writable({ write: (chunk: Buffer, _enc, done) => (logged.push(JSON.parse(chunk.toString())), done()) }),
  );

const failuresOf = (target: string) =>
  gateway.models.AuditEvent.findAll({ where: { action: 'password_reset.mail_failed', target } });

beforeAll(async () => {
  const smtp = await refusingSmtp();
  refusing = smtp.server;
  silent = await silentSmtp();
  gateway = await startTestGateway(
    'reset-mail-fails',
    { SMTP_URL: smtp.url, MAIL_FROM, ATRIUM_TRUST_PROXY: 'true' },
    { logger: captured() },
  );
}, 60_000);
afterAll(async () => {
  await gateway?.stop();
  await new Promise<void>((resolve) => refusing?.close(() => resolve()));
  await silent?.close();
});

describe('a password reset mail the mail server does not take', () => {
  it('answers the asker as ever, and leaves an audit line and an error in the log, without the link', async () => {
    await addPerson(gateway, 'rae');
    const agent = new BrowserAgent();
    const form = await agent.navigate(`${gateway.issuer}/password/forgot`);
    const sent = await agent.submit(form, formWithAction(form, '/password/forgot'), { identifier: 'rae' });
    expect(sent.status).toBe(200);
    expect(sent.html).toContain('Check your mail');

    await expect.poll(async () => (await failuresOf('rae')).length, { timeout: 15_000 }).toBe(1);
    const [failure] = await failuresOf('rae');
    expect(failure!.outcome).toBe('failure');
    expect(JSON.parse(failure!.details!)).toEqual({ error: 'EENVELOPE', responseCode: 550 });
    const line = logged.find((l) => l.account === 'rae' && l.msg.includes('password reset mail'));
    expect(line).toMatchObject({ level: 50, error: 'EENVELOPE', responseCode: 550 });
    expect(JSON.stringify(line)).not.toContain('/password/reset/');

    const history = await accountHistory({ ...gateway.context(null), actor: operator('test') }, 'rae', 1);
    expect(JSON.stringify(history)).toContain('A password reset mail they asked for could not be sent');
  });

  it('is audited as well where no mail server is there at all', async () => {
    const rex = await addPerson(gateway, 'rex');
    const lines: LogLine[] = [];
    const deps: RecoveryDeps = {
      issuer: gateway.issuer,
      mailer: smtpMailer(`smtp://127.0.0.1:${await freePort()}`, MAIL_FROM),
      ttlMinutes: 30,
      ipLimiter: createRateLimiter({ limit: 10, windowSeconds: 3600 }),
      accountLimiter: createRateLimiter({ limit: 10, windowSeconds: 3600 }),
      directoryResetPage: localAccountsOnly,
      logger: pino(
        { level: 'info' },
        new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString())), done()) }),
      ),
    };
    await mailResetLink(gateway.context(null), deps, rex.username);
    const [failure] = await failuresOf('rex');
    expect(JSON.parse(failure!.details!)).toEqual({ error: 'ESOCKET' });
    expect(lines.filter((l) => l.level >= 40).map((l) => l.account)).toEqual(['rex']);
  });
});

describe("a new account's link the mail server does not answer for", () => {
  it('keeps the administrator waiting seconds, not the mail server timeouts, and says it was not mailed', async () => {
    const admin = { ...gateway.context(null), actor: operator('admin') };
    const started = Date.now();
    const { user, mailed } = await createUserWithLink(
      admin,
      { issuer: gateway.issuer, mailer: smtpMailer(silent.url, MAIL_FROM) },
      {
        username: 'sol',
        displayName: 'Sol New',
        email: 'sol@campus.test',
        units: ['campus/eng/cs'],
        roles: ['student'],
      },
    );
    // The mailer alone waits 30 s for a greeting.
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(mailed).toBe(false);
    expect(user.passwordHash).toBeNull();
    const refusal = await gateway.models.AuditEvent.findOne({
      where: { action: 'password_reset.request', target: 'sol', outcome: 'failure' },
    });
    expect(JSON.parse(refusal!.details!)).toEqual({ newAccount: true, reason: 'mail_unanswered', error: 'ETIMEDOUT' });
  }, 60_000);
});
