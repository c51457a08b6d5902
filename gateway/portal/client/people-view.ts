import { HttpError } from './api.ts';
import { searchTextLongEnough } from '../../../protocol/search-query.ts';
import type { Chat, Entry } from './chat.ts';
import { h, ICONS, iconButton } from './dom.ts';
import type { Person } from './nodes.ts';
import type { ViewHost } from './conversation-view.ts';
import { clearOnEscape } from './search-view.ts';

type PeopleHost = ViewHost & { opened(entry: Entry): void };

const HINT =
  'Type at least two letters of a name, a username, a department or an app (one is enough in Chinese, Japanese or Korean).';

/**
 * The addresses of apps' bots that searches found in this tab: a group's members are listed by address
 * alone, and an app's bot, which cannot own or run a group (the node refuses it), is offered neither.
 */
const appsFound = new Set<string>();

/** Whether a search in this tab found this address as an app's bot. */
export function foundAsApp(address: string): boolean {
  return appsFound.has(address);
}

/** How someone found is named on buttons and chips: an app as one ("Room Bookings (app)"). */
function calledOn(p: Person): string {
  return p.app ? `${p.name} (app)` : p.name;
}

/** Whom a choice is of: a person by username, an app's bot by address (it is another one at each node). */
function chosenKey(p: Person): string {
  return p.app ? p.address : p.username;
}

/**
 * Starting a conversation: search the campus directory (people of every college this person's domains
 * may talk to, and the bots of apps at this person's own nodes), then message one, or pick several and
 * name a group. An app's bot is at each node by its own address and posts only in groups its node hosts:
 * a group with one is hosted by that node (chat.ts: createGroup asks where every member is reachable from).
 */
export function peopleView(chat: Chat, host: PeopleHost): HTMLElement {
  const picker = peoplePicker(chat, {
    id: 'people',
    chipsLabel: 'Group members',
    unchoose: (p) => `Remove ${p.name} from the group`,
    message: (p) => startDirect(chat, host, p),
  });
  const group = groupForm(chat, host, picker);
  picker.changed = group.drawButton;

  return h(
    'section',
    { class: 'panel people-panel', 'aria-labelledby': 'people-heading' },
    h(
      'header',
      { class: 'panel-head' },
      iconButton('Back to conversations', ICONS.back, () => host.back(), { class: 'icon-button back' }),
      h('h2', { id: 'people-heading' }, 'New chat'),
    ),
    h(
      'label',
      { for: 'people-query' },
      'Find people by name or department, in any college you may talk to, or an app by its name',
    ),
    picker.search,
    picker.status,
    picker.results,
    group.form,
  );
}

export type PickerOptions = {
  /** The start of its elements' ids: `<id>-query` is the search box. */
  id: string;
  /** What the list of chosen people is called. */
  chipsLabel: string;
  /** The name of the button on a chosen person's chip that unchooses them (it shows an icon only). */
  unchoose: (p: Person) => string;
  /** Why someone found cannot be chosen here (already a member, say), shown instead of the button; or null. */
  unavailable?: (p: Person) => string | null;
  /** Given, each person found has a "Message" button too. */
  message?: (p: Person) => void;
};

/** The directory search and the people chosen from it, which a view lays out as it likes. */
export type PeoplePicker = {
  search: HTMLInputElement;
  status: HTMLElement;
  results: HTMLUListElement;
  /** The chosen people as chips that unchoose them. */
  chips: HTMLUListElement;
  chosen: Map<string, Person>;
  /** Called whenever the chosen people change. */
  changed: () => void;
  /** Chooses nobody and empties the search. */
  clear(): void;
  /** Draws the results again (what `unavailable` says may have changed). */
  redraw(): void;
};

