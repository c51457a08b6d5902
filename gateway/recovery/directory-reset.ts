import type { User } from '../models/index.ts';

/**
 * The reset page of the directory a person's account comes from, or null for a local account (whose
 * password the gateway holds and may reset). A person from a campus directory is marked by a
 * `directory_accounts` row; the gateway passes gateway/directories/reset-page.ts here, which returns the
 * reset URL of that person's directory registration, and recovery mails them the directory's page
 * instead of a link.
 */
export type DirectoryResetPage = (user: User) => string | null | Promise<string | null>;

/** Every account is local (a gateway with no directories, and tests of recovery alone). */
export const localAccountsOnly: DirectoryResetPage = () => null;
