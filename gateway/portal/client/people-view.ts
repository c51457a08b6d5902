import { searchTextLongEnough } from '../../../protocol/search-query.ts';
import type { Chat, Entry } from './chat.ts';
import { h, ICONS, iconButton } from './dom.ts';
import type { Person } from './nodes.ts';
import type { ViewHost } from './conversation-view.ts';

type PeopleHost = ViewHost & { opened(entry: Entry): void };

const HINT = 'Type at least two letters of a name or username (one is enough in Chinese, Japanese or Korean).';

/**
 * Starting a conversation: search the campus directory (people of every college this person's domains
 * may talk to), then message one person, or pick several and name a group.
 */
export function peopleView(chat: Chat, host: PeopleHost): HTMLElement {
  const chosen = new Map<string, Person>();
  const results = h('ul', { class: 'people', 'aria-label': 'People found' });
  const status = h('p', { class: 'muted', role: 'status' }, HINT);
  const search = h('input', {
    type: 'search',
    id: 'people-query',
    autocomplete: 'off',
    placeholder: 'Name or username',
    'aria-describedby': 'people-status',
  });
  status.id = 'people-status';

  let lastFound: Person[] = [];
  const redraw = () => {
    group.drawChips();
    drawResults(lastFound);
  };
  const group = groupForm(chat, host, chosen, redraw);
  const drawResults = (people: Person[]) => {
    lastFound = people;
    const mine = new Set(chat.me.domains.map((d) => d.address));
    results.replaceChildren(
      ...people
        .filter((p) => !p.addresses.some((a) => mine.has(a)))
        .map((p) =>
          personRow(p, chosen.has(p.username), {
            message: () => startDirect(chat, host, p),
            toggle: () => {
              if (chosen.has(p.username)) chosen.delete(p.username);
              else chosen.set(p.username, p);
              redraw();
            },
          }),
        ),
    );
  };
  searchAsYouType(chat, search, status, drawResults);

  return h(
    'section',
    { class: 'panel people-panel', 'aria-labelledby': 'people-heading' },
    h(
      'header',
      { class: 'panel-head' },
      iconButton('Back to conversations', ICONS.back, () => host.back(), { class: 'icon-button back' }),
      h('h2', { id: 'people-heading' }, 'New chat'),
    ),
    h('label', { for: 'people-query' }, 'Find people in any college you may talk to'),
    search,
    status,
    results,
    group.form,
  );
}

/** One person found: their name, address and units, a button to message them and one to add them to the group. */
function personRow(p: Person, inGroup: boolean, act: { message(): void; toggle(): void }): HTMLElement {
  return h(
    'li',
    { class: 'person' },
    h(
      'span',
      { class: 'person-name' },
      h('strong', {}, p.name),
      h('span', { class: 'muted' }, ` ${p.address}`),
      p.units.length ? h('span', { class: 'muted small' }, ` · ${p.units.join(', ')}`) : null,
    ),
    h(
      'span',
      { class: 'person-actions' },
      h(
        'button',
        { type: 'button', class: 'compact', 'aria-label': `Message ${p.name}`, onclick: act.message },
        'Message',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'compact secondary',
          'aria-pressed': String(inGroup),
          'aria-label': `${inGroup ? 'Remove' : 'Add'} ${p.name} ${inGroup ? 'from' : 'to'} the group`,
          onclick: act.toggle,
        },
        inGroup ? 'In group ✓' : 'Add to group',
      ),
    ),
  );
}

async function startDirect(chat: Chat, host: PeopleHost, p: Person): Promise<void> {
  try {
    host.opened(await chat.startDirect(p));
  } catch (error) {
    host.toast(`Could not start a chat with ${p.name}: ${(error as Error).message}`);
  }
}

/** Searches 200 ms after the last keystroke; an answer that a newer search overtook is dropped. */
function searchAsYouType(
  chat: Chat,
  search: HTMLInputElement,
  status: HTMLElement,
  show: (people: Person[]) => void,
): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let generation = 0;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    const query = search.value.trim();
    if (!searchTextLongEnough(query)) {
      status.textContent = HINT;
      return show([]);
    }
    timer = setTimeout(async () => {
      const mine = ++generation;
      status.textContent = 'Searching…';
      const people = await chat.people(query).catch(() => [] as Person[]);
      if (mine !== generation) return;
      show(people);
      status.textContent = people.length === 0 ? 'Nobody found.' : `${people.length} found.`;
    }, 200);
  });
}

/** The new group's name and chosen members (as chips that remove them); `changed` redraws after a removal. */
function groupForm(chat: Chat, host: PeopleHost, chosen: Map<string, Person>, changed: () => void) {
  const title = h('input', { type: 'text', id: 'group-title', maxlength: 200, placeholder: 'e.g. Robotics club' });
  const chips = h('ul', { class: 'chips', 'aria-label': 'Group members' });
  const create = h('button', { type: 'submit', disabled: true }, 'Create group');
  const drawChips = () => {
    chips.replaceChildren(
      ...[...chosen.values()].map((p) =>
        h(
          'li',
          { class: 'chip' },
          p.name,
          iconButton(`Remove ${p.name}`, ICONS.close, () => {
            chosen.delete(p.username);
            changed();
          }),
        ),
      ),
    );
    create.disabled = chosen.size === 0;
  };

  const form = h(
    'form',
    { class: 'group-form', 'aria-labelledby': 'group-heading' },
    h('h3', { id: 'group-heading' }, 'New group'),
    h('label', { for: 'group-title' }, 'Group name'),
    title,
    chips,
    create,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = title.value.trim();
    if (!name) {
      title.focus();
      return host.toast('Give the group a name.');
    }
    create.disabled = true;
    try {
      host.opened(await chat.createGroup(name, [...chosen.values()]));
    } catch (error) {
      host.toast(`Could not create the group: ${(error as Error).message}`);
      create.disabled = false;
    }
  });
  return { form, drawChips };
}
