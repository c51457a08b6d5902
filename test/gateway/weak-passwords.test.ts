import { describe, expect, it } from 'vitest';
import { WEAK_PASSWORD_REASONS, weakPasswordReason } from '../../gateway/accounts/weak-passwords.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

const alice = {
  username: 'alice.w',
  displayName: 'Alice Wong',
  email: 'awong@campus.example',
  place: ['campus', 'Northfield University', 'northfield'],
};
const why = (password: string) => weakPasswordReason(password, alice);

describe('a password too easy to guess', () => {
  it('is refused when it is one of the most common passwords, whatever is added at either end', () => {
    for (const password of [
      'password12',
      'password123',
      'Password2026!',
      'P@ssw0rd!23',
      'iloveyou99',
      'letmein2026',
      '!!Welcome!!1',
      'trustno1trustno1',
      'Summer2024!',
      'december2026',
      'Football#1987',
      'MyPassword1',
    ])
      expect(why(password), password).toBe(WEAK_PASSWORD_REASONS.common);
  });

  it('is refused when it is a run of keyboard keys, letters or digits, or one character repeated', () => {
    for (const password of [
      '1234567890',
      '0987654321',
      'aaaaaaaaaa',
      'qwertyuiop',
      'qwerty123456',
      '1qaz2wsx3edc',
      '!@#$%^&*()',
      'abcdefghijk',
      'abcabcabcabc',
      '12121212121',
      'zzzzzz000000',
    ])
      expect(why(password), password).toBe(WEAK_PASSWORD_REASONS.pattern);
  });

  it("is refused when it is mostly the person's username, name or mail, or the service's or campus's name", () => {
    expect(why('alice.w2026')).toBe(WEAK_PASSWORD_REASONS.username);
    expect(why('AliceW123456')).toBe(WEAK_PASSWORD_REASONS.username);
    expect(why('aliceWong99!')).toBe(WEAK_PASSWORD_REASONS.name);
    expect(why('W0ng20262026')).toBe(WEAK_PASSWORD_REASONS.name);
    expect(why('awong1234567')).toBe(WEAK_PASSWORD_REASONS.email);
    expect(why('Atrium2026!!')).toBe(WEAK_PASSWORD_REASONS.place);
    expect(why('campus123456')).toBe(WEAK_PASSWORD_REASONS.place);
    expect(why('Northfield1!')).toBe(WEAK_PASSWORD_REASONS.place);
    // Without that context the same passwords are not known to be the person's.
    expect(weakPasswordReason('aliceWong99!', {})).toBeNull();
    expect(weakPasswordReason('Northfield1!', {})).toBeNull();
  });

  it('is not a good password: passphrases, random strings and words that merely include a common one', () => {
    for (const password of [
      'correct horse battery staple',
      'Tr0ub4dor&3',
      'x7#Kq9!mPz',
      '8405927163',
      'blue-lamp-river-1984',
      'my password is a teapot',
      'not my password',
      'waterfall in june',
      'zebra-stripes-42',
      'alice likes quiet libraries',
      'Wong family picnic 1999',
      'dragonfly-orchard-tea',
    ])
      expect(why(password), password).toBeNull();
  });

  it("lets the demo's password through, so that seeding and the tests' people keep it", () => {
    expect(
      weakPasswordReason(DEMO_PASSWORD, { username: 'admin', displayName: 'Ada Admin', place: ['campus'] }),
    ).toBeNull();
  });
});
