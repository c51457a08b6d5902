import type { User } from '../models/index.ts';

/**
 * The reset page of the directory a person's account comes from, or null for a local account (whose
 * password the gateway holds and may reset). Accounts carry no directory marker yet (directory sign-in is
 * issue 13's LDAP part); when they do, the gateway passes a function here that returns the reset URL of
 * the person's directory registration, and recovery mails that person the directory's page instead of a link.
 */
export type DirectoryResetPage = (user: User) => string | null | Promise<string | null>;

/** Every account is local until directory accounts exist. */
export const localAccountsOnly: DirectoryResetPage = () => null;
