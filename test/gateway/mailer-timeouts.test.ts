import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BrowserAgent, formWithAction } from '../helpers/browser-agent.ts';
import { addPerson, startTestGateway } from '../helpers/gateway.ts';
import { MAIL_TIMEOUTS, smtpMailer } from '../../gateway/recovery/mailer.ts';

/**
 * A mail server that takes the connection and then says nothing more holds the gateway's mail no longer than
 * the mailer's timeouts, and the connection is closed. Real TCP servers in this process.
 */

type SilentServer = { url: string; sockets: Socket[]; closed: number; close(): Promise<void> };

/** Accepts connections; says `lines` (one per line the client sends, the first as a greeting) and then nothing. */
async function silentServer(lines: string[] = []): Promise<SilentServer> {
  const silent: SilentServer = {
    url: '',
    sockets: [],
    closed: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of silent.sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    silent.sockets.push(socket);
    socket.on('close', () => (silent.closed += 1));
    socket.on('error', () => undefined);
    const says = [...lines];
    const next = () => {
      const line = says.shift();
      if (line !== undefined) socket.write(`${line}\r\n`);
    };
    next();
    socket.on('data', next);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  silent.url = `smtp://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return silent;
}

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup = [];
});

async function server(lines?: string[]): Promise<SilentServer> {
  const silent = await silentServer(lines);
  cleanup.push(() => silent.close());
  return silent;
}

const MAIL = { to: 'ada@campus.test', subject: 'Hello', text: 'Hello' };
const SHORT = { connectionTimeout: 2_000, greetingTimeout: 300, socketTimeout: 300 };

async function until(check: () => boolean, what: string, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the mailer, at a mail server that stops answering', () => {
  it('gives up on one that never greets within the greeting timeout, and closes the connection', async () => {
    const silent = await server();
    const mailer = smtpMailer(silent.url, 'Atrium <no-reply@campus.test>', SHORT);
    cleanup.push(async () => mailer.close());
    const started = Date.now();
    await expect(mailer.send(MAIL)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(Date.now() - started).toBeLessThan(1_500);
    await until(() => silent.closed === 1, 'the connection closed');
  });

  it('gives up on one that falls silent after greeting within the socket timeout, and closes the connection', async () => {
    // Greets and answers EHLO, then never answers MAIL FROM.
    const silent = await server(['220 mail.campus.test ESMTP', '250 mail.campus.test']);
    const mailer = smtpMailer(silent.url, 'Atrium <no-reply@campus.test>', SHORT);
    cleanup.push(async () => mailer.close());
    const started = Date.now();
    await expect(mailer.send(MAIL)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(Date.now() - started).toBeLessThan(1_500);
    await until(() => silent.closed === 1, 'the connection closed');
  });

  it('ends a send whose signal aborts, and closes its connection', async () => {
    const silent = await server(['220 mail.campus.test ESMTP', '250 mail.campus.test']);
    const mailer = smtpMailer(silent.url, 'Atrium <no-reply@campus.test>', { ...SHORT, socketTimeout: 60_000 });
    cleanup.push(async () => mailer.close());
    const sending = mailer.send(MAIL, AbortSignal.timeout(300));
    await expect(sending).rejects.toMatchObject({ code: 'EABORT' });
    await until(() => silent.closed === 1, 'the connection closed', 7_000);
  });

  it('waits 30 s to connect, 30 s for the greeting and 60 s of silence, not nodemailer’s 2 and 10 minutes', () => {
    const created = vi.spyOn(nodemailer, 'createTransport');
    smtpMailer('smtp://127.0.0.1:2525', 'Atrium <no-reply@campus.test>').close();
    expect(MAIL_TIMEOUTS).toEqual({ connectionTimeout: 30_000, greetingTimeout: 30_000, socketTimeout: 60_000 });
    expect(created).toHaveBeenCalledWith(expect.objectContaining({ ...MAIL_TIMEOUTS, url: 'smtp://127.0.0.1:2525' }));
  });
});

describe('"forgot password" at a mail server that never answers', () => {
  it('still answers the person at once: the mail is sent after the answer', async () => {
    const silent = await server();
    const gateway = await startTestGateway('mailer-silent', {
      SMTP_URL: silent.url,
      MAIL_FROM: 'Atrium <no-reply@campus.test>',
    });
    cleanup.push(() => gateway.stop());
    await addPerson(gateway, 'sol');
    const agent = new BrowserAgent();
    const url = `${gateway.issuer}/password/forgot`;
    const form = formWithAction(await agent.navigate(url), '/password/forgot');
    const started = Date.now();
    const page = await agent.navigate(url, {
      method: 'POST',
      body: new URLSearchParams({ ...form.fields, identifier: 'sol' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(page.html).toContain('Check your mail');
    expect(Date.now() - started).toBeLessThan(2_000);
    // The mail is on its way to the silent server meanwhile.
    await until(() => silent.sockets.length === 1, 'the mail server reached');
  }, 30_000);
});
