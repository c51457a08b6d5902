import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOTP, Secret } from 'otpauth';
import { migrate } from '../../core/migrator.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { secondFactorRequired } from '../../gateway/factors/policy.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { unusedUrl } from '../helpers/ports.ts';
import { inspectDatabase, jsonOf, runAtrium, type Inspector } from '../helpers/cli.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';

let db: TestDatabase;
let inspect: Inspector;
const findUser = async (username: string) => (await inspect.ctx.models.User.findOne({ where: { username } }))!;

beforeAll(async () => {
  db = await createTestDatabase('cli-mfa');
  inspect = await inspectDatabase(db);
  await migrate(inspect.sequelize, 'gateway');
  await seedDemo(inspect.ctx, { eng: await unusedUrl('localhost'), arts: await unusedUrl('localhost') });
});
afterAll(async () => {
  await inspect?.close();
  await db?.drop();
});

describe('atrium mfa', () => {
  it('requires a second factor by role and by unit, shows the policy, and drops a requirement', async () => {
    expect((await runAtrium(db, ['mfa', 'policy'])).stdout).toContain('required of nobody');
    const byRole = await runAtrium(db, ['mfa', 'require', '--role', 'unit-admin']);
    expect(byRole.code, byRole.stderr).toBe(0);
    expect(byRole.stdout).toContain('everyone with role unit-admin');
    expect((await runAtrium(db, ['mfa', 'require', '--unit', 'campus/arts'])).code).toBe(0);

    const policy = jsonOf(await runAtrium(db, ['mfa', 'policy', '--json']));
    expect(policy.requirements).toEqual([
      { kind: 'role', value: 'unit-admin' },
      { kind: 'unit', value: 'campus/arts' },
    ]);
    // eng-admin by role, bob (campus/arts/history) by unit below campus/arts; alice by neither.
    expect(await secondFactorRequired(inspect.ctx, await findUser('eng-admin'))).toBe(true);
    expect(await secondFactorRequired(inspect.ctx, await findUser('bob'))).toBe(true);
    expect(await secondFactorRequired(inspect.ctx, await findUser('alice'))).toBe(false);

    expect((await runAtrium(db, ['mfa', 'unrequire', '--unit', 'campus/arts'])).code).toBe(0);
    expect(await secondFactorRequired(inspect.ctx, await findUser('bob'))).toBe(false);
    await runAtrium(db, ['mfa', 'unrequire', '--role', 'unit-admin']);
  });

  it('refuses an unknown role or unit, or both options at once, and changes nothing', async () => {
    const cases = [
      ['mfa', 'require', '--role', 'wizard', '--json'],
      ['mfa', 'require', '--unit', 'campus/nowhere', '--json'],
      ['mfa', 'require', '--role', 'admin', '--unit', 'campus', '--json'],
      ['mfa', 'require', '--json'],
    ];
    for (const args of cases) {
      const result = await runAtrium(db, args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(['invalid_input', 'usage']).toContain(jsonOf(result).error.code);
    }
    expect(await inspect.ctx.models.FactorRequirement.count()).toBe(0);
  });
});

describe('atrium users and second factors', () => {
  it('lists who has an authenticator, and reset-factors removes it with an audit entry', async () => {
    const carol = await findUser('carol');
    const deps = totpDeps('cli-test-key-not-used-for-codes-0123456789', 'http://localhost');
    const { secret } = await beginTotpEnrolment(inspect.ctx, deps, carol, interactionBinding({ uid: 'test' }));
    await confirmTotpEnrolment(
      inspect.ctx,
      deps,
      carol,
      TOTP.generate({ secret: Secret.fromBase32(secret) }),
      interactionBinding({ uid: 'test' }),
    );

    const listed = await runAtrium(db, ['users', 'list']);
    expect(listed.stdout).toContain('2ND FACTOR');
    expect(listed.stdout).toMatch(/carol .* totp, 10 recovery codes\s*$/m);
    expect(listed.stdout).toMatch(/alice .* none\s*$/m);
    const json = jsonOf(await runAtrium(db, ['users', 'list', '--json', '--q', 'carol']));
    expect(json.users[0].factors).toEqual({ totp: true, passkeys: 0, recoveryCodesLeft: 10 });

    const reset = await runAtrium(db, ['users', 'reset-factors', 'carol']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('Reset the second factor of carol and signed them out everywhere.');
    // Signed out everywhere, as the console's reset does: the nodes are told to refuse carol's tokens.
    expect(await inspect.ctx.models.EndedAccess.count({ where: { kind: 'sub', subject: carol.id } })).toBe(1);
    expect(await inspect.ctx.models.TotpFactor.count({ where: { userId: carol.id } })).toBe(0);
    expect(await inspect.ctx.models.RecoveryCode.count({ where: { userId: carol.id } })).toBe(0);
    const audit = await inspect.ctx.models.AuditEvent.findOne({
      where: { action: 'user.reset_factors', target: 'carol' },
    });
    expect(audit?.actorName).toBe('cli');
    expect(JSON.parse(audit!.details!)).toEqual({
      totp: true,
      recoveryCodes: 10,
      passkeys: 0,
      signedOutEverywhere: true,
      endedArtefacts: 0,
      wasLockedUntil: null,
      secondFactorRequired: false,
    });

    const unknown = await runAtrium(db, ['users', 'reset-factors', 'nobody', '--json']);
    expect(unknown.code).not.toBe(0);
    expect(jsonOf(unknown).error.code).toBe('not_found');
  });
});
