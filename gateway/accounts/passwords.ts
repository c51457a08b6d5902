import { hash, verify, type Algorithm, type Options } from '@node-rs/argon2';
import { Counter } from 'prom-client';

/**
 * argon2id with 19 MiB of memory, 2 passes, 1 lane: the second of the equally strong settings in OWASP's
 * Password Storage Cheat Sheet (46 MiB × 1, 19 MiB × 2, 12 MiB × 3, 9 MiB × 4, 7 MiB × 5). Of those it
 * needs less than half the memory of the first per check in flight, which matters when a lecture hall
 * signs in at once, and an attacker's cost per guess is the same. They are also @node-rs/argon2's
 * defaults; written out so that a new version of the library cannot change them unnoticed. A hash keeps
 * its parameters, so hashes made with other ones still verify.
 */
export const PASSWORD_HASHING = {
  // Argon2id (the library's enum is a `const enum`, which erasable TypeScript cannot import as a value).
  algorithm: 2 as Algorithm,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const satisfies Options;

export function hashPassword(password: string): Promise<string> {
  return hash(password, PASSWORD_HASHING);
}

/**
 * The argon2id verifications this process made, a sign-in's main cost: one for a password checked against
 * an account's hash, and one stand-in for every other refused sign-in (accounts/authenticate.ts). Registered
 * on the gateway's /metrics; it counts for the whole process, which all of its verifications share.
 */
export const passwordVerifications = new Counter({
  name: 'atrium_password_verifications_total',
  help: 'argon2id password verifications (sign-ins, refused ones alike, and password confirmations)',
  registers: [],
});

/**
 * Whether the password is the one `passwordHash` was made from. Without a hash (no account, no local
 * password, or a refusal made elsewhere) every password is refused after the same work as a real check,
 * against a hash made once with PASSWORD_HASHING, so that the time of the answer tells nothing.
 */
export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  passwordVerifications.inc();
  if (!passwordHash) {
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}

const dummyHash = hashPassword('atrium-timing-equaliser');
