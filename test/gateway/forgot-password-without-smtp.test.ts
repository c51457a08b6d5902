import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BrowserAgent, formWithAction } from '../helpers/browser-agent.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { operator } from '../../gateway/context.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { unusedUrls } from '../helpers/ports.ts';
import { createCsrf, csrfCookieName } from '../../gateway/http/csrf.ts';
import type { Request, Response } from 'express';

let running: { gateway: Gateway; db: TestDatabase } | undefined;

afterEach(async () => {
  await running?.gateway.close();
  await running?.db.drop();
  running = undefined;
});

/** A gateway with no SMTP_URL whose log lines are kept. */
async function gatewayWithoutSmtp(label: string, env: Record<string, string> = {}) {
  const db = await createTestDatabase(label);
  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }),
  );
  const config = loadGatewayConfig({
    GATEWAY_PORT: '0',
    GATEWAY_HOST: '127.0.0.1',
    ATRIUM_DATA_DIR: db.dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    ...env,
  });
  const gateway = await startGateway(config, { migrate: true, logger });
  running = { gateway, db };
  return {
    gateway,
    lines,
    url: (path: string) => `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}${path}`,
  };
}

describe('"forgot password" without a mail server', () => {
  it('writes the mail, link included, to the log in the demo', async () => {
    const { gateway, lines, url } = await gatewayWithoutSmtp('forgot-pw-log');
    const [eng, arts] = (await unusedUrls(2)) as [string, string];
    await seedDemo(gateway.context(null), { eng, arts });
    await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username: 'yara',
        displayName: 'Yara',
        email: 'yara@campus.test',
        password: DEMO_PASSWORD,
        units: ['campus'],
        roles: ['student'],
      },
    );
    const agent = new BrowserAgent();
    const page = await agent.navigate(url('/password/forgot'));
    const answer = await agent.submit(page, formWithAction(page, '/password/forgot'), { identifier: 'yara' });
    expect(answer.html).toContain('Check your mail');
    const loggedMail = () =>
      lines.map((l) => JSON.parse(l) as { to?: string; msg: string }).find((l) => l.to === 'yara@campus.test');
    await expect.poll(loggedMail).toBeTruthy();
    const logged = loggedMail();
    expect(logged?.msg).toMatch(new RegExp(`${gateway.issuer}/password/reset/[A-Za-z0-9_-]{43}`));
    const link = new RegExp(`${gateway.issuer}/password/reset/[A-Za-z0-9_-]{43}`).exec(logged!.msg)![0];
    expect((await agent.navigate(link)).html).toContain('Choose a new password');
  });

  it('is off in production, rather than logging working links', async () => {
    const { lines, url } = await gatewayWithoutSmtp('forgot-pw-prod', {
      ATRIUM_MODE: 'production',
      ATRIUM_ISSUER: 'https://id.campus.test',
      ATRIUM_SECRET_KEY: 'k'.repeat(40),
      ATRIUM_COOKIE_KEYS: 'c'.repeat(40),
    });
    const page = await new BrowserAgent().navigate(url('/password/forgot'));
    expect(page.html).toContain('Password recovery by mail is not set up on this gateway');
    expect(page.html).not.toContain('name="identifier"');
    expect(lines.some((l) => l.includes('SMTP_URL is not set'))).toBe(true);
  });

  it('answers a form loaded before mail was turned off with a redirect, so Reload resubmits nothing', async () => {
    const secretKey = 'k'.repeat(40);
    const { url } = await gatewayWithoutSmtp('forgot-pw-prod-post', {
      ATRIUM_MODE: 'production',
      ATRIUM_ISSUER: 'https://id.campus.test',
      ATRIUM_SECRET_KEY: secretKey,
      ATRIUM_COOKIE_KEYS: 'c'.repeat(40),
    });
    const agent = new BrowserAgent();
    await agent.navigate(url('/password/forgot?interaction=abc123'));
    // The token the form carried when this browser loaded it (with mail set up then): this browser's cookie, signed.
    const cookie = agent.cookies.get(new URL(url('/')).host)?.get(csrfCookieName(true));
    expect(cookie).toBeTruthy();
    const formToken = createCsrf(secretKey, true).token(
      { cookies: { [csrfCookieName(true)]: cookie } } as unknown as Request,
      {} as Response,
    );
    const posted = await agent.request(url('/password/forgot'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: formToken, identifier: 'yara', interaction: 'abc123' }).toString(),
    });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe('/password/forgot?interaction=abc123');
    const page = await agent.navigate(url(posted.headers.get('location')!));
    expect(page.status).toBe(200);
    expect(page.html).toContain('Password recovery by mail is not set up on this gateway');
    expect(page.html).toContain('<a href="/interaction/abc123" id="back-to-sign-in">Back to sign in</a>');
  });
});
