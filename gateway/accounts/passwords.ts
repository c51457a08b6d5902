import { hash, verify, type Algorithm, type Options } from '@node-rs/argon2';

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

export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (!passwordHash) {
    // Spend the same time as a real check, so a missing account cannot be told apart by timing.
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}

const dummyHash = hashPassword('atrium-timing-equaliser');
