import { dialogId, Modal } from './dialog.ts';
import { h, ICONS, iconButton } from './dom.ts';
import { sizeOf } from './format.ts';

export type ImageViewer = {
  /** Its sender deleted the file while it was shown: the picture and Download go, and `text` says so. */
  removed(text: string): void;
};

/**
 * A picture shared in chat, large, in a dialog over the conversation: its name and size, Download and
 * Close. Escape (or Close, or a phone's back gesture) closes it and focus goes back to the preview, or to
 * its message (`returnFocus`) when that was drawn anew meanwhile. `url` is the blob: URL the preview
 * shows, so nothing is fetched again.
 */
export function openImageViewer(
  parent: Element,
  attachment: { name: string; size: number },
  url: string,
  options: {
    download(): Promise<void>;
    /** Why a download failed, in the person's words. */
    failedWhy(error: unknown): string;
    returnFocus(): HTMLElement | null;
    onClose(): void;
  },
): ImageViewer {
  const titleId = dialogId('image-title');
  const modal = new Modal({ class: 'dialog image-viewer', 'aria-labelledby': titleId }, options.onClose);
  const notice = h('p', { class: 'dialog-notice', role: 'status' });
  const save = h(
    'button',
    {
      type: 'button',
      class: 'compact',
      onclick: () =>
        void options.download().catch((error: unknown) => {
          notice.textContent = `Could not download: ${options.failedWhy(error)}`;
        }),
    },
    'Download',
  );
  const close = iconButton('Close', ICONS.close, () => modal.close());
  const image = h('img', { class: 'viewer-image', src: url, alt: attachment.name });
  modal.element.append(
    h(
      'div',
      { class: 'dialog-head' },
      h(
        'div',
        { class: 'image-title' },
        h('h2', { id: titleId }, attachment.name),
        h('p', { class: 'muted small' }, sizeOf(attachment.size)),
      ),
      h('div', { class: 'image-buttons' }, save, close),
    ),
    notice,
    image,
  );
  modal.open(parent, close, options.returnFocus);
  return {
    removed(text) {
      if (!modal.isOpen) return;
      const hadFocus = document.activeElement === save;
      save.remove();
      image.remove();
      notice.textContent = text;
      if (hadFocus) close.focus();
    },
  };
}
