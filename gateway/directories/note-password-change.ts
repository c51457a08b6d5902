import { Op } from 'sequelize';
import { endAccessOf } from '../accounts/end-access.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory, DirectoryAccount } from '../models/directories.ts';
import type { User } from '../models/index.ts';
import { describePasswordChange, passwordChangeStep } from './password-changes.ts';

/** Why access ends, in the audit log. */
export const PASSWORD_CHANGED = 'password changed in the directory';

/**
 * The last moment of the second before now: a sign-in that found the change and goes on ends access then.
 * Tokens carry their `iat` in whole seconds, and a node refuses one issued in the second of an ending, so
 * an ending at `now` would also refuse the tokens this sign-in is about to be given. What another session
 * was given earlier in this same second lives on until it expires (minutes); its session and refresh
 * token end all the same.
 */
export const beforeThisSecond = (now = Date.now()) => new Date(Math.floor(now / 1000) * 1000 - 1);

/** What the directory said of one person's password, and what to do when it is a change. */
export type PasswordSeen = {
  user: User;
  /** Their link as the caller read it: its passwordChanged is what the caller compares with. */
  link: DirectoryAccount;
  directory: Directory;
  /** The entry's value (read-entry.ts passwordChangedOf); null when it had none. */
  seen: string | null;
  /** Their entry is disabled there: the disabling ends their access, so this does not. */
  disabledThere: boolean;
  /** Why, in the audit log: PASSWORD_CHANGED, and where it was found. */
  reason: string;
  /** The moment access ends (endAccessOf); now unless given. */
  endedAt?: Date;
};

/**
 * Keeps on the person's link what the directory now says of their password (password-changes.ts), and
 * when it says the password changed, ends every way an active person is signed in (endAccessOf: sessions,
 * grants, refresh tokens, the nodes told), audited as a "sign out everywhere" for the directory. In the
 * caller's transaction. The link is written only if it still keeps the value the caller read, so a sync
 * and a sign-in that both read one change end the person's access once. Whether access was ended.
 */
export async function notePasswordChange(ctx: GatewayContext, p: PasswordSeen): Promise<boolean> {
  const kept = p.link.passwordChanged ?? null;
  const { keep, changed } = passwordChangeStep(kept, p.seen);
  if (keep === undefined) return false;
  const [written] = await ctx.models.DirectoryAccount.update(
    { passwordChanged: keep },
    {
      where: { userId: p.link.userId, passwordChanged: kept === null ? { [Op.is]: null } : kept },
      transaction: ctx.tx,
    },
  );
  if (written === 0) return false;
  if (!changed || p.disabledThere || p.user.status !== 'active') return false;
  const { artefacts } = await endAccessOf(ctx, p.user, p.endedAt);
  await audit(ctx, {
    action: 'user.sign_out_everywhere',
    target: p.user.username,
    details: {
      directory: p.directory.name,
      reason: p.reason,
      passwordChanged: describePasswordChange(keep),
      ...(kept ? { before: describePasswordChange(kept) } : {}),
      endedArtefacts: artefacts,
    },
  });
  return true;
}
