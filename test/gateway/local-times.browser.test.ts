import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { chromiumMissing, launchChromium } from '../portal/browser.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { pageErrors } from '../helpers/page-errors.ts';
import { register } from '../directories/fixtures.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { Secret, TOTP } from 'otpauth';

/** An unlock in the audit log, and the sign-in the account page lists: a Friday evening in UTC. */
const AT = new Date('2025-03-14T20:05:09.000Z');
/** Until when the unlocked person had been locked, as the entry records it. */
const LOCKED_UNTIL = '2025-03-14T19:50:00.000Z';

let gateway: TestGateway;
let browser: Browser;
const url = (path: string) => `${gateway.issuer}${path}`;

beforeAll(async () => {
  if (chromiumMissing) return;
  gateway = await startTestGateway('local-times-browser');
  browser = await launchChromium();
  await gateway.models.AuditEvent.create({
    at: AT,
    actorId: null,
    actorName: 'ops',
    action: 'user.unlock',
    target: 'alice',
    outcome: 'success',
    ip: null,
    details: JSON.stringify({ wasLockedUntil: LOCKED_UNTIL }),
  });
  // A directory nobody syncs here: its page is enough (nothing connects to it).
  await register(gateway, 'campus-ldap', 'ldap://127.0.0.1:9');
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
});

type Reader = { locale: string; timezoneId: string; javaScriptEnabled?: boolean };

/** The administrator in a browser of their own language and zone, signed in to the console. */
async function adminReading(reader: Reader): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext(reader);
  const page = await context.newPage();
  const errors = pageErrors(page);
  await page.goto(url('/admin/login'));
  await page.fill('#username', 'admin');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('form[action$="/login"] button[type=submit]');
  await page.waitForURL((at) => at.pathname.startsWith('/admin/') && at.pathname !== '/admin/login');
  return { page, errors };
}

/** The unlock's row in the audit log: when (as read, on hover, for machines), and the lock it lifted. */
async function unlockRow(page: Page) {
  await page.goto(url('/admin/audit?action=user.unlock&actor=ops'));
  const row = page.locator('table.audit tbody tr', { hasText: 'alice' });
  const when = await row
    .locator('td')
    .first()
    .evaluate((cell) => ({
      text: cell.textContent?.trim(),
      title: cell.querySelector('time')?.title ?? null,
      datetime: cell.querySelector('time')?.dateTime ?? null,
    }));
  const until = await row.locator('ul.details li', { hasText: 'was locked until' }).innerText();
  return {
    when: when.text,
    whenExact: when.title,
    whenMachine: when.datetime,
    until: until.replace(/^was locked until:\s*/, ''),
  };
}

/** "Where you are signed in" for this browser, its sign-in moved to AT (as a sign-in then would be). */
async function thisDeviceLine(page: Page): Promise<string> {
  await page.goto(url('/account/security'));
  await page.waitForURL(url('/account/security'));
  const admin = await gateway.models.User.findOne({ where: { username: 'admin' } });
  const sessions = await gateway.models.OidcPayload.findAll({ where: { model: 'Session', accountId: admin!.id } });
  for (const session of sessions)
    await session.update({ payload: JSON.stringify({ ...JSON.parse(session.payload), loginTs: AT.getTime() / 1000 }) });
  await page.reload();
  return (await page.locator('li.device[aria-current="true"] p.muted').innerText()).trim();
}

/** The clock time now, as the reader's browser writes it (either side of a minute turning while the page loads). */
const clocksAround = async (reader: Reader, load: () => Promise<string>) => {
  const clock = new Intl.DateTimeFormat(reader.locale, { timeStyle: 'short', timeZone: reader.timezoneId });
  const before = clock.format(new Date());
  const line = await load();
  return { line, clocks: [before, clock.format(new Date())] };
};

