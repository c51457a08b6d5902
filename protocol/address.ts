import * as z from 'zod';

const DOMAIN = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+';

/** A DNS-like domain name, such as eng.campus.test. */
export const domainPattern = new RegExp(`^${DOMAIN}$`);

/** `user@domain`, as the gateway issues usernames, at a DNS-like domain. */
export const addressPattern = new RegExp(`^[a-z0-9][a-z0-9._-]{1,63}@${DOMAIN}$`);

/**
 * An app's slug (its short name): 2-40 lowercase letters, digits and dashes, neither starting nor ending
 * with a dash. It is the user part of the app's bot address on every node (`slug@domain`): the gateway
 * keeps apps' slugs to it, and a node recognises a home's bot addresses by it.
 */
export const appSlugPattern = /^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$/;

/** An address as a client or peer writes it: trimmed and lower-cased, then checked. */
export const addressSchema = z.string().trim().toLowerCase().max(320).regex(addressPattern, {
  message: 'an address such as alice@eng.campus.test',
});

export function domainOf(address: string): string {
  return address.slice(address.indexOf('@') + 1);
}

export function userOf(address: string): string {
  return address.slice(0, address.indexOf('@'));
}

export function addressOf(username: string, domain: string): string {
  return `${username}@${domain}`;
}
