import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { mainText } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { inetOrgPerson, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/main.ts';
import { startDirectorySchedule, type DirectorySchedule } from '../../gateway/directories/scheduler.ts';
import { createLogger } from '../../core/logger.ts';
import { createTestClock, type Clock, type TestClock } from '../../core/clock.ts';
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
  /**
   * A schedule as one gateway process runs it, on `clock` (moved forward rather than waited for); `looks`
   * counts the looks it has finished, each of which sets the timer of the next.
   */
  const schedule = (intervalSeconds: number, clock: TestClock) => {
    let timers = 0;
    const watched: Clock = {
      now: () => clock.now(),
      setTimeout(run, ms) {
        timers++;
        return clock.setTimeout(run, ms);
      },
      clearTimeout: (timer) => clock.clearTimeout(timer),
    };
    const started = startDirectorySchedule({
      context: () => gateway.context(null),
      sealer: sealerOf(gateway),
      logger: createLogger('test', 'silent'),
      intervalSeconds,
      clock: watched,
    });
    schedules.push(started);
    return { looks: () => Math.max(0, timers - 1) };
  };
  const lookedAt = (process: { looks(): number }, looks: number) =>
    expect.poll(() => process.looks(), { timeout: 10_000, interval: 20 }).toBeGreaterThanOrEqual(looks);
  /** Another gateway process over the database, with the schedule DIRECTORY_SYNC_INTERVAL sets. */
  const startProcess = (interval: string) =>
    startGateway(
      loadGatewayConfig({
        GATEWAY_PORT: '0',
        GATEWAY_HOST: '127.0.0.1',
        ATRIUM_DATA_DIR: gateway.db.dataDir,
        ...(gateway.db.url ? { DATABASE_URL: gateway.db.url } : {}),
        LOG_LEVEL: 'silent',
        DIRECTORY_SYNC_INTERVAL: interval,
      }),
    );
  /** Past every process's first look, which is 2-4 s after its start. */
  const FIRST_LOOKS_MS = 4_000;

  it('syncs every directory synced once on its own, and again on the next round', async () => {
    await register(gateway, 'scheduled', ldap.url);
    // The first sync is an administrator's; the schedule takes over from it.
    await sync(gateway, 'scheduled');
    const scheduled = await startProcess('1');
    try {
      await expect.poll(() => syncs('scheduled'), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      expect(await gateway.models.User.count({ where: { username: 'yuri' } })).toBe(1);
    } finally {
      await scheduled.close();
    }
    const [, second] = await gateway.models.AuditEvent.findAll({
      where: { action: 'directory.sync', target: 'scheduled' },
      order: [['id', 'ASC']],
    });
    expect(second?.actorName).toBe('directory-schedule');
  });

  it('syncs a directory that is due a few seconds after the gateway starts, not an interval later', async () => {
    await register(gateway, 'due-at-start', ldap.url);
    await sync(gateway, 'due-at-start');
    await gateway.models.Directory.update(
      { lastSyncAt: new Date(Date.now() - 7_200_000) },
      { where: { name: 'due-at-start' } },
    );
    const started = Date.now();
    const restarted = await startProcess('1h');
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
    const clock = createTestClock();
    // As if that sync (by hand, or by a gateway since restarted) had ended an hour less 10 seconds ago.
    const last = clock.now() - 3_600_000 + 10_000;
    await gateway.models.Directory.update({ lastSyncAt: new Date(last) }, { where: { name: 'after-the-last' } });
    const process = schedule(3600, clock);
    // To 5 s before it is due: the first look falls due meanwhile, and finds it not due yet.
    clock.advance(last + 3_600_000 - 5_000 - clock.now());
    await lookedAt(process, 1);
    expect(await syncs('after-the-last')).toBe(1);
    clock.advance(5_000);
    await expect.poll(() => syncs('after-the-last'), { timeout: 10_000, interval: 100 }).toBe(2);
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
    // Processes started together look at different moments (2-4 s after start): one first, then the others.
    const [first, others] = [createTestClock(), createTestClock()];
    const processes = [schedule(3600, first), schedule(3600, others), schedule(3600, others)];
    first.advance(FIRST_LOOKS_MS);
    await lookedAt(processes[0]!, 1);
    expect(await syncs('several')).toBe(2);
    others.advance(FIRST_LOOKS_MS);
    await lookedAt(processes[1]!, 1);
    await lookedAt(processes[2]!, 1);
    expect(await syncs('several')).toBe(2);
  });

  it('runs no syncs back to back for an interval longer than a timer holds', async () => {
    await register(gateway, 'long-interval', ldap.url);
    await sync(gateway, 'long-interval');
    // Due: synced longer ago than the interval.
    await gateway.models.Directory.update({ lastSyncAt: new Date(0) }, { where: { name: 'long-interval' } });
    const clock = createTestClock();
    // 116 days: a timer of that many milliseconds overflows, and Node fires it after one instead.
    const process = schedule(10_000_000, clock);
    clock.advance(FIRST_LOOKS_MS);
    await expect.poll(() => syncs('long-interval'), { timeout: 10_000, interval: 100 }).toBe(2);
    await lookedAt(process, 1);
    // Ten minutes on, a look every minute (a directory registered meanwhile is seen), and no sync.
    for (let minute = 1; minute <= 10; minute++) {
      clock.advance(60_000);
      await lookedAt(process, 1 + minute);
    }
    expect(await syncs('long-interval')).toBe(2);
    // Nor looks back to back: a timer set beyond what Node's holds would fire at once, again and again.
    expect(process.looks()).toBe(11);
  });

  it('leaves a directory never synced to an administrator, a dry run not counting, then takes over', async () => {
    await register(gateway, 'untested', ldap.url);
    await syncDirectory(asOperator(gateway), { sealer: sealerOf(gateway), dryRun: true }, 'untested');
    const clock = createTestClock();
    const process = schedule(1, clock);
    // Its first look, and the next a second after.
    clock.advance(FIRST_LOOKS_MS);
    await lookedAt(process, 1);
    clock.advance(1_000);
    await lookedAt(process, 2);
    expect(await syncs('untested')).toBe(0);
    const directory = await showDirectory(asOperator(gateway), 'untested');
    expect(directory.lastSyncAt).toBeNull();
    await sync(gateway, 'untested');
    clock.advance(1_000);
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