/** Search as you type, each person found with a button to choose them (and to message them, if asked). */
export function peoplePicker(chat: Chat, options: PickerOptions): PeoplePicker {
  const chosen = new Map<string, Person>();
  const results = h('ul', { class: 'people', 'aria-label': 'People found' });
  const status = h('p', { class: 'muted', role: 'status', id: `${options.id}-status` }, HINT);
  const search = h('input', {
    type: 'search',
    id: `${options.id}-query`,
    autocomplete: 'off',
    placeholder: 'Name, username, department or app',
    'aria-describedby': `${options.id}-status`,
  });
  clearOnEscape(search);
  const chips = h('ul', { class: 'chips', 'aria-label': options.chipsLabel });
  let lastFound: Person[] = [];
  const toggle = (p: Person) => {
    const key = chosenKey(p);
    if (chosen.has(key)) chosen.delete(key);
    else chosen.set(key, p);
    redraw();
  };
  const drawResults = (people: Person[]) => {
    lastFound = people;
    results.replaceChildren(
      ...people.map((p) =>
        personRow(p, chosen.has(chosenKey(p)), (path) => chat.unitLabel(path), {
          message: options.message && (() => options.message!(p)),
          toggle: () => toggle(p),
          unavailable: options.unavailable?.(p) ?? null,
        }),
      ),
    );
  };
  const drawChips = () =>
    chips.replaceChildren(
      ...[...chosen.values()].map((p) =>
        h(
          'li',
          { class: 'chip' },
          calledOn(p),
          iconButton(options.unchoose(p), ICONS.close, () => toggle(p)),
        ),
      ),
    );
  const redraw = () => {
    drawChips();
    drawResults(lastFound);
    picker.changed();
  };
  searchAsYouType(chat, search, status, drawResults);
  const picker: PeoplePicker = {
    search,
    status,
    results,
    chips,
    chosen,
    changed: () => undefined,
    clear() {
      chosen.clear();
      search.value = '';
      status.textContent = HINT;
      lastFound = [];
      redraw();
    },
    redraw,
  };
  return picker;
}

/**
 * One person found: their name, address and units (by name; their paths in the tooltip), a button to
 * message them (if asked) and one to choose them; or, when they cannot be chosen here, why. An app's bot
 * shows as an app ("Room Bookings · app"), its address after.
 */
function personRow(
  p: Person,
  inGroup: boolean,
  unitLabel: (path: string) => string,
  act: { message: (() => void) | undefined; toggle(): void; unavailable: string | null },
): HTMLElement {
  // Named by the words it shows first (WCAG 2.5.3), then whom they are about; pressed once chosen.
  const shows = inGroup ? 'Chosen' : 'Add to group';
  const called = calledOn(p);
  return h(
    'li',
    { class: p.app ? 'person app' : 'person' },
    h(
      'span',
      { class: 'person-name' },
      h('strong', {}, p.name),
      p.app ? h('span', { class: 'small' }, ' · app') : null,
      h('span', { class: 'muted' }, ` ${p.address}`),
      p.units.length
        ? h(
            'span',
            { class: 'muted small person-units', title: p.units.join(', ') },
            // A unit's label has a comma of its own ("Department of Music, College of Arts").
            ` · ${p.units.map(unitLabel).join('; ')}`,
          )
        : null,
    ),
    h(
      'span',
      { class: 'person-actions' },
      act.message
        ? h(
            'button',
            { type: 'button', class: 'compact', 'aria-label': `Message ${called}`, onclick: act.message },
            'Message',
          )
        : null,
      act.unavailable !== null
        ? h('span', { class: 'muted small' }, act.unavailable)
        : h(
            'button',
            {
              type: 'button',
              class: 'compact secondary',
              'aria-pressed': String(inGroup),
              'aria-label': `${shows}: ${called}`,
              onclick: act.toggle,
            },
            shows,
            inGroup ? h('span', { 'aria-hidden': 'true' }, ' ✓') : null,
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
      let refused = '';
      const people = await chat.people(query).catch((error: unknown) => {
        // Searched too often: the node's words, not "nobody found" for a search it did not make.
        if (error instanceof HttpError && error.code === 'rate_limited') refused = error.message;
        return [] as Person[];
      });
      if (mine !== generation) return;
      // The person searching is found too (by their own name): neither shown nor counted.
      const own = new Set(chat.me.domains.map((d) => d.address));
      const others = people.filter((p) => !p.addresses.some((a) => own.has(a)));
      for (const p of others) if (p.app) appsFound.add(p.address);
      show(others);
      status.textContent = refused || (others.length === 0 ? 'Nobody found.' : `${others.length} found.`);
    }, 200);
  });
}

/** The new group's name, its chosen members (the picker's chips) and the button that creates it. */
function groupForm(chat: Chat, host: PeopleHost, picker: PeoplePicker) {
  const title = h('input', { type: 'text', id: 'group-title', maxlength: 200, placeholder: 'e.g. Robotics club' });
  const create = h('button', { type: 'submit', disabled: true }, 'Create group');
  const drawButton = () => {
    create.disabled = picker.chosen.size === 0;
  };

  const form = h(
    'form',
    { class: 'group-form', 'aria-labelledby': 'group-heading' },
    h('h3', { id: 'group-heading' }, 'New group'),
    h('label', { for: 'group-title' }, 'Group name'),
    title,
    picker.chips,
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
      host.opened(await chat.createGroup(name, [...picker.chosen.values()]));
    } catch (error) {
      host.toast(`Could not create the group: ${(error as Error).message}`);
      create.disabled = false;
    }
  });
  return { form, drawButton };
}
