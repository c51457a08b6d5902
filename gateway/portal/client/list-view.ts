import type { Message } from '../../../sdk/client.ts';
import { byWebhook, mentionsOf, type Chat, type Entry } from './chat.ts';
import { h } from './dom.ts';
import { PressGuard } from './press-guard.ts';
import { fullTimeOf, hueClass, initials, systemText, timeOf } from './format.ts';
import { markUnreadElsewhere } from './unread-elsewhere.ts';

/** "online", "away", "last seen 10:42", or nothing when it is not known (apps; a college the policy keeps apart). */
export function presenceLabel(chat: Chat, entry: Entry, address: string): string {
  const presence = chat.presenceOf(entry, address);
  if (!presence) return '';
  if (presence.status === 'offline') return presence.lastSeen ? `last seen ${timeOf(presence.lastSeen)}` : 'offline';
  return presence.status;
}

/** The words beside the name of someone whose account is disabled (list, heading, group members). */
export const DISABLED_TAG = 'account disabled';

/** The small tag saying so; what it says is also in the name read out where the element has one. */
export function disabledTag(): HTMLElement {
  return h('span', { class: 'disabled-tag' }, DISABLED_TAG);
}

function preview(chat: Chat, entry: Entry, message: Message | undefined): string {
  if (!message) return entry.conv.kind === 'group' ? 'No messages yet' : 'Say hello';
  if (message.kind === 'system') return systemText(message as never, (a) => chat.nameIn(entry, a));
  const first = chat.senderOf(entry, message).split(' ')[0];
  // A webhook said as one: whoever made it chose its name, perhaps a person's or an app's.
  const who = message.sender === entry.me ? 'You' : byWebhook(message) ? `${first} (webhook)` : first;
  if (message.recalledAt) return `${who} recalled a message`;
  const what =
    message.kind === 'card'
      ? `[${String((message.card as { title?: unknown } | undefined)?.title ?? 'card')}]`
      : message.text || (message.attachments?.length ? `📎 ${message.attachments[0]!.name}` : '');
  return entry.conv.kind === 'group' || message.sender === entry.me ? `${who}: ${what}` : what;
}

/** The characters of a last message a screen reader reads out in the list, as the eye reads its first line. */
const SPOKEN_PREVIEW = 140;

/** A long last message's start, cut at a word and marked cut: the list's label, not the message, is read out. */
function spokenPreview(text: string): string {
  const characters = [...text];
  if (characters.length <= SPOKEN_PREVIEW) return text;
  const start = characters.slice(0, SPOKEN_PREVIEW).join('');
  return `${start.replace(/\s+\S*$/u, '') || start}…`;
}

/**
 * Whether a message the person has not read yet mentions them, as the node counts them among all the
 * unread (the page holds only the latest page of a conversation after a long absence). Of a node that
 * does not count them, among the messages the page holds. Their own, and recalled ones, do not count.
 */
function mentionedUnread(entry: Entry): boolean {
  if (entry.conv.unread === 0) return false;
  if (entry.conv.unreadMentions !== undefined) return entry.conv.unreadMentions > 0;
  return entry.messages.some(
    (m) => m.seq > entry.conv.readSeq && m.sender !== entry.me && !m.recalledAt && mentionsOf(m, entry.me),
  );
}

type Drawn = { el: HTMLLIElement; sig: string };

/** Per list element: its drawn items by conversation key, and the guard of the item being pressed. */
const drawnIn = new WeakMap<HTMLElement, { items: Map<string, Drawn>; presses: PressGuard }>();

/**
 * Why the person chats nowhere: their college's chat was removed from the campus (the gateway says which),
 * or none was set up for them yet.
 */
function noChatText(chat: Chat): string {
  const removed = chat.me.chatRemoved;
  if (removed)
    return `${removed.title}'s chat was removed from the campus by the campus administrators, so your conversations there cannot be shown. Ask your IT help desk whether and when it comes back; this page finds it again by itself. Your apps are under “Apps”.`;
  return 'Chat is not set up for your account yet. Your apps are under “Apps”.';
}

