import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPerson, enrolAuthenticator, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { operator, type GatewayContext } from '../../gateway/context.ts';
import { regenerateRecoveryCodes } from '../../gateway/factors/regenerate-recovery-codes.ts';
import { InvalidCodeError } from '../../gateway/factors/errors.ts';
import {
  ReplacedRecoveryCodeError,
  replacedRecoveryCodeSet,
  useRecoveryCode,
} from '../../gateway/factors/recovery-codes.ts';
import { resetFactorsOf } from '../../gateway/factors/reset-factors.ts';
import { removeOwnTotp } from '../../gateway/factors/remove-totp.ts';

/**
 * A recovery code from a set that newer codes replaced is known as such (when it was replaced), for the
 * sign-in's second step to say so rather than suggest a typing mistake; only the last two replaced sets
 * are remembered, and a helpdesk reset of the person's factors, or their removing their last one, forgets them.
 */
let gateway: TestGateway;

const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const asThemselves = async (username: string): Promise<GatewayContext> => {
  const user = await userNamed(username);
  return {
    ...gateway.context(null),
    actor: { kind: 'user', id: user.id, name: user.username, roles: user.roles, unitPaths: [] },
  };
};

/** Three sets of codes made one after the other, each replacing the one before; with when each was replaced. */
async function threeSets(username: string) {
  await addPerson(gateway, username, { roles: ['staff'] });
  await enrolAuthenticator(gateway, username);
  const user = await userNamed(username);
  const sets: string[][] = [];
  const replacedAt: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    const before = Date.now();
    sets.push(await regenerateRecoveryCodes(await asThemselves(username), user));
    replacedAt.push(before);
    // Apart by more than a millisecond, so that each replacement has its own time.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { user, sets, replacedAt };
}

beforeAll(async () => {
  gateway = await startTestGateway('replaced-recovery-codes');
}, 60_000);
afterAll(async () => gateway?.stop());

describe('recovery codes of a replaced set', () => {
  it('are known with when their set was replaced, as typed, for the last two replaced sets only', async () => {
    const { user, sets, replacedAt } = await threeSets('rhea');
    const ctx = gateway.context(null);
    const [oldest, older, newest] = sets as [string[], string[], string[]];
    // The newest set replaced `older` (at replacedAt[2]), which had replaced `oldest` (at replacedAt[1]).
    const olderReplaced = await replacedRecoveryCodeSet(ctx, user.id, older[4]!);
    expect(olderReplaced!.getTime()).toBeGreaterThanOrEqual(replacedAt[2]!);
    const oldestReplaced = await replacedRecoveryCodeSet(
      ctx,
      user.id,
      ` ${oldest[0]!.toUpperCase().replace('-', ' ')} `,
    );
    expect(oldestReplaced!.getTime()).toBeGreaterThanOrEqual(replacedAt[1]!);
    expect(oldestReplaced!.getTime()).toBeLessThan(olderReplaced!.getTime());
    // The newest codes are not replaced ones, and still work; a made-up code is no replaced one either.
    expect(await replacedRecoveryCodeSet(ctx, user.id, newest[0]!)).toBeNull();
    expect(await replacedRecoveryCodeSet(ctx, user.id, 'abcde-fghjk')).toBeNull();
    expect(await useRecoveryCode(ctx, user.id, newest[0]!)).toBe(true);
    // An old code stays refused.
    expect(await useRecoveryCode(ctx, user.id, older[4]!)).toBe(false);
  });

  it('forgets a set replaced three sets ago', async () => {
    await addPerson(gateway, 'remo', { roles: ['staff'] });
    await enrolAuthenticator(gateway, 'remo');
    const remo = await userNamed('remo');
    const ctx = gateway.context(null);
    const sets: string[][] = [];
    for (let i = 0; i < 4; i += 1) {
      sets.push(await regenerateRecoveryCodes(await asThemselves('remo'), remo));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await replacedRecoveryCodeSet(ctx, remo.id, sets[0]![0]!)).toBeNull();
    expect(await replacedRecoveryCodeSet(ctx, remo.id, sets[1]![0]!)).toBeInstanceOf(Date);
    expect(await replacedRecoveryCodeSet(ctx, remo.id, sets[2]![9]!)).toBeInstanceOf(Date);
  });

  it("are one person's: another's replaced code tells nothing of theirs", async () => {
    const { sets } = await threeSets('ruth');
    await addPerson(gateway, 'rory', { roles: ['staff'] });
    const rory = await userNamed('rory');
    expect(await replacedRecoveryCodeSet(gateway.context(null), rory.id, sets[0]![0]!)).toBeNull();
  });

  it('are forgotten when the helpdesk resets the second factors', async () => {
    const { user, sets } = await threeSets('rita');
    const ctx = gateway.context(null);
    expect(await replacedRecoveryCodeSet(ctx, user.id, sets[1]![0]!)).toBeInstanceOf(Date);
    expect((await resetFactorsOf({ ...ctx, actor: operator('helpdesk') }, 'rita')).removed).toBe(true);
    expect(await replacedRecoveryCodeSet(ctx, user.id, sets[0]![0]!)).toBeNull();
    expect(await replacedRecoveryCodeSet(ctx, user.id, sets[1]![0]!)).toBeNull();
  });

  it('are forgotten when the person removes their last second factor', async () => {
    const { user, sets } = await threeSets('rosa');
    const ctx = gateway.context(null);
    expect(await replacedRecoveryCodeSet(ctx, user.id, sets[1]![0]!)).toBeInstanceOf(Date);
    await removeOwnTotp(await asThemselves('rosa'), user);
    expect(await gateway.models.RecoveryCode.count({ where: { userId: user.id } })).toBe(0);
    expect(await replacedRecoveryCodeSet(ctx, user.id, sets[0]![0]!)).toBeNull();
    expect(await replacedRecoveryCodeSet(ctx, user.id, sets[1]![0]!)).toBeNull();
  });

  it('are refused as wrong codes, in words that say when their set was replaced, past a redirect too', () => {
    const refused = new ReplacedRecoveryCodeError(new Date('2026-12-07T10:52:30Z'));
    expect(refused).toBeInstanceOf(InvalidCodeError);
    expect([refused.code, refused.status]).toEqual(['invalid_code', 401]);
    expect(refused.message).toBe(
      'That recovery code is from an older set, which new recovery codes replaced on Monday 7 December 2026, 10:52 UTC. Only the codes of your newest set work.',
    );
    expect(refused.details).toEqual({ replacedAt: '2026-12-07T10:52:30.000Z' });
  });
});
