import { describe, expect, it } from 'vitest';
import { cardClickFailure } from '../../gateway/portal/client/format.ts';

describe('why a card click failed, in the toast', () => {
  it('says an outage of the sign-in service as an outage, not as the app refusing', () => {
    const said = cardClickFailure({
      code: 'gateway_unavailable',
      message: 'The identity gateway cannot be reached to look up this app',
    });
    expect(said).toBe('Could not reach the campus sign-in service to check this click; try again in a moment.');
    expect(said).not.toContain('The app did not take that');
  });

  it('says an outage on the way to the app as one, and whether the app may have acted', () => {
    expect(
      cardClickFailure({ code: 'federation_unavailable', message: 'law.campus.test cannot take the click now' }),
    ).toBe('Could not reach the college that hosts this conversation to pass on this click; try again in a moment.');
    expect(cardClickFailure({ code: 'offline', message: 'Not connected' })).toBe(
      'You are offline, so this click was not sent; try again once you are back online.',
    );
    for (const code of ['disconnected', 'timeout'])
      expect(cardClickFailure({ code, message: 'x' })).toContain('the app may or may not have acted on this click');
  });

  it('shows why the node did not ask the app as the node words it, and the app’s own failure as the app’s', () => {
    const off = 'Room Bookings has been turned off by your campus administrators; nothing was sent to it.';
    expect(cardClickFailure({ code: 'app_unavailable', message: off })).toBe(off);
    expect(
      cardClickFailure({
        code: 'callback_failed',
        message: 'Room Bookings did not answer within 10 s; it may or may not have acted on this click',
      }),
    ).toBe(
      'The app did not take that: Room Bookings did not answer within 10 s; it may or may not have acted on this click',
    );
  });
});