describe.skipIf(chromiumMissing)('times on the console and account pages, in a real browser', () => {
  it.each([
    {
      reader: { locale: 'en-GB', timezoneId: 'Asia/Shanghai' },
      when: '15 Mar 2025, 04:05',
      until: '15 Mar 2025, 03:50',
      exact: /^Saturday(,)? 15 March 2025( at)? 04:05:09 .*\(2025-03-14 20:05:09 UTC\)$/,
    },
    {
      reader: { locale: 'de-DE', timezoneId: 'Europe/Berlin' },
      when: '14.03.2025, 21:05',
      until: '14.03.2025, 20:50',
      exact: /^Freitag, 14\. März 2025( um)? 21:05:09 .*\(2025-03-14 20:05:09 UTC\)$/,
    },
  ])(
    'are shown in the reader’s zone and language ($reader.locale, $reader.timezoneId)',
    {
      timeout: 60_000,
    },
    async ({ reader, when, until, exact }) => {
      const { page, errors } = await adminReading(reader);
      const row = await unlockRow(page);
      expect(row).toMatchObject({ when, until, whenMachine: AT.toISOString() });
      expect(row.whenExact).toMatch(exact);

      // The account page: the sign-in at AT by its date, this visit's activity as today's.
      const { line, clocks } = await clocksAround(reader, () => thisDeviceLine(page));
      expect(line).toContain(`signed in ${when} · last active today `);
      expect(clocks.map((clock) => `last active today ${clock}`).some((said) => line.endsWith(said))).toBe(true);
      expect(errors).toEqual([]);
      await page.context().close();
    },
  );

  it('stay readable in UTC where JavaScript does not run', { timeout: 60_000 }, async () => {
    const { page } = await adminReading({ locale: 'en-GB', timezoneId: 'Asia/Shanghai', javaScriptEnabled: false });
    expect(await unlockRow(page)).toEqual({
      when: '2025-03-14 20:05:09 UTC',
      whenExact: '',
      whenMachine: '2025-03-14T20:05:09.000Z',
      until: '2025-03-14 19:50:00 UTC',
    });
    expect(await thisDeviceLine(page)).toMatch(
      /signed in 2025-03-14 20:05:09 UTC · last active \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/,
    );
    await page.context().close();
  });

  it("say when a directory's running sync lets go, in the reader's zone", { timeout: 60_000 }, async () => {
    const reader = { locale: 'en-GB', timezoneId: 'Asia/Shanghai' };
    // Another process's sync holds the directory for an hour more.
    const until = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000);
    await gateway.models.Directory.update(
      { syncOwner: 'another-process', syncUntil: until },
      { where: { name: 'campus-ldap' } },
    );
    const { page, errors } = await adminReading(reader);
    try {
      await page.goto(url('/admin/directories/campus-ldap'));
      await page.click('form[action$="/sync"] button[type=submit]');
      const notice = page.locator('p.notice', { hasText: 'is already running' });
      const time = await notice.locator('time').evaluate((element: HTMLTimeElement) => ({
        datetime: element.dateTime,
        text: element.textContent,
        title: element.title,
      }));
      const clock = new Intl.DateTimeFormat(reader.locale, { timeStyle: 'short', timeZone: reader.timezoneId });
      expect(time.datetime).toBe(until.toISOString());
      expect(time.text).toMatch(new RegExp(`^(today|tomorrow) ${clock.format(until)}$`));
      expect(time.title).toContain(`(${until.toISOString().replace('T', ' ').slice(0, 19)} UTC)`);
      expect(await notice.innerText()).toMatch(
        /^A sync of directory campus-ldap is already running \(its lease ends at (today|tomorrow) \d\d:\d\d unless renewed\)/,
      );
      expect(errors).toEqual([]);
    } finally {
      await gateway.models.Directory.update({ syncOwner: null, syncUntil: null }, { where: { name: 'campus-ldap' } });
      await page.context().close();
    }
  });

  it('date the recovery codes file in the zone of the browser that saves it', { timeout: 60_000 }, async () => {
    const reader = { locale: 'en-GB', timezoneId: 'Asia/Shanghai' };
    const context = await browser.newContext(reader);
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.goto(url('/account/security'));
    await page.fill('#username', 'alice');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('form[action$="/login"] button[type=submit]');
    await page.waitForURL(url('/account/security'));
    // Alice has an authenticator app, so she may make new recovery codes.
    const alice = (await gateway.models.User.findOne({ where: { username: 'alice' } }))!;
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
    const binding = interactionBinding({ uid: 'test' });
    const { secret } = await beginTotpEnrolment(gateway.context(null), deps, alice, binding);
    const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
    await confirmTotpEnrolment(gateway.context(null), deps, alice, code, binding);
    await page.reload();
    await page.click('#new-recovery-codes button[type=submit]');
    const link = page.locator('#download-codes');
    // The page's deferred script dates the file: read it once the new page has run its scripts.
    await link.waitFor();
    await page.waitForLoadState('load');
    const made = new Date((await link.getAttribute('data-made'))!);
    const href = (await link.getAttribute('href'))!;
    const file = decodeURIComponent(href.slice(href.indexOf(',') + 1));
    const local = new Intl.DateTimeFormat(reader.locale, {
      dateStyle: 'long',
      timeStyle: 'short',
      timeZone: reader.timezoneId,
    }).format(made);
    expect(file.split('\n')[0]).toBe(`Atrium recovery codes for alice, made ${local} (Asia/Shanghai, UTC+08:00)`);
    expect(file.trim().split('\n').slice(-10)).toHaveLength(10);
    expect(errors).toEqual([]);
    await context.close();
  });
});
