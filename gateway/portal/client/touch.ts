/**
 * Whether the person mostly uses a touchscreen (a phone or tablet): its main pointer is coarse.
 * Such a device has an on-screen keyboard, with no Shift+Enter, that covers half the screen when a
 * field takes focus; a laptop with a touchscreen still has a fine main pointer and a real keyboard.
 * Asked each time, since a tablet may gain or lose a keyboard and mouse while the page is open.
 */
export function isTouchFirst(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(pointer: coarse)').matches;
}
