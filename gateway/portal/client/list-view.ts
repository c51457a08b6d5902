import type { Message } from '../../../im/sdk/client.ts';
import type { Chat, Entry } from './chat.ts';
import { h } from './dom.ts';
import { hueClass, initials, systemText, timeOf } from './format.ts';

/** "online", "away", "last seen 10:42", or nothing when it is not known (apps; a college the policy keeps apart). */
export function presenceLabel(chat: Chat, address: string): string {
  const presence = chat.presenceOf(address);
  if (!presence) return '';
  if (presence.status === 'offline') return presence.lastSeen ? `last seen ${timeOf(presence.lastSeen)}` : 'offline';
  return presence.status;
}

function preview(chat: Chat, entry: Entry, message: Message | undefined): string {
  if (!message) return entry.conv.kind === 'group' ? 'No messages yet' : 'Say hello';
  if (message.kind === 'system') return systemText(message as never, (a) => chat.displayName(a));
  const who = message.sender === entry.me ? 'You' : chat.displayName(message.sender).split(' ')[0];
  if (message.recalledAt) return `${who} recalled a message`;
  const what = message.kind === 'card' ? `[${String((message.card as { title?: unknown } | undefined)?.title ?? 'card')}]` : message.text || (message.attachments?.length ? `📎 ${message.attachments[0]!.name}` : '');
  return entry.conv.kind === 'group' || message.sender === entry.me ? `${who}: ${what}` : what;
}

/** The conversation list across every domain of the person's: newest first, unread counts, presence. */
export function renderList(chat: Chat, list: HTMLElement, open: (entry: Entry) => void): void {
  const focusedKey = (document.activeElement as HTMLElement | null)?.dataset?.key;
  const entries = chat.sorted();
  const manyDomains = chat.domains.size > 1;
  if (chat.clients.size === 0) {
    list.replaceChildren(h('li', { class: 'empty muted' }, 'Chat is not set up for your account yet. Your apps are under “Apps”.'));
    return;
  }
  if (entries.length === 0) {
    list.replaceChildren(h('li', { class: 'empty muted' }, chat.connection().state === 'online' ? 'No conversations yet. Start one with “New chat”.' : 'Loading…'));
    return;
  }
  list.replaceChildren(
    ...entries.map((entry) => {
      const title = chat.title(entry);
      const last = entry.messages.at(-1);
      const text = preview(chat, entry, last);
      const peer = chat.peerOf(entry);
      const presence = peer ? chat.presenceOf(peer) : undefined;
      const unread = entry.conv.unread;
      const dot = presence ? h('span', { class: `presence presence-${presence.status}`, 'aria-hidden': 'true' }) : null;
      const label = [title, entry.conv.kind === 'group' ? 'group' : null, presence ? presenceLabel(chat, peer!) : null, unread > 0 ? `${unread} unread` : null, text].filter(Boolean).join(', ');
      return h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            class: `conversation-item${unread > 0 ? ' unread' : ''}`,
            'data-key': entry.key,
            'aria-current': chat.openKey === entry.key ? 'true' : null,
            'aria-label': label,
            onclick: () => open(entry),
          },
          h('span', { class: `avatar ${entry.conv.kind === 'group' ? 'group' : hueClass(peer ?? entry.key)}`, 'aria-hidden': 'true' }, entry.conv.kind === 'group' ? '#' : initials(title), dot),
          h(
            'span',
            { class: 'item-body' },
            h('span', { class: 'item-title' }, title, manyDomains ? h('span', { class: 'domain-tag' }, entry.domain.split('.')[0]!) : null),
            h('span', { class: 'item-preview' }, text),
          ),
          h(
            'span',
            { class: 'item-side' },
            last ? h('time', { datetime: last.createdAt }, timeOf(last.createdAt)) : null,
            unread > 0 ? h('span', { class: 'badge', 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread)) : null,
          ),
        ),
      );
    }),
  );
  if (focusedKey) list.querySelector<HTMLElement>(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
}
