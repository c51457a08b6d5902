import { type Attrs, h } from './dom.ts';

let dialogs = 0;

/** An id no other dialog of the page uses. */
export const dialogId = (name: string) => `${name}-${++dialogs}`;

/**
 * A modal dialog on the browser's own <dialog>: it keeps the keyboard inside and the rest of the page
 * inert. Escape closes the innermost dialog only: the page's own Escape (back to the list) must not see
 * it. Focus goes back where it was when the dialog opened.
 */
export class Modal {
  readonly element: HTMLDialogElement;
  #returnTo: HTMLElement | null = null;
  #returnElsewhere: (() => HTMLElement | null) | undefined;
  #onClose: () => void;

  constructor(attrs: Attrs, onClose: () => void = () => undefined) {
    this.element = h('dialog', attrs);
    this.#onClose = onClose;
    this.element.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      event.preventDefault();
      event.stopPropagation();
      this.close();
    });
    // Another close request (a phone's back gesture): closed this way too, so that focus goes back.
    this.element.addEventListener('cancel', (event) => {
      event.preventDefault();
      this.close();
    });
  }

  get isOpen(): boolean {
    return this.element.open;
  }

  /**
   * Shows the dialog inside `parent` (so it goes when `parent` does) and focuses `focus`. `returnElsewhere`:
   * where focus goes back when what had it is gone by then (drawn anew meanwhile), rather than to the page.
   */
  open(parent: Element, focus: HTMLElement, returnElsewhere?: () => HTMLElement | null): void {
    this.#returnTo = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    this.#returnElsewhere = returnElsewhere;
    parent.append(this.element);
    this.element.showModal();
    focus.focus();
  }

  close(): void {
    if (!this.element.open) return;
    this.element.close();
    this.element.remove();
    this.#onClose();
    if (this.#returnTo?.isConnected) this.#returnTo.focus();
    else this.#returnElsewhere?.()?.focus();
  }
}

/**
 * Asks before something that cannot be taken back. Resolves true only when the person confirms; Cancel,
 * Escape, or closing otherwise is a no. Cancel has the focus, so Enter pressed by habit does nothing harmful.
 */
export function confirmDialog(
  parent: Element,
  text: { title: string; body: string; confirm: string },
): Promise<boolean> {
  return new Promise((resolve) => {
    let confirmed = false;
    const titleId = dialogId('confirm-title');
    const bodyId = dialogId('confirm-body');
    const modal = new Modal(
      { class: 'dialog confirm', role: 'alertdialog', 'aria-labelledby': titleId, 'aria-describedby': bodyId },
      () => resolve(confirmed),
    );
    const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => modal.close() }, 'Cancel');
    const confirm = h(
      'button',
      {
        type: 'button',
        class: 'danger',
        onclick: () => {
          confirmed = true;
          modal.close();
        },
      },
      text.confirm,
    );
    modal.element.append(
      h('h2', { id: titleId }, text.title),
      h('p', { id: bodyId }, text.body),
      h('div', { class: 'dialog-buttons' }, cancel, confirm),
    );
    modal.open(parent, cancel);
  });
}
