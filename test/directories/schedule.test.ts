import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { register } from './fixtures.ts';

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
});

describe('the scheduled sync', () => {
  let gateway: TestGateway;
  let ldap: TestSlapd;
  beforeAll(async () => {
    ldap = await startTestSlapd({ ldif: inetOrgPerson({ uid: 'zoe', name: 'Zoe Zeller' }) });
    gateway = await startTestGateway('dir-schedule', { DIRECTORY_SYNC_INTERVAL: '1' });
    await register(gateway, 'scheduled', ldap.url);
  });
  afterAll(async () => {
    await gateway?.stop();
    await ldap?.stop();
  });

  it('syncs every registered directory on its own, and again on the next round', async () => {
    await expect.poll(() => gateway.models.User.count({ where: { username: 'zoe' } }), { timeout: 10_000 }).toBe(1);
    await expect
      .poll(() => gateway.models.AuditEvent.count({ where: { action: 'directory.sync', target: 'scheduled' } }), {
        timeout: 10_000,
      })
      .toBeGreaterThanOrEqual(2);
    const [first] = await gateway.models.AuditEvent.findAll({
      where: { action: 'directory.sync', target: 'scheduled' },
      order: [['id', 'ASC']],
    });
    expect(first?.actorName).toBe('directory-schedule');
  });
});
