import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Op } from 'sequelize';
import { SMTPServer } from 'smtp-server';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { addPeople, addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { runAtrium } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';
import { accountHistory } from '../../gateway/accounts/account-history.ts';
import { editUser, resetPassword } from '../../gateway/accounts/update-user.ts';
import { operator, type GatewayContext } from '../../gateway/context.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { NOTICES_AT_ONCE } from '../../gateway/recovery/security-notices.ts';
import { KEEP_NOTICES_DAYS, sweepSecurityNotices } from '../../gateway/recovery/notice-outbox.ts';
import type { NoticeRetry } from '../../gateway/recovery/notice-sender.ts';

/**
 * Security notices wait in an outbox written with the change until a mail server takes them: a mail server
 * that refuses or is down for a while, or a gateway stopped before it sent them, loses none, and several
 * gateway processes on one database mail each once. Real SMTP servers in this process.
 */

/** Tried again within a second, for the tests; given up on after a minute. */
const QUICK: NoticeRetry = { firstDelayMs: 100, maxDelayMs: 400, giveUpAfterMs: 60_000 };
/** The outbox is read for notices due every 100 ms (every second): a try comes when it is due. */
const OUTBOX_INTERVAL_MS = 100;
/** Long enough for the outbox to be read several times and a try of QUICK's to come: nothing more is sent. */
const QUIET_MS = 8 * OUTBOX_INTERVAL_MS;
const MAIL_FROM = 'Atrium <no-reply@campus.test>';

type Received = { to: string[]; subject: string; text: string };

/** An SMTP server that refuses every recipient while `refusing`, and holds each mail's data while `holding`. */
type TestSmtp = {
  url: string;
  received: Received[];
  refusing: boolean;
  refusals: number;
  holding: boolean;
  /** The most mails whose data it held at once. */
  mostOpen: number;
  open: number;
  release(): void;
  close(): Promise<void>;
};

async function startSmtp(port = 0): Promise<TestSmtp> {
  let released: () => void = () => undefined;
  let held = Promise.resolve();
  const smtp: TestSmtp = {
    url: '',
    received: [],
    refusing: false,
    refusals: 0,
    holding: false,
    mostOpen: 0,
    open: 0,
    release: () => released(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      if (!smtp.refusing) return callback();
      smtp.refusals += 1;
      callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        smtp.open += 1;
        smtp.mostOpen = Math.max(smtp.mostOpen, smtp.open);
        if (smtp.holding) await held;
        smtp.open -= 1;
        const raw = Buffer.concat(chunks).toString('utf8');
        const subject = /^subject:\s*(.*)$/im.exec(raw.split(/\r?\n\r?\n/)[0]!)?.[1]?.trim() ?? '';
        smtp.received.push({ to: session.envelope.rcptTo.map((r) => r.address), subject, text: raw });
        callback();
      });
    },
  });
  held = new Promise<void>((resolve) => {
    released = resolve;
  });
  const listening = server.listen(port, '127.0.0.1');
  await new Promise<void>((resolve) => listening.once('listening', resolve));
  smtp.url = `smtp://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  return smtp;
}

/** A pino logger whose lines are kept, parsed. */
function keptLogger() {
  const lines: { level: number; msg: string; to?: string; account?: string }[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString())), done()) }),
  );
  return { logger, lines };
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const helpdesk = (gateway: Gateway): GatewayContext => ({ ...gateway.context(null), actor: operator('helpdesk') });
const mailsTo = (smtp: TestSmtp, address: string) => smtp.received.filter((m) => m.to.includes(address));

/** The gateway's /metrics (from this machine), and a reader of one series' value: `name{label="value"}`. */
async function scrape(gateway: Gateway): Promise<(name: string, label: string) => number | undefined> {
  const text = (await request(gateway.server).get('/metrics').expect(200)).text;
  return (name, label) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
}
const mailsCounted = async (gateway: Gateway, outcome: string) =>
  (await scrape(gateway))('atrium_security_notice_mails_total', `outcome="${outcome}"`) ?? 0;

// What each test started, stopped after it whatever happened.
let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup = [];
});

async function smtpServer(port?: number): Promise<TestSmtp> {
  const smtp = await startSmtp(port);
  cleanup.push(() => smtp.close());
  return smtp;
}

async function gatewayMailingTo(label: string, smtpUrl: string, retry = QUICK) {
  const { logger, lines } = keptLogger();
  const gateway = await startTestGateway(
    label,
    { SMTP_URL: smtpUrl, MAIL_FROM },
    { noticeRetry: retry, outboxIntervalMs: OUTBOX_INTERVAL_MS, logger },
  );
  let closed = false;
  const close = async () => {
    if (!closed) await gateway.close();
    closed = true;
  };
  cleanup.push(async () => {
    await close();
    await gateway.db.drop();
  });
  return { gateway, lines, close };
}

/** Another gateway process over the same database (its own port, mail server and logger). */
async function secondGateway(first: TestGateway, smtpUrl: string, retry = QUICK) {
  const { logger, lines } = keptLogger();
  const config = { ...first.config, mail: { smtpUrl, from: MAIL_FROM } };
  const gateway = await startGateway(config, { noticeRetry: retry, outboxIntervalMs: OUTBOX_INTERVAL_MS, logger });
  cleanup.push(() => gateway.close());
  return { gateway, lines };
}

describe('a security notice the mail server does not take at once', () => {
  it('is tried again while the mail server refuses it, and mailed exactly once when it takes it', async () => {
    const smtp = await smtpServer();
    smtp.refusing = true;
    const { gateway, lines } = await gatewayMailingTo('outbox-refused', smtp.url);
    const nia = await addPerson(gateway, 'nia');
    await resetPassword(helpdesk(gateway), 'nia', 'a helpdesk password 51');
    // The change stands at once, whatever the mail server says.
    expect((await gateway.models.User.findByPk(nia.id))!.passwordHash).not.toBe(nia.passwordHash);
    await until(() => smtp.refusals >= 3, 'three refusals');
    expect(lines.filter((l) => l.level === 40 && l.to === 'nia@campus.test').length).toBeGreaterThanOrEqual(2);

    smtp.refusing = false;
    await until(() => mailsTo(smtp, 'nia@campus.test').length === 1, 'the notice');
    expect(mailsTo(smtp, 'nia@campus.test')[0]!.subject).toBe('Your Atrium password was reset');
    await pause(QUIET_MS);
    expect(mailsTo(smtp, 'nia@campus.test')).toHaveLength(1);
    const [row] = await gateway.models.SecurityNotice.findAll({ where: { account: 'nia' } });
    expect(row).toMatchObject({ status: 'sent', recipient: 'nia@campus.test' });
    expect(row!.tries).toBeGreaterThanOrEqual(4);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('is mailed once a mail server that was down comes up', async () => {
    const port = await freePort();
    const { gateway } = await gatewayMailingTo('outbox-down', `smtp://127.0.0.1:${port}`);
    await addPerson(gateway, 'dov');
    await editUser(helpdesk(gateway), 'dov', { email: 'dov.new@campus.test' });
    const { SecurityNotice } = gateway.models;
    await until(
      async () => (await SecurityNotice.count({ where: { account: 'dov', tries: { [Op.gte]: 2 } } })) === 2,
      'two tries each',
    );
    const smtp = await smtpServer(port);
    await until(() => smtp.received.length === 2, 'both notices');
    expect(smtp.received.map((m) => m.to[0]).sort()).toEqual(['dov.new@campus.test', 'dov@campus.test']);
  });

  it('is given up on after trying for the time allowed, and logged as an error', async () => {
    const smtp = await smtpServer();
    smtp.refusing = true;
    const retry = { firstDelayMs: 100, maxDelayMs: 100, giveUpAfterMs: 500 };
    const { gateway, lines } = await gatewayMailingTo('outbox-given-up', smtp.url, retry);
    await addPerson(gateway, 'gil');
    await resetPassword(helpdesk(gateway), 'gil', 'a helpdesk password 52');
    await until(() => lines.some((l) => l.level === 50 && l.to === 'gil@campus.test'), 'the error');
    const [row] = await gateway.models.SecurityNotice.findAll({ where: { account: 'gil' } });
    expect(row).toMatchObject({ status: 'given_up' });
    expect(row!.lastError).toContain('mailbox unavailable');
    const refusals = smtp.refusals;
    await pause(700);
    expect(smtp.refusals).toBe(refusals);
  });

  it('is audited when given up on, for the helpdesk: in the audit log and the person’s account activity', async () => {
    const smtp = await smtpServer();
    smtp.refusing = true;
    const retry = { firstDelayMs: 100, maxDelayMs: 100, giveUpAfterMs: 500 };
    const { gateway, lines } = await gatewayMailingTo('outbox-given-up-audit', smtp.url, retry);
    const gus = await addPerson(gateway, 'gus');
    const givenUpBefore = await mailsCounted(gateway, 'given_up');
    await resetPassword(helpdesk(gateway), 'gus', 'a helpdesk password 55');
    await until(() => lines.some((l) => l.level === 50 && l.to === 'gus@campus.test'), 'the error');
    const [row] = await gateway.models.SecurityNotice.findAll({ where: { account: 'gus' } });
    const audited = await gateway.models.AuditEvent.findAll({ where: { action: 'notice.given_up' } });
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ target: 'gus', outcome: 'failure', actorId: null, actorName: 'gateway' });
    expect(JSON.parse(audited[0]!.details!)).toEqual({
      subject: 'Your Atrium password was reset',
      notice: 'user.reset_password',
      to: 'gus@campus.test',
      tries: row!.tries,
      error: row!.lastError,
    });
    // Never the mail's text.
    expect(audited[0]!.details).not.toContain(row!.body.split('\n')[0]);

    const history = await accountHistory({ ...gateway.context(null), actor: operator('helpdesk') }, gus.id, 1);
    expect(history.entries[0]).toMatchObject({
      what: 'A security notice could not be mailed to them at gus@campus.test (“Your Atrium password was reset”)',
      failed: true,
    });
    const read = await scrape(gateway);
    expect(read('atrium_security_notices', 'status="given_up"')).toBe(1);
    expect(read('atrium_security_notices', 'status="waiting"')).toBe(0);
    expect(read('atrium_security_notice_mails_total', 'outcome="given_up"')).toBe(givenUpBefore + 1);
  });
});