/** Why the list is empty: nothing yet, chat not set up, still loading, or what cannot be reached. */
function emptyListText(chat: Chat): string {
  // Signed out: chat is closed, not waiting for anything (the dialog over the page says why).
  if (chat.ended) return 'You are signed out.';
  if (chat.clients.size === 0) return noChatText(chat);
  const connection = chat.connection();
  switch (connection.state) {
    case 'online':
      return 'No conversations yet. Start one with “New chat” (+ at the top).';
    case 'connecting':
      return 'Loading…';
    case 'offline':
      return connection.networkOffline
        ? 'Your conversations appear when you are back online.'
        : 'Your conversations appear as soon as chat can be reached again.';
    case 'partial': {
      // Some colleges answered and have none; what the others hold shows once they answer (the banner says
      // which cannot be reached). A college still on its first try is loading yet.
      if ([...chat.clients.values()].some((c) => c.state === 'connecting' && c.failedAttempts === 0)) return 'Loading…';
      const away = connection.offlineDomains.map((d) => chat.domainTitle(d)).join(', ');
      return `No conversations yet. Any at ${away} appear as soon as chat there can be reached again.`;
    }
  }
}

/** The conversation list across every domain of the person's: newest first, unread counts, presence. */
export function renderList(chat: Chat, list: HTMLElement, open: (entry: Entry) => void): void {
  // What the list counts shows where the list is not in view too: on a phone, on the ways back to it.
  markUnreadElsewhere(chat, document);
  let state = drawnIn.get(list);
  if (!state) drawnIn.set(list, (state = { items: new Map(), presses: new PressGuard(list, 'li') }));
  const { items: drawn, presses } = state;
  const focusedKey = (document.activeElement as HTMLElement | null)?.dataset?.key;
  const entries = chat.sorted();
  const tags = chat.domains.size > 1 ? collegeTags(chat) : null;
  if (chat.clients.size === 0 || entries.length === 0) {
    drawn.clear();
    list.replaceChildren(h('li', { class: 'empty muted' }, emptyListText(chat)));
    return;
  }
  const wanted: HTMLLIElement[] = [];
  const keep = new Set<string>();
  for (const entry of entries) {
    keep.add(entry.key);
    const old = drawn.get(entry.key);
    try {
      const item = describeItem(chat, entry, tags);
      if (old && (old.sig === item.sig || presses.holds(old.el, () => renderList(chat, list, open)))) {
        wanted.push(old.el);
        continue;
      }
      const el = drawItem(chat, entry, item, open);
      drawn.set(entry.key, { el, sig: item.sig });
      wanted.push(el);
    } catch (error) {
      // One conversation the page cannot draw stays as it was drawn last (if ever); the others still draw.
      console.error(`Could not draw the conversation ${entry.key} in the list:`, error);
      if (old) wanted.push(old.el);
    }
  }
  for (const key of [...drawn.keys()]) if (!keep.has(key)) drawn.delete(key);
  const wantedSet = new Set<Element>(wanted);
  for (const child of [...list.children]) if (!wantedSet.has(child)) child.remove();
  wanted.forEach((el, i) => {
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] ?? null);
  });
  if (focusedKey && !list.contains(document.activeElement))
    list.querySelector<HTMLElement>(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
}

type Item = {
  title: string;
  text: string;
  peer: string | undefined;
  presence: ReturnType<Chat['presenceOf']>;
  unread: number;
  mentioned: boolean;
  label: string;
  /** The college it is at, shown beside its title to someone of several colleges. */
  college: { tag: string; title: string } | null;
  /** A direct chat with someone whose account is disabled: tagged so beside their name. */
  disabled: boolean;
  last: Message | undefined;
  sig: string;
};

/** Words many colleges' titles begin with: the list's tags leave them out ("Arts" for College of Arts). */
const TITLE_HEAD = /^(?:college|school|faculty|department|institute|division) of (?:the )?/i;

