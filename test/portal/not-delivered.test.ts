import { describe, expect, it } from 'vitest';
import { notDeliveredWhy } from '../../gateway/portal/client/format.ts';

describe('why a message was not delivered, under it', () => {
  it('says a domain removed from the campus is gone, not that it refused', () => {
    const frame = 'unknown_destination: arts.campus.test is no longer a domain of the campus (removed at the gateway)';
    expect(notDeliveredWhy('arts.campus.test', frame)).toBe('arts.campus.test is no longer part of the campus');
    expect(notDeliveredWhy('arts.campus.test', 'unknown_destination')).toBe(
      'arts.campus.test is no longer part of the campus',
    );
  });

  it('names the federation policy in words, from a frame or a stored entry alike', () => {
    const said = 'the federation policy keeps sales.acme.test apart from this college';
    expect(notDeliveredWhy('sales.acme.test', 'policy_denied: The federation policy does not let …')).toBe(said);
    expect(notDeliveredWhy('sales.acme.test', 'policy_denied')).toBe(said);
  });

  it('keeps any other refusal by its code', () => {
    expect(notDeliveredWhy('law.campus.test', 'invalid_entry: bad')).toBe('law.campus.test refused it (invalid_entry)');
    expect(notDeliveredWhy('law.campus.test', '')).toBe('law.campus.test refused it (no reason given)');
  });
});