describe('the outbox', () => {
  it('keeps a notice of a gateway stopped before it was sent, and the next gateway on the database sends it', async () => {
    const port = await freePort();
    const { gateway, close } = await gatewayMailingTo('outbox-restart', `smtp://127.0.0.1:${port}`);
    await addPerson(gateway, 'ida');
    await resetPassword(helpdesk(gateway), 'ida', 'a helpdesk password 53');
    const { SecurityNotice } = gateway.models;
    await until(async () => (await SecurityNotice.count({ where: { account: 'ida', tries: 1 } })) === 1, 'a try');
    await close();

    const smtp = await smtpServer();
    const next = await secondGateway(gateway, smtp.url);
    await until(() => mailsTo(smtp, 'ida@campus.test').length === 1, 'the notice from the next gateway');
    expect(mailsTo(smtp, 'ida@campus.test')[0]!.subject).toBe('Your Atrium password was reset');
  });

  it('has nothing of a change rolled back, and sends nothing for it', async () => {
    const smtp = await smtpServer();
    const { gateway } = await gatewayMailingTo('outbox-rollback', smtp.url);
    const rolf = await addPerson(gateway, 'rolf');
    const ctx = helpdesk(gateway);
    await expect(
      ctx.sequelize.transaction(async (tx) => {
        await resetPassword({ ...ctx, tx }, 'rolf', 'a helpdesk password 54');
        throw new Error('undone');
      }),
    ).rejects.toThrow('undone');
    expect(await gateway.models.SecurityNotice.count({ where: { account: 'rolf' } })).toBe(0);
    expect((await gateway.models.User.findByPk(rolf.id))!.passwordHash).toBe(rolf.passwordHash);
    // A committed change after it is mailed, and it alone.
    await editUser(ctx, 'rolf', { email: 'rolf.new@campus.test' });
    await until(() => smtp.received.length === 2, 'the email change notices');
    await pause(QUIET_MS);
    expect(smtp.received.map((m) => m.subject)).toEqual([
      'The email address of your Atrium account was changed',
      'The email address of your Atrium account was changed',
    ]);
  });

  it('is mailed once per notice by two gateway processes on one database', async () => {
    const smtp = await smtpServer();
    const { gateway: first } = await gatewayMailingTo('outbox-two', smtp.url);
    const { gateway: second } = await secondGateway(first, smtp.url);
    const people = Array.from({ length: 15 }, (_, i) => `twin${i}`);
    await addPeople(first, people);
    for (const [i, u] of people.entries())
      await editUser(helpdesk(i % 2 ? first : second), u, { email: `${u}@new.campus.test` });
    await until(() => smtp.received.length >= 30, 'every notice', 20_000);
    await pause(QUIET_MS);
    const sent = smtp.received.map((m) => m.to.join(',')).sort();
    expect(sent).toEqual(people.flatMap((u) => [`${u}@new.campus.test`, `${u}@people.campus.test`]).sort());
    expect(await first.models.SecurityNotice.count({ where: { status: 'sent', tries: 1 } })).toBe(30);
  });

  it('mails a few at a time, every one of them, not each over its own connection at once', async () => {
    const smtp = await smtpServer();
    smtp.holding = true;
    const { gateway } = await gatewayMailingTo('outbox-few', smtp.url);
    const people = Array.from({ length: 12 }, (_, i) => `moved${i}`);
    await addPeople(gateway, people);
    for (const username of people)
      await editUser(helpdesk(gateway), username, { email: `${username}@new.campus.test` });
    await until(() => smtp.open >= NOTICES_AT_ONCE, 'the first notices under way');
    await pause(300);
    expect(smtp.mostOpen).toBe(NOTICES_AT_ONCE);
    smtp.holding = false;
    smtp.release();
    await until(() => smtp.received.length === 24, 'every notice');
    expect(smtp.mostOpen).toBe(NOTICES_AT_ONCE);
  });

  it("holds a command's notice for the running gateway where SMTP_URL is not set at the command", async () => {
    const smtp = await smtpServer();
    const { gateway } = await gatewayMailingTo('outbox-cli', smtp.url);
    await addPerson(gateway, 'cyd');
    const done = await runAtrium(gateway.db, ['users', 'reset-password', 'cyd', '--password-stdin'], {
      stdin: 'a password from the shell\n',
    });
    expect(done).toMatchObject({
      code: 0,
      stdout: 'Set a new password for cyd. It is temporary: they choose their own at their next sign-in.\n',
    });
    await until(() => mailsTo(smtp, 'cyd@campus.test').length === 1, 'the notice, from the gateway');
    expect(mailsTo(smtp, 'cyd@campus.test')[0]!.subject).toBe('Your Atrium password was reset');
  });

  it(`keeps sent and given-up notices ${KEEP_NOTICES_DAYS} days, and those waiting until they are sent`, async () => {
    const smtp = await smtpServer();
    const { gateway } = await gatewayMailingTo('outbox-sweep', smtp.url);
    const day = 24 * 60 * 60_000;
    const now = Date.now();
    const row = (account: string, status: 'pending' | 'sent' | 'given_up', doneDaysAgo: number | null) => ({
      recipient: `${account}@campus.test`,
      subject: 'Your Atrium password was reset',
      body: 'Hello',
      action: 'user.reset_password',
      account,
      status,
      // Not due for a while: the sender leaves the waiting one alone.
      nextAt: new Date(now + day),
      firstTriedAt: null,
      lastError: null,
      doneAt: doneDaysAgo === null ? null : new Date(now - doneDaysAgo * day),
      createdAt: new Date(now - 30 * day),
    });
    await gateway.models.SecurityNotice.bulkCreate([
      row('old-sent', 'sent', KEEP_NOTICES_DAYS + 1),
      row('old-given-up', 'given_up', KEEP_NOTICES_DAYS + 1),
      row('recent-sent', 'sent', KEEP_NOTICES_DAYS - 1),
      row('waiting', 'pending', null),
    ]);
    expect(await sweepSecurityNotices(gateway.models)).toBe(2);
    const left = await gateway.models.SecurityNotice.findAll({ order: [['account', 'ASC']] });
    expect(left.map((r) => r.account)).toEqual(['recent-sent', 'waiting']);
  });
});

