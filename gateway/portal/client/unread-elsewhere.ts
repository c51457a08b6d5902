import type { Chat } from './chat.ts';
import { h } from './dom.ts';

/** The ways back to the list while a conversation fills a phone's screen: its back arrow, and Chats in the top bar. */
const WAYS_BACK = '.conversation .back, .nav-link.chats';

/** Unread messages in the person's conversations other than the one open (all of them with none open). */
export function unreadElsewhere(chat: Chat): number {
  let unread = 0;
  for (const entry of chat.entries.values()) if (entry.key !== chat.openKey) unread += entry.conv.unread;
  return unread;
}

/**
 * Counts on the ways back to the list the messages unread in other conversations: on a phone one
 * conversation fills the screen, and nothing else would show that another one has news. The count is in
 * their names too (the badge itself is hidden from screen readers); the stylesheet shows it on narrow
 * screens only, where the list is not in view.
 */
export function markUnreadElsewhere(chat: Chat, root: ParentNode): void {
  const unread = unreadElsewhere(chat);
  const words = `${unread} unread message${unread === 1 ? '' : 's'}${chat.openKey ? ' in other conversations' : ''}`;
  for (const way of root.querySelectorAll<HTMLElement>(WAYS_BACK)) {
    way.dataset.name ??= way.getAttribute('aria-label') ?? '';
    const name = unread > 0 ? `${way.dataset.name} (${words})` : way.dataset.name;
    if (way.getAttribute('aria-label') !== name) {
      way.setAttribute('aria-label', name);
      way.title = name;
    }
    let badge = way.querySelector<HTMLElement>('.unread-elsewhere');
    if (unread === 0) {
      badge?.remove();
      continue;
    }
    badge ??= way.appendChild(h('span', { class: 'badge unread-elsewhere', 'aria-hidden': 'true' }));
    badge.textContent = unread > 99 ? '99+' : String(unread);
  }
}
