import { searchTextLongEnough } from '../../../protocol/search-query.ts';
import type { Message } from '../../../sdk/client.ts';
import type { Chat, Entry, SearchOutcome } from './chat.ts';
import { h, ICONS, iconButton } from './dom.ts';
import { fullTimeOf, markMatches, whenOf } from './format.ts';
import type { ViewHost } from './conversation-view.ts';

type Found = SearchOutcome['found'];

/**
 * The page's last search, kept while the page lives: opening a result leaves the search page (a route of
 * its own), and Back, or Search again, should find the words and what they found where they were, not an
 * empty box. `opened` is the result last opened, which gets the focus back.
 */
type LastSearch = SearchOutcome & { query: string; scrollTop: number; opened: string | null };
const lastSearch = new WeakMap<Chat, LastSearch>();

/**
 * "3 messages found.", or that none matches; and, for each domain that could not be searched, which and
 * why ("Engineering was not searched: At most 30 searches a minute. …"), so words that could not be looked
 * for never read as found nowhere.
 */
function countOf(chat: Chat, query: string, { found, unsearched }: SearchOutcome): string {
  const notSearched = unsearched.map(({ domain, reason }) => `${chat.domainTitle(domain)} was not searched: ${reason}`);
  if (found.length === 0 && notSearched.length > 0 && notSearched.length === chat.clients.size)
    return notSearched.join(' ');
  const count =
    found.length === 0
      ? `Nothing matches “${query}”.`
      : `${found.length} message${found.length === 1 ? '' : 's'} found.`;
  return [count, ...notSearched].join(' ');
}

/**
 * Escape in a search box empties it first, as search boxes do; only in an empty box does it reach the page
 * (which leaves the view). An `input` event tells the box's listeners.
 */
export function clearOnEscape(input: HTMLInputElement): void {
  input.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !input.value) return;
    event.preventDefault();
    event.stopPropagation();
    input.value = '';
    input.dispatchEvent(new Event('input'));
  });
}

/** A result: its conversation, sender and time, and its text with the words found marked. */
function resultOf(chat: Chat, query: string, { entry, message }: Found[number], open: () => void): HTMLElement {
  return h(
    'li',
    {},
    h(
      'button',
      { type: 'button', class: 'search-result', 'data-message': message.id, disabled: !entry, onclick: open },
      h(
        'span',
        { class: 'result-head' },
        h('strong', { class: 'result-conversation' }, entry ? chat.title(entry) : 'A conversation'),
        ' · ',
        h(
          'span',
          { class: 'result-sender' },
          chat.me.domains.some((d) => d.address === message.sender) ? 'You' : chat.senderOf(entry, message),
        ),
        ' · ',
        h('time', { datetime: message.createdAt, title: fullTimeOf(message.createdAt) }, whenOf(message.createdAt)),
      ),
      // Plain text with the words found marked: a link or a mention drawn as one would be a control
      // inside this button.
      h('span', { class: 'result-text' }, markMatches(message.text ?? '', query)),
    ),
  );
}

/**
 * Search across every conversation on every domain of the person's. A result names its conversation, its
 * sender and when, marks the words found, and opens its conversation scrolled to the message. Shown again,
 * the page has the last search as it was left (lastSearch).
 */
export function searchView(chat: Chat, host: ViewHost & { reveal(entry: Entry, message: Message): void }): HTMLElement {
  const input = h('input', {
    type: 'search',
    id: 'search-query',
    autocomplete: 'off',
    placeholder: 'Words in messages',
    minlength: 2,
  });
  clearOnEscape(input);
  const status = h('p', { class: 'muted', role: 'status', id: 'search-status' });
  const results = h('ul', { class: 'search-results', 'aria-label': 'Messages found' });
  const form = h(
    'form',
    { class: 'search-form', role: 'search' },
    h('label', { for: 'search-query' }, 'Search messages'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Search')),
  );
  const section = h(
    'section',
    { class: 'panel search-panel', 'aria-labelledby': 'search-heading' },
    h(
      'header',
      { class: 'panel-head' },
      iconButton('Back to conversations', ICONS.back, () => host.back(), { class: 'icon-button back' }),
      h('h2', { id: 'search-heading' }, 'Search'),
    ),
    form,
    status,
    results,
  );
  const show = (kept: LastSearch) => {
    results.replaceChildren(
      ...kept.found.map((result) =>
        resultOf(chat, kept.query, result, () => {
          kept.opened = result.message.id;
          kept.scrollTop = section.scrollTop;
          if (result.entry) host.reveal(result.entry, result.message);
        }),
      ),
    );
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const query = input.value.trim();
    if (!searchTextLongEnough(query)) {
      status.textContent = 'Type at least two characters (one is enough in Chinese, Japanese or Korean).';
      return;
    }
    status.textContent = 'Searching…';
    const outcome = await chat.search(query);
    status.textContent = countOf(chat, query, outcome);
    const kept: LastSearch = { ...outcome, query, scrollTop: 0, opened: null };
    lastSearch.set(chat, kept);
    show(kept);
  });
  section.addEventListener('scroll', () => {
    const kept = lastSearch.get(chat);
    if (kept) kept.scrollTop = section.scrollTop;
  });

  const kept = lastSearch.get(chat);
  if (kept) {
    input.value = kept.query;
    status.textContent = countOf(chat, kept.query, kept);
    show(kept);
    // Once the page is on screen (the route focuses the box as it shows it): back where it was, with the
    // result last opened focused.
    queueMicrotask(() => {
      if (!section.isConnected) return;
      section.scrollTop = kept.scrollTop;
      const opened = kept.opened
        ? results.querySelector<HTMLElement>(`[data-message="${CSS.escape(kept.opened)}"]`)
        : null;
      opened?.focus({ preventScroll: true });
    });
  }
  return section;
}