/**
 * The person's colleges as the list tags their conversations: short where they still read apart, in
 * full otherwise (and where a title has no such head); the item's name says the title whole.
 */
function collegeTags(chat: Chat): Map<string, string> {
  const titles = [...chat.domains.keys()].map((d) => [d, chat.domainTitle(d)] as const);
  const short = titles.map(([d, title]) => [d, title.replace(TITLE_HEAD, '') || title] as const);
  const count = new Map<string, number>();
  for (const [, tag] of short) count.set(tag.toLowerCase(), (count.get(tag.toLowerCase()) ?? 0) + 1);
  return new Map(short.map(([d, tag], i) => [d, count.get(tag.toLowerCase())! > 1 ? titles[i]![1] : tag]));
}

/** What one item shows; `sig` changes exactly when its drawing would. */
function describeItem(chat: Chat, entry: Entry, tags: Map<string, string> | null): Item {
  const title = chat.title(entry);
  const college = tags ? { tag: tags.get(entry.domain) ?? entry.domain, title: chat.domainTitle(entry.domain) } : null;
  const last = entry.messages.at(-1);
  const text = preview(chat, entry, last);
  const peer = chat.peerOf(entry);
  const presence = peer ? chat.presenceOf(entry, peer) : undefined;
  const disabled = peer !== undefined && chat.isDisabled(peer);
  const unread = entry.conv.unread;
  const mentioned = mentionedUnread(entry);
  const label = [
    title,
    disabled ? DISABLED_TAG : null,
    entry.conv.kind === 'group' ? 'group' : null,
    college ? `at ${college.title}` : null,
    presence ? presenceLabel(chat, entry, peer!) : null,
    unread > 0 ? `${unread} unread` : null,
    mentioned ? 'mentions you' : null,
    spokenPreview(text),
  ]
    .filter(Boolean)
    .join(', ');
  const sig = [
    label,
    presence?.status ?? '',
    last ? timeOf(last.createdAt) : '',
    chat.openKey === entry.key,
    college?.tag ?? '',
  ].join('\u0000');
  return { title, text, peer, presence, unread, mentioned, label, college, disabled, last, sig };
}

function drawItem(chat: Chat, entry: Entry, item: Item, open: (entry: Entry) => void): HTMLLIElement {
  const { title, text, peer, presence, unread, mentioned, label, college, disabled, last } = item;
  const key = entry.key;
  const dot = presence ? h('span', { class: `presence presence-${presence.status}`, 'aria-hidden': 'true' }) : null;
  return h(
    'li',
    {},
    h(
      'button',
      {
        type: 'button',
        class: `conversation-item${unread > 0 ? ' unread' : ''}`,
        'data-key': key,
        'aria-current': chat.openKey === key ? 'true' : null,
        'aria-label': label,
        // The entry as it is when clicked (a conversation left and joined again is a new entry).
        onclick: () => {
          const current = chat.entries.get(key);
          if (current) open(current);
        },
      },
      h(
        'span',
        { class: `avatar ${entry.conv.kind === 'group' ? 'group' : hueClass(peer ?? key)}`, 'aria-hidden': 'true' },
        entry.conv.kind === 'group' ? '#' : initials(title),
        dot,
      ),
      h(
        'span',
        { class: 'item-body' },
        h(
          'span',
          { class: 'item-title' },
          h('span', { class: 'item-name' }, title),
          disabled ? disabledTag() : null,
          college ? h('span', { class: 'domain-tag', title: college.title }, college.tag) : null,
        ),
        h('span', { class: 'item-preview' }, text),
      ),
      h(
        'span',
        { class: 'item-side' },
        last
          ? h('time', { datetime: last.createdAt, title: fullTimeOf(last.createdAt) }, timeOf(last.createdAt))
          : null,
        h(
          'span',
          { class: 'item-marks' },
          mentioned ? h('span', { class: 'mention-mark', 'aria-hidden': 'true' }, '@you') : null,
          unread > 0
            ? h('span', { class: 'badge', 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread))
            : null,
        ),
      ),
    ),
  ) as HTMLLIElement;
}
