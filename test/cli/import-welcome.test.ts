import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../core/migrator.ts';
import type { GatewayContext } from '../../gateway/context.ts';
import { hashResetToken } from '../../gateway/recovery/reset-tokens.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { unusedUrl } from '../helpers/ports.ts';
import { inspectDatabase, jsonOf, runAtrium, type Inspector } from '../helpers/cli.ts';
import { startMailbox, type Mailbox } from '../helpers/mailbox.ts';

/**
 * People imported without a password are welcomed as a person made in the console is: once the whole file
 * is in, each is mailed a link to choose their password, through a real SMTP server in this process. A
 * mail the server refuses is that person's alone, and said by name.
 */
let db: TestDatabase;
let inspect: Inspector;
let ctx: GatewayContext;
let mailbox: Mailbox;
let refusing: { server: SMTPServer; url: string; received: string[] };

const HEADER = 'username,name,email,units,roles,password';
const csv = (...lines: string[]) => `${lines.join('\n')}\n`;
const mailingTo = (url: string) => ({ SMTP_URL: url, MAIL_FROM: 'Atrium <no-reply@campus.test>' });
const WELCOME_SUBJECT = 'Your Atrium account: choose your password';

function fileOf(name: string, ...lines: string[]): string {
  const file = join(db.dataDir, name);
  writeFileSync(file, csv(HEADER, ...lines));
  return file;
}

/** A real SMTP server that refuses the addresses of bounce.campus.test and takes every other one. */
async function refusingSmtp(): Promise<typeof refusing> {
  const received: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo: (address, _session, callback) =>
      address.address.endsWith('@bounce.campus.test')
        ? callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }))
        : callback(),
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        received.push(...session.envelope.rcptTo.map((r) => r.address));
        callback();
      });
    },
  });
  const listening = server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => listening.once('listening', resolve));
  return { server, url: `smtp://127.0.0.1:${(listening.address() as { port: number }).port}`, received };
}

/** The link a welcome mails, and whether the gateway holds it, unused, for that person. */
async function linkOf(text: string, username: string): Promise<string> {
  const link = /http:\/\/\S+\/password\/reset\/([A-Za-z0-9_-]{43})/.exec(text);
  expect(link, text).not.toBeNull();
  const user = await ctx.models.User.findOne({ where: { username } });
  const stored = await ctx.models.PasswordReset.findOne({ where: { tokenHash: hashResetToken(link![1]!) } });
  expect(stored?.userId).toBe(user!.id);
  expect(stored?.usedAt ?? null).toBeNull();
  return link![0]!;
}

beforeAll(async () => {
  db = await createTestDatabase('cli-import-welcome');
  inspect = await inspectDatabase(db);
  ctx = inspect.ctx;
  await migrate(inspect.sequelize, 'gateway');
  await seedDemo(ctx, { eng: await unusedUrl('localhost'), arts: await unusedUrl('localhost') });
  mailbox = await startMailbox();
  refusing = await refusingSmtp();
});
afterAll(async () => {
  await mailbox?.close();
  await new Promise<void>((resolve) => (refusing ? refusing.server.close(() => resolve()) : resolve()));
  await inspect?.close();
  await db?.drop();
});

