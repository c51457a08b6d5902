import { ValidationError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import type { Directory } from '../models/directories.ts';
import { endpointOf, withDirectory, type DirectoryEndpoint } from './connection.ts';
import { DirectoryUnavailableError, SERVICE_ACCOUNT_REFUSED } from './errors.ts';
import type { Changes, DirectorySettings } from './schemas.ts';
import { directorySettingsOf } from './settings.ts';

/** What the console's box and the CLI's option are called, for what a refused update says. */
export const SAVE_UNTESTED = 'tick “Save without testing” (console) or give --no-test (CLI)';

/**
 * An update that would break the connection (a wrong service password, a misspelt user base, another URL)
 * breaks every directory sign-in from the moment it is saved. So an update that changes how the gateway
 * reaches the directory is tried first, with the new settings: bind as the service account and read the user
 * base. When that fails nothing is saved, and the refusal says why at the field it most likely concerns;
 * `untested` (updateDirectory's option) saves anyway, for a directory down for maintenance.
 */
export async function testBeforeSaving(
  sealer: Sealer,
  directory: Directory,
  changes: Changes,
  next: DirectorySettings,
): Promise<void> {
  const before = directorySettingsOf(directory);
  const newPassword = Boolean(changes.bindPassword) && !sealedIs(sealer, directory, changes.bindPassword!);
  const given = <T>(value: T | undefined, stored: T) => value !== undefined && value !== stored;
  const touched =
    given(changes.url, directory.url) ||
    given(changes.caFile, directory.caFile) ||
    given(changes.bindDn, directory.bindDn) ||
    newPassword ||
    next.startTls !== before.startTls ||
    next.userBase !== before.userBase;
  if (!touched) return;
  const endpoint: DirectoryEndpoint = {
    ...endpointOf(directory, sealer),
    url: changes.url ?? directory.url,
    caFile: changes.caFile !== undefined ? changes.caFile : directory.caFile,
    bindDn: changes.bindDn ?? directory.bindDn,
    ...(newPassword ? { bindPassword: changes.bindPassword! } : {}),
    settings: next,
  };
  try {
    await withDirectory(endpoint, (client) =>
      client.search(next.userBase, { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] }),
    );
  } catch (error) {
    if (!(error instanceof DirectoryUnavailableError)) throw error;
    const problem = error.problem;
    throw new ValidationError(
      `Not saved: directory ${directory.name} does not work with these settings: ${problem}. Nothing was changed. ` +
        `If the directory is only down for maintenance, ${SAVE_UNTESTED} to save them untested.`,
      { [fieldOf(problem, newPassword, given(changes.bindDn, directory.bindDn))]: problem },
    );
  }
}

/** The field a failed test most likely concerns, so that the form says it there. */
function fieldOf(problem: string, newPassword: boolean, newBindDn: boolean): keyof Changes {
  if (problem.startsWith(SERVICE_ACCOUNT_REFUSED)) return newBindDn && !newPassword ? 'bindDn' : 'bindPassword';
  if (problem.startsWith('the directory has no entry')) return 'userBase';
  if (/StartTLS/.test(problem) && !/ldaps:\/\/ needs/.test(problem)) return 'startTls';
  if (/CA file/.test(problem)) return 'caFile';
  return 'url';
}

/** Whether `password` is the sealed one; one sealed under another secret cannot be read, so it is not. */
export function sealedIs(sealer: Sealer, directory: Directory, password: string): boolean {
  try {
    return sealer.open(directory.bindPasswordSealed) === password;
  } catch {
    return false;
  }
}
