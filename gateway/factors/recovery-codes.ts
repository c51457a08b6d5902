import { createHash, randomBytes } from 'node:crypto';
import type { GatewayContext } from '../context.ts';

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

/** Replaces the person's recovery codes with ten new ones; only the hashes are kept. */
export async function issueRecoveryCodes(ctx: GatewayContext, userId: string): Promise<string[]> {
  const codes = Array.from({ length: COUNT }, newCode);
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