describe('atrium users import welcomes the people it makes without a password', () => {
  it('mails each of them the welcome a console-made account gets, with a link to choose their password', async () => {
    const file = fileOf(
      'welcome.csv',
      'wel-a,Wel A,wel-a@campus.test,campus/eng,student,',
      'wel-b,Wel B,wel-b@campus.test,campus/arts,student,',
      'wel-c,Wel C,wel-c@campus.test,campus/eng,student,wel-c-quiet-orchard',
    );
    const run = await runAtrium(db, ['users', 'import', file], { env: mailingTo(mailbox.url) });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^Imported 3 user\(s\) from welcome\.csv in [\d.]+ s\.\nMailed a welcome with a link to choose their password to 2 of the 2 people without a password\.\n$/,
    );
    for (const username of ['wel-a', 'wel-b']) {
      const mail = await mailbox.next(`${username}@campus.test`);
      expect(mail.subject).toBe(WELCOME_SUBJECT);
      expect(mail.text).toContain(`Hello Wel ${username.slice(-1).toUpperCase()},`);
      expect(mail.text).toContain(`Your username is "${username}"`);
      await linkOf(mail.text, username);
    }
    // The password the file gave is temporary: its person chooses their own at their first sign-in.
    expect((await ctx.models.User.findOne({ where: { username: 'wel-c' } }))!.mustChangePassword).toBe(true);
    expect((await ctx.models.User.findOne({ where: { username: 'wel-a' } }))!.mustChangePassword).toBe(false);
    // One each, and none for the person the file gave a password.
    expect(mailbox.received.filter((m) => m.to.some((to) => to.startsWith('wel-'))).length).toBe(2);
  });

  it('reports by name each welcome the mail server refused, and keeps the import and the other welcomes', async () => {
    const file = fileOf(
      'bounce.csv',
      'bou-a,Bou A,bou-a@campus.test,campus/eng,student,',
      'bou-b,Bou B,bou-b@bounce.campus.test,campus/eng,student,',
    );
    const text = await runAtrium(db, ['users', 'import', file], { env: mailingTo(refusing.url) });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      'Mailed a welcome with a link to choose their password to 1 of the 2 people without a password.\n',
    );
    expect(text.stdout).toContain(
      '  bou-b <bou-b@bounce.campus.test>: the mail server refused the address (EENVELOPE 550)\n',
    );
    expect(text.stdout).not.toContain('bou-a <');
    expect(refusing.received).toEqual(['bou-a@campus.test']);
    expect(await ctx.models.User.count({ where: { username: ['bou-a', 'bou-b'] } })).toBe(2);
    const failures = await ctx.models.AuditEvent.findAll({
      where: { action: 'password_reset.request', target: 'bou-b', outcome: 'failure' },
    });
    expect(failures.length).toBe(1);
  });

  it('says per person in --json how each welcome went', async () => {
    const file = fileOf(
      'bounce-json.csv',
      'boj-a,Boj A,boj-a@campus.test,campus/eng,student,',
      'boj-b,Boj B,boj-b@bounce.campus.test,campus/eng,student,',
    );
    const json = jsonOf(await runAtrium(db, ['users', 'import', file, '--json'], { env: mailingTo(refusing.url) }));
    expect(json.welcome).toBe('mailed');
    expect(json.welcomes).toEqual([
      { username: 'boj-a', email: 'boj-a@campus.test', mailed: true },
      {
        username: 'boj-b',
        email: 'boj-b@bounce.campus.test',
        mailed: false,
        failure: { error: 'EENVELOPE', responseCode: 550 },
      },
    ]);
  });

  it('mails nobody with --no-welcome, nor without SMTP_URL, and says how they get a password', async () => {
    const skipped = fileOf('skip.csv', 'skp-a,Skp A,skp-a@campus.test,campus/eng,student,');
    const noSmtp = fileOf('nosmtp.csv', 'nsm-a,Nsm A,nsm-a@campus.test,campus/eng,student,');
    const skip = await runAtrium(db, ['users', 'import', skipped, '--no-welcome'], { env: mailingTo(mailbox.url) });
    const without = await runAtrium(db, ['users', 'import', noSmtp]);
    expect(skip.code).toBe(0);
    expect(skip.stdout).toContain(
      'No welcome was mailed (--no-welcome) to the 1 person without a password: they can ask for a link with "Forgot your password?" when signing in.',
    );
    expect(without.code).toBe(0);
    expect(without.stdout).toContain("this command has no SMTP_URL (the gateway's mail server)");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailbox.received.filter((m) => m.to.includes('skp-a@campus.test'))).toEqual([]);
    const links = await ctx.models.PasswordReset.count({
      include: [],
      where: { userId: (await ctx.models.User.findOne({ where: { username: 'skp-a' } }))!.id },
    });
    expect(links).toBe(0);
  });

  it('welcomes nobody when the file is refused', async () => {
    const file = fileOf(
      'refused.csv',
      'ref-a,Ref A,ref-a@campus.test,campus/eng,student,',
      'ref-b,Ref B,ref-b@campus.test,campus/eng/CS-dept,student,',
    );
    const run = await runAtrium(db, ['users', 'import', file], { env: mailingTo(mailbox.url) });
    expect(run.code).toBe(2);
    // The unknown unit as the file typed it, not lowercased.
    expect(run.stderr).toContain('line 3: units: unknown unit campus/eng/CS-dept');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailbox.received.filter((m) => m.to.includes('ref-a@campus.test'))).toEqual([]);
  });

  it('no longer says in its help that they cannot sign in until an administrator sets a password', async () => {
    const help = await runAtrium(db, ['users', 'import', '--help']);
    expect(help.stdout).not.toContain('cannot sign in until');
    expect(help.stdout).toContain('--no-welcome');
    expect(help.stdout).toContain('Forgot your password?');
  });
});
