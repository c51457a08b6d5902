import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { unusedUrls } from '../helpers/ports.ts';
import { resetPassword, updateUser } from '../../gateway/accounts/update-user.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { operator } from '../../gateway/context.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { DEMO_PASSWORD, seedDemo } from '../../gateway/seed/demo.ts';

/** Without SMTP_URL a change is made all the same: the demo logs its notice, a production gateway sends none. */
let running: { gateway: Gateway; db: TestDatabase } | undefined;

afterEach(async () => {
  await running?.gateway.close();
  await running?.db.drop();
  running = undefined;
});

async function gatewayWithoutSmtp(label: string, env: Record<string, string> = {}) {
  const db = await createTestDatabase(label);
  const lines: { level: number; msg: string; to?: string; subject?: string }[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString())), done()) }),
  );
  const config = loadGatewayConfig({
    GATEWAY_PORT: '0',
    GATEWAY_HOST: '127.0.0.1',
    ATRIUM_DATA_DIR: db.dataDir,
    DIRECTORY_SYNC_INTERVAL: 'off',
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    ...env,
  });
  const gateway = await startGateway(config, { migrate: true, logger });
  running = { gateway, db };
  const [eng, arts] = (await unusedUrls(2)) as [string, string];
  await seedDemo(gateway.context(null), { eng, arts });
  const helpdesk = { ...gateway.context(null), actor: operator('helpdesk') };
  await createUser(helpdesk, {
    username: 'zoe',
    displayName: 'Zoe',
    email: 'zoe@campus.test',
    password: DEMO_PASSWORD,
    units: ['campus'],
    roles: ['student'],
  });
  return { gateway, lines, helpdesk };
}

describe('security notices without a mail server', () => {
  it('are written to the log in the demo, and the change is made', async () => {
    const { gateway, lines, helpdesk } = await gatewayWithoutSmtp('notices-log');
    const before = (await gateway.models.User.findOne({ where: { username: 'zoe' } }))!.passwordHash;
    await resetPassword(helpdesk, 'zoe', 'a helpdesk password 46');
    expect((await gateway.models.User.findOne({ where: { username: 'zoe' } }))!.passwordHash).not.toBe(before);
    const logged = () => lines.find((l) => l.to === 'zoe@campus.test');
    await expect.poll(logged).toBeTruthy();
    expect(logged()).toMatchObject({ level: 30, subject: 'Your Atrium password was reset' });
    expect(logged()!.msg).toContain('Your campus administrators set a new password for your Atrium account "zoe".');
    expect(lines.filter((l) => l.level >= 40 && l.msg.includes('notice'))).toEqual([]);
  });

  it('are not sent in production, and nothing fails', async () => {
    const { gateway, lines, helpdesk } = await gatewayWithoutSmtp('notices-prod', {
      ATRIUM_MODE: 'production',
      ATRIUM_ISSUER: 'https://id.campus.test',
      ATRIUM_SECRET_KEY: 'k'.repeat(40),
      ATRIUM_COOKIE_KEYS: 'c'.repeat(40),
    });
    await resetPassword(helpdesk, 'zoe', 'a helpdesk password 47');
    await updateUser(helpdesk, 'zoe', { email: 'zoe.new@campus.test' });
    expect((await gateway.models.User.findOne({ where: { username: 'zoe' } }))!.email).toBe('zoe.new@campus.test');
    expect(await gateway.models.AuditEvent.count({ where: { action: 'user.reset_password', target: 'zoe' } })).toBe(1);
    // Closing waits for notices under way: none was started, and none is logged.
    await gateway.close();
    await running?.db.drop();
    running = undefined;
    expect(lines.filter((l) => l.to !== undefined || /notice/.test(l.msg))).toEqual([]);
  });
});
