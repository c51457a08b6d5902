import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../core/migrator.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { unusedUrl } from '../helpers/ports.ts';
import { inspectDatabase, jsonOf, runAtrium, type Inspector } from '../helpers/cli.ts';
import { storedPasskey as storedPasskeyRow } from '../helpers/stored-passkey.ts';

let db: TestDatabase;
let inspect: Inspector;
const findUser = async (username: string) => (await inspect.ctx.models.User.findOne({ where: { username } }))!;

/** A passkey row as if registered from the account page (the CLI only counts and removes them). */
async function storedPasskey(username: string, name: string) {
  await storedPasskeyRow(inspect.ctx.models, (await findUser(username)).id, name);
}

beforeAll(async () => {
  db = await createTestDatabase('cli-passkeys');
  inspect = await inspectDatabase(db);
  await migrate(inspect.sequelize, 'gateway');
  await seedDemo(inspect.ctx, { eng: await unusedUrl('localhost'), arts: await unusedUrl('localhost') });
});
afterAll(async () => {
  await inspect?.close();
  await db?.drop();
});

describe('atrium and passkeys', () => {
  it('turns passwordless sign-in on and off, and the policy says which', async () => {
    expect((await runAtrium(db, ['mfa', 'policy'])).stdout).toContain('Passwordless sign-in is off');
    const on = await runAtrium(db, ['mfa', 'passwordless', 'on']);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain('Passwordless sign-in is on');
    expect(jsonOf(await runAtrium(db, ['mfa', 'policy', '--json'])).passwordless).toBe(true);
    const wrong = await runAtrium(db, ['mfa', 'passwordless', 'maybe']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('say on or off');
    // Carol signs in with a passkey alone: turning passwordless off leaves her out, and says so.
    await storedPasskey('carol', 'Phone');
    await inspect.ctx.models.User.update({ passwordHash: null }, { where: { username: 'carol' } });
    const off = await runAtrium(db, ['mfa', 'passwordless', 'off']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toContain('Passwordless sign-in is off');
    expect(off.stdout).toContain('1 person has a passkey and no password');
    expect(jsonOf(await runAtrium(db, ['mfa', 'policy', '--json'])).passwordless).toBe(false);
    const entries = await inspect.ctx.models.AuditEvent.findAll({
      where: { action: 'mfa.passwordless' },
      order: [['id', 'ASC']],
    });
    expect(entries.map((e) => [e.target, e.actorName])).toEqual([
      ['on', 'cli'],
      ['off', 'cli'],
    ]);
  });

  it('lists how many passkeys each person has, and reset-factors removes them with an audit entry', async () => {
    await storedPasskey('dave', 'Phone');
    await storedPasskey('dave', 'YubiKey');
    const listed = await runAtrium(db, ['users', 'list']);
    expect(listed.stdout).toMatch(/dave .* 2 passkeys\s*$/m);
    expect(listed.stdout).toMatch(/bob .* none\s*$/m);
    const json = jsonOf(await runAtrium(db, ['users', 'list', '--json', '--q', 'dave']));
    expect(json.users[0].factors).toEqual({ totp: false, passkeys: 2, recoveryCodesLeft: 0 });

    // Locked out by wrong codes meanwhile: the reset lifts that too, and says so.
    const lockedUntil = new Date(Date.now() + 10 * 60_000);
    await inspect.ctx.models.User.update({ lockedUntil, failedLogins: 5 }, { where: { username: 'dave' } });
    const reset = await runAtrium(db, ['users', 'reset-factors', 'dave']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain(
      'Reset the second factor of dave, lifted their lockout and signed them out everywhere.',
    );
    const dave = await findUser('dave');
    expect(dave.lockedUntil).toBeNull();
    expect(await inspect.ctx.models.Passkey.count({ where: { userId: dave.id } })).toBe(0);
    const audit = await inspect.ctx.models.AuditEvent.findOne({
      where: { action: 'user.reset_factors', target: 'dave' },
    });
    expect(JSON.parse(audit!.details!)).toEqual({
      totp: false,
      recoveryCodes: 0,
      passkeys: 2,
      signedOutEverywhere: true,
      endedArtefacts: 0,
      wasLockedUntil: lockedUntil.toISOString(),
      secondFactorRequired: false,
    });
  });
});
