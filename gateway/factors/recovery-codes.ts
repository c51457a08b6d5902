import { createHash, randomBytes } from 'node:crypto';
import { QueryTypes } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import { noticeTime } from '../recovery/notice-mails.ts';
import { InvalidCodeError } from './errors.ts';

const COUNT = 10;
// Letters and digits without look-alikes (0/o, 1/l/i), 10 of them: about 50 bits a code.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** A random code shown to its owner once, e.g. `k7mqz-3vx9a`. */
function newCode(): string {
  const bytes = randomBytes(10);
  const chars = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

/** What a person may type: any case, with or without the dash and spaces. */
function normalise(code: string): string {
  const bare = code.toLowerCase().replace(/[\s-]/g, '');
  return `${bare.slice(0, 5)}-${bare.slice(5)}`;
}

// The codes are random and long, so a plain hash suffices (no password-style stretching needed).
export const hashRecoveryCode = (code: string) => createHash('sha256').update(normalise(code)).digest('hex');

export function looksLikeRecoveryCode(code: string): boolean {
  return /^[a-z0-9]{10}$/.test(code.toLowerCase().replace(/[\s-]/g, ''));
}

/** How many sets of replaced codes are remembered: the one a person most likely still has on paper, and the one before. */
const REPLACED_SETS_KEPT = 2;

/**
 * Replaces the person's recovery codes with ten new ones; only the hashes are kept. The hashes of the set
 * replaced move to `replaced_recovery_codes` (with the set before it; older ones are forgotten), so a code
 * from it can be told apart from a typing mistake (replacedRecoveryCodeSet).
 */
export async function issueRecoveryCodes(ctx: GatewayContext, userId: string): Promise<string[]> {
  const codes = Array.from({ length: COUNT }, newCode);
  await rememberReplacedSet(ctx, userId, Date.now());
  await ctx.models.RecoveryCode.destroy({ where: { userId }, transaction: ctx.tx });
  await ctx.models.RecoveryCode.bulkCreate(
    codes.map((code) => ({ userId, codeHash: hashRecoveryCode(code), usedAt: null })),
    { transaction: ctx.tx },
  );
  return codes;
}

/** Marks an unused code as used, in one conditional update so two simultaneous uses cannot both succeed. */
export async function useRecoveryCode(ctx: GatewayContext, userId: string, code: string): Promise<boolean> {
  if (!looksLikeRecoveryCode(code)) return false;
  const [changed] = await ctx.models.RecoveryCode.update(
    { usedAt: new Date() },
    { where: { userId, codeHash: hashRecoveryCode(code), usedAt: null }, transaction: ctx.tx },
  );
  return changed === 1;
}

export async function unusedRecoveryCodes(ctx: GatewayContext, userId: string): Promise<number> {
  return ctx.models.RecoveryCode.count({ where: { userId, usedAt: null }, transaction: ctx.tx });
}

/**
 * Copies the hashes of the person's current codes, used or not, as a set replaced at `at` (milliseconds),
 * and forgets the sets older than the last REPLACED_SETS_KEPT. In plain SQL: one statement copies the set.
 */
async function rememberReplacedSet(ctx: GatewayContext, userId: string, at: number): Promise<void> {
  const { sequelize, tx: transaction } = ctx;
  await sequelize.query(
    `INSERT INTO replaced_recovery_codes (user_id, code_hash, replaced_at)
     SELECT user_id, code_hash, ? FROM recovery_codes WHERE user_id = ?`,
    { replacements: [at, userId], type: QueryTypes.INSERT, transaction },
  );
  const [oldestKept] = await sequelize.query<{ replaced_at: number | string }>(
    'SELECT DISTINCT replaced_at FROM replaced_recovery_codes WHERE user_id = ? ORDER BY replaced_at DESC LIMIT 1 OFFSET ?',
    { replacements: [userId, REPLACED_SETS_KEPT - 1], type: QueryTypes.SELECT, transaction },
  );
  if (!oldestKept) return;
  await sequelize.query('DELETE FROM replaced_recovery_codes WHERE user_id = ? AND replaced_at < ?', {
    replacements: [userId, Number(oldestKept.replaced_at)],
    transaction,
  });
}

/**
 * When the set of recovery codes that `code` belongs to was replaced by newer codes, or null when it is
 * none of the replaced sets remembered. Only for the second step of a sign-in, after the password: it
 * tells whoever typed the code that it was one of the person's.
 */
export async function replacedRecoveryCodeSet(ctx: GatewayContext, userId: string, code: string): Promise<Date | null> {
  if (!looksLikeRecoveryCode(code)) return null;
  const [row] = await ctx.sequelize.query<{ at: number | string | null }>(
    'SELECT MAX(replaced_at) AS at FROM replaced_recovery_codes WHERE user_id = ? AND code_hash = ?',
    { replacements: [userId, hashRecoveryCode(code)], type: QueryTypes.SELECT, transaction: ctx.tx },
  );
  return row?.at === null || row?.at === undefined ? null : new Date(Number(row.at));
}

/** Forgets the person's replaced sets of codes, as a reset of their second factors removes their codes. */
export async function forgetReplacedRecoveryCodes(ctx: GatewayContext, userId: string): Promise<void> {
  await ctx.sequelize.query('DELETE FROM replaced_recovery_codes WHERE user_id = ?', {
    replacements: [userId],
    transaction: ctx.tx,
  });
}

/**
 * A recovery code from a set newer codes replaced: refused and counted as a wrong code like any other,
 * but said as what it is, so the person looks for their newest codes instead of retyping an old one.
 */
export class ReplacedRecoveryCodeError extends InvalidCodeError {
  constructor(replacedAt: Date) {
    super();
    this.message = `That recovery code is from an older set, which new recovery codes replaced on ${noticeTime(replacedAt)}. Only the codes of your newest set work.`;
    // Also as a detail, which a refusal carries past the redirect to the step's page, as it does the message.
    Object.assign(this, { details: { replacedAt: replacedAt.toISOString() } });
  }
}
