import { searchTextLongEnough } from '../../../protocol/search-query.ts';
import type { Message } from '../../../sdk/client.ts';
import type { Chat, Entry } from './chat.ts';
import { h, ICONS, iconButton } from './dom.ts';
import { fullTimeOf, markMatches, whenOf } from './format.ts';
import type { ViewHost } from './conversation-view.ts';

/**
 * Search across every conversation on every domain of the person's. A result names its conversation, its
 * sender and when, marks the words found, and opens its conversation scrolled to the message.
 */
export function searchView(chat: Chat, host: ViewHost & { reveal(entry: Entry, message: Message): void }): HTMLElement {
  const input = h('input', {
    type: 'search',
    id: 'search-query',
    autocomplete: 'off',
    placeholder: 'Words in messages',
    minlength: 2,
  });
  const status = h('p', { class: 'muted', role: 'status', id: 'search-status' });
  const results = h('ul', { class: 'search-results', 'aria-label': 'Messages found' });
  const form = h(
    'form',
    { class: 'search-form', role: 'search' },
    h('label', { for: 'search-query' }, 'Search messages'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Search')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const query = input.value.trim();
    if (!searchTextLongEnough(query)) {
      status.textContent = 'Type at least two characters (one is enough in Chinese, Japanese or Korean).';
      return;
    }
    status.textContent = 'Searching…';
    const found = await chat.search(query);
    status.textContent =
      found.length === 0
        ? `Nothing matches “${query}”.`
        : `${found.length} message${found.length === 1 ? '' : 's'} found.`;
    results.replaceChildren(
      ...found.map(({ entry, message }) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'search-result',
              disabled: !entry,
              onclick: () => entry && host.reveal(entry, message),
            },
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
              h(
                'time',
                { datetime: message.createdAt, title: fullTimeOf(message.createdAt) },
                whenOf(message.createdAt),
              ),
            ),
            // Plain text with the words found marked: a link or a mention drawn as one would be a control
            // inside this button.
            h('span', { class: 'result-text' }, markMatches(message.text ?? '', query)),
          ),
        ),
      ),
    );
  });
  return h(
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
}
