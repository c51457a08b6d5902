import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { mainText } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { inetOrgPerson, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/main.ts';
import { startDirectorySchedule, type DirectorySchedule } from '../../gateway/directories/scheduler.ts';
import { createLogger } from '../../core/logger.ts';
import { ConfigError } from '../../core/errors.ts';
import { syncDirectory } from '../../gateway/directories/sync-directory.ts';
import { showDirectory } from '../../gateway/directories/list-directories.ts';
import { asOperator, register, sealerOf, sync } from './fixtures.ts';

describe('DIRECTORY_SYNC_INTERVAL', () => {
  const interval = (value: string | undefined) =>
    loadGatewayConfig({
      GATEWAY_PORT: '0',
      DIRECTORY_SYNC_INTERVAL: value,
      ATRIUM_SECRET_KEY: 'x'.repeat(32),
      ATRIUM_COOKIE_KEYS: 'y'.repeat(32),
    }).directorySyncSeconds;

  it('takes seconds, minutes or hours, or off, and is an hour by default', () => {
    expect(interval(undefined)).toBe(3600);
    expect(interval('900')).toBe(900);
    expect(interval('15m')).toBe(900);
    expect(interval('2h')).toBe(7200);
    expect(interval('off')).toBe(0);
    expect(interval('0')).toBe(0);
  });

  it('refuses anything else with a message naming the variable', () => {
    expect(() => interval('soon')).toThrow(ConfigError);
    expect(() => interval('soon')).toThrow(
      /DIRECTORY_SYNC_INTERVAL: expected a duration such as 900 \(seconds\), 15m or 1h, or off/,
    );
  });

  it('is at most a week, refused beyond it saying why, as past what a timer holds (597h)', () => {
    expect(interval('168h')).toBe(604_800);
    expect(() => interval('169h')).toThrow(ConfigError);
    expect(() => interval('597h')).toThrow(
      /DIRECTORY_SYNC_INTERVAL: at most 168h \(a week\): people removed or disabled in a directory keep signing in until the next sync; use off/,
    );
    expect(() => interval('99999999999999999999')).toThrow(/at most 168h/);
  });
});

describe('the scheduled sync', () => {
  let gateway: TestGateway;
  let ldap: TestSlapd;
  beforeAll(async () => {
    ldap = await startTestSlapd({ ldif: inetOrgPerson({ uid: 'zoe', name: 'Zoe Zeller' }) });
    gateway = await startTestGateway('dir-schedule', { DIRECTORY_SYNC_INTERVAL: '1' });
    await register(gateway, 'scheduled', ldap.url);
    // The first sync is an administrator's; the schedule takes over from it.
    await sync(gateway, 'scheduled');
  });
  afterAll(async () => {
    await gateway?.stop();
    await ldap?.stop();
  });

  it('syncs every directory synced once on its own, and again on the next round', async () => {
    await expect.poll(() => gateway.models.User.count({ where: { username: 'zoe' } }), { timeout: 10_000 }).toBe(1);
    await expect
      .poll(() => gateway.models.AuditEvent.count({ where: { action: 'directory.sync', target: 'scheduled' } }), {
        timeout: 10_000,
      })
      .toBeGreaterThanOrEqual(3);
    const [, second] = await gateway.models.AuditEvent.findAll({
      where: { action: 'directory.sync', target: 'scheduled' },
      order: [['id', 'ASC']],
    });
    expect(second?.actorName).toBe('directory-schedule');
  });
});

describe('when a scheduled sync runs', () => {
  let gateway: TestGateway;
  let ldap: TestSlapd;
  const schedules: DirectorySchedule[] = [];
  beforeAll(async () => {
    ldap = await startTestSlapd({ ldif: inetOrgPerson({ uid: 'yuri', name: 'Yuri Yates' }) });
    // No schedule of its own: each test starts the ones it needs, as gateway processes would.
    gateway = await startTestGateway('dir-schedule-due');
  });
  afterEach(async () => {
    await Promise.all(schedules.splice(0).map((s) => s.stop()));
  });
  afterAll(async () => {
    await gateway?.stop();
    await ldap?.stop();
  });

  const syncs = (name: string) =>
    gateway.models.AuditEvent.count({ where: { action: 'directory.sync', target: name } });
  const schedule = (intervalSeconds: number) => {
    const started = startDirectorySchedule({
      context: () => gateway.context(null),
      sealer: sealerOf(gateway),
      logger: createLogger('test', 'silent'),
      intervalSeconds,
    });
    schedules.push(started);
    return started;
  };

  it('syncs a directory that is due a few seconds after the gateway starts, not an interval later', async () => {
    await register(gateway, 'due-at-start', ldap.url);
    await sync(gateway, 'due-at-start');
    await gateway.models.Directory.update(
      { lastSyncAt: new Date(Date.now() - 7_200_000) },
      { where: { name: 'due-at-start' } },
    );
    const started = Date.now();
    const restarted = await startGateway(
      loadGatewayConfig({
        GATEWAY_PORT: '0',
        GATEWAY_HOST: '127.0.0.1',
        ATRIUM_DATA_DIR: gateway.db.dataDir,
        ...(gateway.db.url ? { DATABASE_URL: gateway.db.url } : {}),
        LOG_LEVEL: 'silent',
        DIRECTORY_SYNC_INTERVAL: '1h',
      }),
    );
    try {
      // Serving first: the sync waits for no start.
      expect(await syncs('due-at-start')).toBe(1);
      await expect.poll(() => syncs('due-at-start'), { timeout: 10_000, interval: 100 }).toBe(2);
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(await gateway.models.User.count({ where: { username: 'yuri' } })).toBe(1);
    } finally {
      await restarted.close();
    }
  });

  it('syncs next an interval after the last sync, whoever ran it, and not before', async () => {
    await register(gateway, 'after-the-last', ldap.url);
    await sync(gateway, 'after-the-last');
    // As if that sync (by hand, or by a gateway since restarted) had ended an hour less 6 seconds ago.
    const last = Date.now() - 3_600_000 + 6_000;
    await gateway.models.Directory.update({ lastSyncAt: new Date(last) }, { where: { name: 'after-the-last' } });
    schedule(3600);
    await sleep(last + 3_600_000 - 1_000 - Date.now());
    expect(await syncs('after-the-last')).toBe(1);
    await expect.poll(() => syncs('after-the-last'), { timeout: 6_000, interval: 100 }).toBe(2);
    const [latest] = await gateway.models.AuditEvent.findAll({
      where: { action: 'directory.sync', target: 'after-the-last' },
      order: [['id', 'DESC']],
    });
    expect(latest?.actorName).toBe('directory-schedule');
  });

  it('lets one of several gateway processes sync a due directory; the others find it done', async () => {
    await register(gateway, 'several', ldap.url);
    await sync(gateway, 'several');
    await gateway.models.Directory.update(
      { lastSyncAt: new Date(Date.now() - 7_200_000) },
      { where: { name: 'several' } },
    );
    const started = Date.now();
    for (let i = 0; i < 3; i++) schedule(3600);
    await expect.poll(() => syncs('several'), { timeout: 10_000, interval: 100 }).toBe(2);
    // Every process has looked by now (within 4 s of its start).
    await sleep(started + 6_000 - Date.now());
    expect(await syncs('several')).toBe(2);
  });

  it('runs no syncs back to back for an interval longer than a timer holds', async () => {
    await register(gateway, 'long-interval', ldap.url);
    await sync(gateway, 'long-interval');
    // Due: synced longer ago than the interval.
    await gateway.models.Directory.update({ lastSyncAt: new Date(0) }, { where: { name: 'long-interval' } });
    const started = Date.now();
    // 116 days: a timer of that many milliseconds overflows, and Node fires it after one instead.
    schedule(10_000_000);
    await expect.poll(() => syncs('long-interval'), { timeout: 10_000, interval: 100 }).toBe(2);
    await sleep(started + 7_000 - Date.now());
    expect(await syncs('long-interval')).toBe(2);
  });

  it('leaves a directory never synced to an administrator, a dry run not counting, then takes over', async () => {
    await register(gateway, 'untested', ldap.url);
    await syncDirectory(asOperator(gateway), { sealer: sealerOf(gateway), dryRun: true }, 'untested');
    const started = Date.now();
    schedule(1);
    // Every process has looked by now (within 4 s of its start), and again a second after.
    await sleep(started + 6_000 - Date.now());
    expect(await syncs('untested')).toBe(0);
    const directory = await showDirectory(asOperator(gateway), 'untested');
    expect(directory.lastSyncAt).toBeNull();
    await sync(gateway, 'untested');
    await expect.poll(() => syncs('untested'), { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(2);
  });
});

describe('a directory not synced yet', () => {
  let gateway: TestGateway;
  let ldap: TestSlapd;
  beforeAll(async () => {
    ldap = await startTestSlapd({ ldif: inetOrgPerson({ uid: 'xavi', name: 'Xavi Xu' }) });
    gateway = await startTestGateway('dir-not-synced-yet', { DIRECTORY_SYNC_INTERVAL: '2h' });
    await register(gateway, 'untested', ldap.url);
  });
  afterAll(async () => {
    await gateway?.stop();
    await ldap?.stop();
  });

  it('says on its console page and in directories show that it waits for its first sync', async () => {
    // What the administrator reads: it waits for them, and syncs on its own after that.
    const shown = await runAtrium(gateway.db, ['directories', 'show', 'untested'], {
      env: { DIRECTORY_SYNC_INTERVAL: '1h' },
    });
    expect(shown.stdout).toContain(
      'last sync:     Not synced yet: nobody came from it. Test it (atrium directories test untested), then sync it ' +
        '(atrium directories sync untested); the gateway syncs it every 1h (DIRECTORY_SYNC_INTERVAL) after its first sync.',
    );
    const admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
    const page = await admin.navigate(`${gateway.issuer}/admin/directories/untested`);
    expect(mainText(page)).toContain(
      'Not synced yet: nobody came from it. Test the connection, then press Sync now; the gateway syncs it',
    );
    expect(mainText(page)).toContain('the gateway syncs it every 2h (DIRECTORY_SYNC_INTERVAL) after its first sync.');
  });
});
