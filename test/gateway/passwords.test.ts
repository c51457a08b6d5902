import { hash } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../gateway/accounts/passwords.ts';

describe('password hashing', () => {
  it("stores passwords as argon2id with OWASP's 19 MiB, 2 passes, 1 lane", async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(stored, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(stored, 'correct horse battery stapler')).toBe(false);
  });

  it('still accepts a password hashed earlier with other parameters', async () => {
    const older = await hash('an older password', { memoryCost: 4096, timeCost: 3, parallelism: 1 });
    expect(await verifyPassword(older, 'an older password')).toBe(true);
    expect(await verifyPassword(older, 'another password')).toBe(false);
  });

  it('refuses every password for an account without one', async () => {
    expect(await verifyPassword(null, '')).toBe(false);
    expect(await verifyPassword(null, 'anything')).toBe(false);
  });
});
