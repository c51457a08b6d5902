import { describe, expect, it } from 'vitest';
import { systemText } from '../../gateway/portal/client/format.ts';

const name = (address: string) => address.split('@')[0]!;

describe('a system entry in words', () => {
  it('names the people of a change by their names', () => {
    const entry = { event: 'member.joined', by: 'lena@law.campus.test', members: ['alice@eng.campus.test'] };
    expect(systemText(entry, name)).toBe('lena added alice');
  });

  it('is a neutral line for an event a newer node sends, whatever its fields hold', () => {
    const entry = { event: 'group.archived', by: 'lena@law.campus.test', members: [42, { address: 'x' }] };
    expect(systemText(entry, name)).toBe('The conversation changed');
  });
});
