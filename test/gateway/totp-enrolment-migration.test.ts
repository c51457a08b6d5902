import { QueryTypes } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator } from '../../core/migrator.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Upgrading to the version that binds an unconfirmed authenticator secret to what it was shown to
 * (migration 0013): a secret pending from before was shown to whoever opened the page, so it goes; a
 * confirmed authenticator stays as it was.
 */
let gateway: TestGateway;
// Only the id: the database is migrated back to a version before some of the model's columns (search_text).
const idOf = async (username: string) =>
  (await gateway.models.User.findOne({ where: { username }, attributes: ['id'] }))!.id;

beforeAll(async () => {
  gateway = await startTestGateway('totp-upgrade');
  const migrator = createMigrator(gateway.sequelize, 'gateway');
  await migrator.down({ to: '0013-totp-enrolment-binding.ts' });
  await expect(gateway.sequelize.query('SELECT binding FROM totp_factors')).rejects.toThrow();
  // What the version before wrote: Alice confirmed her authenticator, Bob only scanned his code.
  const created = new Date('2026-01-05T09:00:00Z');
  for (const [username, confirmedAt, lastStep] of [
    ['alice', new Date('2026-01-05T09:01:00Z'), 59_000_000],
    ['bob', null, null],
  ] as const) {
    await gateway.sequelize.query(
      `INSERT INTO totp_factors (user_id, secret, confirmed_at, last_step, created_at)
       VALUES (:userId, :secret, :confirmedAt, :lastStep, :created)`,
      {
        replacements: { userId: await idOf(username), secret: `sealed-${username}`, confirmedAt, lastStep, created },
        type: QueryTypes.INSERT,
      },
    );
  }
  await migrator.up();
});
afterAll(async () => gateway?.stop());

describe('upgrading to bound authenticator enrolments', () => {
  it('keeps a confirmed authenticator as it was, with no binding', async () => {
    const alice = await gateway.models.TotpFactor.findByPk(await idOf('alice'));
    expect(alice).toMatchObject({ secret: 'sealed-alice', binding: null });
    expect(alice!.confirmedAt).toEqual(new Date('2026-01-05T09:01:00Z'));
    expect(Number(alice!.lastStep)).toBe(59_000_000);
  });

  it('drops a secret pending from before, which anyone who opened the page may have seen', async () => {
    expect(await gateway.models.TotpFactor.findByPk(await idOf('bob'))).toBeNull();
    expect(await gateway.models.TotpFactor.count()).toBe(1);
  });
});