describe('the outbox on /metrics', () => {
  it('counts the notices waiting and given up, and the mails sent and refused', async () => {
    const smtp = await smtpServer();
    smtp.refusing = true;
    const { gateway } = await gatewayMailingTo('outbox-metrics', smtp.url);
    await addPeople(gateway, ['met1', 'met2']);
    const [sentBefore, refusedBefore] = [await mailsCounted(gateway, 'sent'), await mailsCounted(gateway, 'refused')];
    let read = await scrape(gateway);
    expect(read('atrium_security_notices', 'status="waiting"')).toBe(0);
    expect(read('atrium_security_notices', 'status="given_up"')).toBe(0);

    await resetPassword(helpdesk(gateway), 'met1', 'a helpdesk password 56');
    await resetPassword(helpdesk(gateway), 'met2', 'a helpdesk password 57');
    await until(() => smtp.refusals >= 4, 'refusals');
    read = await scrape(gateway);
    expect(read('atrium_security_notices', 'status="waiting"')).toBe(2);
    expect(read('atrium_security_notice_mails_total', 'outcome="refused"')).toBeGreaterThanOrEqual(refusedBefore + 4);

    smtp.refusing = false;
    await until(() => smtp.received.length === 2, 'both notices');
    await until(async () => (await mailsCounted(gateway, 'sent')) === sentBefore + 2, 'both counted');
    read = await scrape(gateway);
    expect(read('atrium_security_notices', 'status="waiting"')).toBe(0);
    expect(read('atrium_security_notice_mails_total', 'outcome="refused"')).toBe(
      refusedBefore + (await gateway.models.SecurityNotice.sum('tries')) - 2,
    );
  });

  it('counts them at a scrape through the status index, without reading the sent notices', async () => {
    const { gateway } = await gatewayMailingTo('outbox-metrics-plan', (await smtpServer()).url);
    const queries: string[] = [];
    const { sequelize } = gateway;
    // Sequelize reads its logging option at each query: the scrape's queries, as run.
    const options = (sequelize as unknown as { options: { logging: unknown } }).options;
    const logging = options.logging;
    options.logging = (sql: string) => void queries.push(sql);
    try {
      await scrape(gateway);
    } finally {
      options.logging = logging;
    }
    // The scrape's count, not a read of the sender's that ran meanwhile.
    const count = queries.find((q) => q.includes('security_notices') && /\bcount\(/i.test(q));
    expect(count).toBeDefined();
    const sql = count!.replace(/^Executing \([^)]*\): /, '');
    const sqlite = sequelize.getDialect() === 'sqlite';
    const [plan] = await sequelize.query(`${sqlite ? 'EXPLAIN QUERY PLAN' : 'EXPLAIN'} ${sql}`);
    // A range of the index alone (covering): the rows of the other statuses are never read.
    if (sqlite)
      expect(plan).toEqual([
        expect.objectContaining({
          detail: expect.stringMatching(/^SEARCH .*USING COVERING INDEX security_notices_due \(status=\?\)$/),
        }),
      ]);
    else
      expect(plan).toEqual([
        expect.objectContaining({
          type: 'range',
          key: 'security_notices_due',
          Extra: expect.stringContaining('Using index'),
        }),
      ]);
  });
});
