import { describe, expect, it } from 'vitest';
import { initials } from '../../gateway/portal/client/format.ts';

describe('the initials on an app tile or an avatar', () => {
  it('are taken from letters and digits only, whatever else the name holds', () => {
    expect(initials('Eng Lab <b>Booking</b>')).toBe('EB');
    expect(initials('(Library) "Rooms"')).toBe('LR');
    expect(initials('3D Printing')).toBe('3P');
  });

  it('are one letter for one word, and "?" for a name without a letter or digit', () => {
    expect(initials('alice')).toBe('A');
    expect(initials('Émile Zola')).toBe('ÉZ');
    expect(initials('<> --')).toBe('?');
  });
});
