import { isLastAdministrator } from '../accounts/keep-administrators.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import type { User } from '../models/index.ts';
import type { Overruled } from './sync-report.ts';

/**
 * A directory decides who its people are and which roles they hold, but not that the campus is left with
 * nobody who can administer it: the console and the CLI refuse to disable the last active administrator or
 * to take their admin role (accounts/keep-administrators.ts), and a sync, or a sign-in that learns the
 * directory's answer first, keeps them enabled and an administrator instead. Whether it keeps them is
 * answered in the change's transaction; when it does, the audit log says so (`user.keep_administrator`),
 * and the sync's report too (keepAdministrator), until another administrator is made or the directory
 * gives them back what it took.
 */
export async function keptAsLastAdministrator(
  ctx: GatewayContext,
  user: User,
  directory: Directory,
  said: Overruled,
  found: 'sync' | 'sign-in' = 'sync',
): Promise<boolean> {
  if (!(await isLastAdministrator(ctx, user))) return false;
  await audit(ctx, {
    action: 'user.keep_administrator',
    target: user.username,
    details: {
      directory: directory.name,
      said,
      found,
      kept: said === 'in no admin role group' ? 'admin role' : 'enabled',
      why: 'the last active administrator: make someone else an administrator, then sync again',
    },
  });
  return true;
}
