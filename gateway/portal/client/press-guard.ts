/**
 * Keeps a drawn item that is being pressed from being redrawn until the press ends. A redraw between
 * press and release (a receipt, a name or a message arriving) would swap the button under the pointer
 * for a new one, and the browser would fire no click. A press counts for a second at most, so a
 * release outside the area cannot hold redraws back for good.
 */
export class PressGuard {
  #pressed: { item: Element; at: number } | null = null;
  #redraw: (() => void) | null = null;

  /** `items` selects the drawn items within `area`; releases anywhere in `releaseArea` end a press. */
  constructor(area: HTMLElement, items: string, releaseArea: HTMLElement = area) {
    area.addEventListener('pointerdown', (e) => {
      const item = (e.target as Element).closest(items);
      this.#pressed = item ? { item, at: Date.now() } : null;
    });
    const ended = () => {
      this.#pressed = null;
      const redraw = this.#redraw;
      this.#redraw = null;
      // After the click this press makes has been handled.
      if (redraw) setTimeout(redraw, 0);
    };
    releaseArea.addEventListener('pointerup', ended);
    releaseArea.addEventListener('pointercancel', ended);
  }

  /** Whether this drawn item is under a press; if so, `redraw` runs once the press ends. */
  holds(item: Element, redraw: () => void): boolean {
    if (!this.#pressed || this.#pressed.item !== item || Date.now() - this.#pressed.at > 1_000) return false;
    this.#redraw = redraw;
    return true;
  }
}
