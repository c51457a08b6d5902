import type { Message } from '../../../sdk/client.ts';
import { answerSignedOut, logout, signInAgain } from './api.ts';
import { forgetPerson, keepInTab, takeFromTab } from './kept.ts';
import { forgetWriting } from './kept-writing.ts';
import { keyOf, type Chat, type ChatEvents, type Entry } from './chat.ts';
import { accountMenu } from './account-menu.ts';
import { ConversationView, type ToastLink, type ViewHost } from './conversation-view.ts';
import { h, ICONS, icon, iconButton } from './dom.ts';
import { filesView } from './files-view.ts';
import { renderList } from './list-view.ts';
import { notificationBell, notifyOnIncoming } from './notifications.ts';
import { peopleView } from './people-view.ts';
import { searchView } from './search-view.ts';
import { isTouchFirst } from './touch.ts';
import { workbenchView } from './workbench-view.ts';

type Route =
  | { view: 'list' }
  | { view: 'conversation'; key: string }
  | { view: 'apps' }
  | { view: 'search' }
  | { view: 'files' }
  | { view: 'new' };

/**
 * Whether the hash names a view (`#/…`, or none: the list). Any other is a place in the page (the skip
 * link's `#pane`), which changes no view.
 */
const isRoute = (hash: string) => hash === '' || hash === '#' || hash.startsWith('#/');

function parseRoute(hash: string): Route {
  let parts: string[];
  try {
    parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  } catch {
    // A malformed escape (a link cut short or mangled on its way) names nothing: the list, as any unknown route.
    return { view: 'list' };
  }
  if (parts[0] === 'c' && parts[1] && parts[2]) return { view: 'conversation', key: keyOf(parts[1], parts[2]) };
  if (parts[0] === 'apps') return { view: 'apps' };
  if (parts[0] === 'search') return { view: 'search' };
  if (parts[0] === 'files') return { view: 'files' };
  if (parts[0] === 'new') return { view: 'new' };
  return { view: 'list' };
}

/**
 * Draws one part of the page. A part that fails (an entry of a shape it did not expect, say) is logged
 * and left as it was: the other parts still draw, and later changes are drawn again.
 */
function drawing(what: string, draw: () => void): void {
  try {
    draw();
  } catch (error) {
    console.error(`Could not draw ${what}:`, error);
  }
}

/** What the tab's title calls each view; a conversation by its own title once it is known (#drawTitle). */
const VIEW_TITLES: Record<Route['view'], string | null> = {
  list: 'Chats',
  conversation: null,
  apps: 'Apps',
  search: 'Search',
  files: 'Your files',
  new: 'New chat',
};

/**
 * How long a tab told by the portal that it is signed out waits for a node to say why, while its chat is
 * online: longer than the gateway gives itself to tell the nodes (TOLD_WITHIN_MS, 5 s) once a push is late.
 */
const NODES_WORD_MS = 6_000;

const hashOf = (entry: Entry) => `#/c/${encodeURIComponent(entry.domain)}/${encodeURIComponent(entry.conv.id)}`;

/**
 * The page: a top bar (connection, navigation, sign-out), the conversation list and a pane that shows a
 * conversation, the workbench, search or "new chat". Routes live in the URL hash, so the browser's back
 * button works; on a phone the list and the pane take turns on screen.
 */
export class PortalApp implements ViewHost {
  #chat: Chat;
  #root: HTMLElement;
  #list: HTMLUListElement;
  #pane: HTMLElement;
  #connection: HTMLElement;
  #banner: HTMLElement;
  #announcer: HTMLElement;
  #toasts: HTMLElement;
  #view: ConversationView | null = null;
  #route: Route = { view: 'list' };
  #frame = 0;
  #dirtyList = false;
  #dirtyView = false;
  /** Notices on screen by their words and link: the same one again shows longer, not twice. */
  #shownToasts = new Map<string, { item: HTMLElement; timer: ReturnType<typeof setTimeout> }>();
  /** What the page calls the place, as the server put it in the page: the campus's name, else "Atrium". */
  #name: string;
  /** Told by the portal that the tab is signed out, the page waits for its nodes to say why (#signedOut). */
  #awaitingEnd = false;

  constructor(root: HTMLElement, chat: Chat) {
    this.#chat = chat;
    this.#root = root;
    this.#name = root.dataset.name || 'Atrium';
    this.#list = h('ul', { class: 'conversation-list', id: 'conversations' });
    this.#pane = h('main', { class: 'pane', id: 'pane', tabindex: -1 });
    this.#connection = h('p', { class: 'connection', id: 'connection', role: 'status', 'data-state': 'connecting' });
    this.#banner = h('p', { class: 'offline-banner', hidden: true });
    this.#announcer = h('div', { class: 'visually-hidden', 'aria-live': 'polite', id: 'announcer' });
    this.#toasts = h('div', { class: 'toasts', 'aria-live': 'assertive', id: 'toasts' });
  }

  start(): void {
    const chat = this.#chat;
    const nav = (label: string, path: string, hash: string, extra = '') =>
      h(
        'a',
        { href: hash, class: `nav-link ${extra}`, 'aria-label': label, title: label, 'data-nav': hash },
        icon(path),
        h('span', { class: 'nav-text' }, label),
      );
    const bell = notificationBell((text) => this.toast(text));
    this.#root.replaceChildren(
      h(
        'header',
        { class: 'topbar' },
        // The top of the page's headings, for those who move by them; the brand shows the same word (not on a phone).
        h('h1', { class: 'visually-hidden' }, this.#name),
        h('span', { class: 'brand', 'aria-hidden': 'true' }, this.#name),
        this.#connection,
        h(
          'nav',
          { class: 'topnav', 'aria-label': 'Portal' },
          nav('Chats', ICONS.chat, '#/', 'chats'),
          nav('Apps', ICONS.apps, '#/apps'),
          nav('Search', ICONS.search, '#/search'),
          nav('New chat', ICONS.add, '#/new'),
        ),
        h(
          'div',
          { class: 'account' },
          bell,
          h('span', { class: 'who', title: chat.me.domains.map((d) => d.address).join(', ') }, chat.me.user.name),
          accountMenu(chat.me.user.name, chat.me.domains.map((d) => d.address).join(', ')),
          iconButton('Sign out', ICONS.logout, () => void this.#signOut(), { class: 'icon-button sign-out' }),
        ),
      ),
      this.#banner,
      h(
        'div',
        { class: 'layout' },
        h(
          'nav',
          { class: 'sidebar', 'aria-label': 'Conversations' },
          h('h2', { class: 'visually-hidden' }, 'Conversations'),
          this.#list,
        ),
        this.#pane,
      ),
      this.#announcer,
      this.#toasts,
    );
    this.#root.dataset.state = 'ready';

    chat.on('list', () => this.#schedule(true, false));
    chat.on('names', () => this.#schedule(true, true));
    chat.on('presence', () => this.#schedule(true, true));
    chat.on('entry', (entry) => {
      if (this.#view?.entry === entry) this.#schedule(false, true);
    });
    chat.on('connection', () => this.#drawConnection());
    chat.on('incoming', ({ entry, message }) => this.#announce(entry, message));
    chat.on('gone', (entry) => drawing('a conversation one is no longer in', () => this.#gone(entry)));
    chat.on('ended', (why) => this.#ended(why));
    answerSignedOut(() => this.#signedOut());
    chat.on('leftDomain', (left) => this.#leftDomain(left));
    chat.on('failure', (text) => console.warn(text));
    notifyOnIncoming(
      chat,
      (key) => {
        const entry = chat.entries.get(key);
        if (entry) this.opened(entry);
      },
      (text) => this.toast(text),
    );

    window.addEventListener('hashchange', () => {
      if (isRoute(window.location.hash)) this.#navigate();
    });
    // Past the top bar and the list to what the pane shows, without a trip through the address: the link's
    // own #pane would name no view.
    document.querySelector('a.skip')?.addEventListener('click', (event) => {
      event.preventDefault();
      this.#skipToPane();
    });
    window.addEventListener('online', () => chat.setNetwork(true));
    window.addEventListener('offline', () => chat.setNetwork(false));
    // Drafts and unsent messages are kept in the browser as they change (kept-writing.ts); which
    // conversation was open is kept for this tab's next page as the page goes (a phone may end a hidden
    // tab without a word). Another tab's changes follow here.
    window.addEventListener('pagehide', () => this.#keepOpen());
    window.addEventListener('storage', (event) => {
      const change = chat.writing.changeOf(event);
      if (change) chat.followWriting(change);
    });
    document.addEventListener('visibilitychange', () => {
      const visible = document.visibilityState === 'visible';
      if (!visible) this.#keepOpen();
      for (const client of chat.clients.values())
        if (client.state === 'online') client.setPresence(visible ? 'online' : 'away').catch(() => undefined);
      if (visible && this.#view) chat.markRead(this.#view.entry);
      this.#drawTitle();
    });
    this.#root.addEventListener('keydown', (event) => this.#onKey(event));
    this.#list.addEventListener('keydown', (event) => this.#listKeys(event));

    const { open, ...inTab } = takeFromTab(chat.me.user.id);
    chat.drafts.restore(chat.writing.drafts());
    // What this tab kept as the person signed out in another: theirs again, so kept in the browser again.
    chat.drafts.restore(inTab.drafts);
    for (const { key } of inTab.drafts) chat.drafts.changed(key);
    const unsent = chat.writing.unsent();
    const known = new Set(unsent.map((u) => u.clientMsgId));
    for (const u of inTab.unsent) if (!known.has(u.clientMsgId) && chat.writing.keepUnsent(u)) unsent.push(u);
    chat.restoreUnsent(unsent);
    // Back to the conversation that was open, unless the page was opened at another one.
    if (open && parseRoute(window.location.hash).view !== 'conversation') window.location.hash = open;
    chat.start();
    if (!navigator.onLine) chat.setNetwork(false);
    this.#drawConnection();
    this.#navigate();
    renderList(chat, this.#list, (entry) => this.opened(entry));
  }

  /** Back to the list (on a phone the list comes back on screen), with the conversation left focused there. */
  back(): void {
    const key = this.#view?.entry.key;
    if (window.location.hash !== '#/') window.location.hash = '#/';
    this.#navigate();
    renderList(this.#chat, this.#list, (entry) => this.opened(entry));
    const item = key ? this.#list.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`) : null;
    (item ?? this.#list.querySelector<HTMLElement>('.conversation-item'))?.focus();
  }

  /**
   * A short notice, for six seconds (twelve with a link, to leave time to follow it). With a conversation
   * on screen it shows just above its message box (the box and its Send button stay free), else at the
   * foot of the page. The same notice again (each of several uploads refused alike) shows once, for
   * longer; one that leads to the page on screen is not shown.
   */
  toast(text: string, link?: ToastLink): void {
    if (link?.href === window.location.hash) return;
    const key = JSON.stringify([text, link?.href, link?.text]);
    const shown = this.#shownToasts.get(key);
    if (shown) clearTimeout(shown.timer);
    const again = shown?.item.isConnected === true;
    const item = again
      ? shown.item
      : h('p', { class: 'toast' }, text, link ? [' ', h('a', { href: link.href }, link.text)] : null);
    if (!again) {
      const dock = this.#view?.toastDock;
      (dock?.isConnected ? dock : this.#toasts).append(item);
    }
    const gone = () => {
      item.remove();
      this.#shownToasts.delete(key);
    };
    this.#shownToasts.set(key, { item, timer: setTimeout(gone, link ? 12_000 : 6_000) });
  }

  /** Shows a conversation now (the hashchange that follows finds it shown already). */
  opened(entry: Entry): void {
    const hash = hashOf(entry);
    if (window.location.hash !== hash) window.location.hash = hash;
    this.#navigate();
  }

  reveal(entry: Entry, message: Message): void {
    this.opened(entry);
    if (this.#view?.entry === entry) void this.#view.reveal(message.id);
  }

  #schedule(list: boolean, view: boolean): void {
    this.#dirtyList ||= list;
    this.#dirtyView ||= view;
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      const list = this.#dirtyList;
      const view = this.#dirtyView;
      this.#dirtyList = this.#dirtyView = false;
      drawing('a conversation one is back in', () => {
        // Added again to a group whose ended view is on screen: it opens as it now is.
        if (this.#view?.ended && this.#chat.entries.has(this.#view.entry.key)) this.#navigate();
      });
      if (list)
        drawing('the conversation list', () => {
          renderList(this.#chat, this.#list, (entry) => this.opened(entry));
          this.#drawTitle();
        });
      if (view)
        drawing('the open conversation', () => {
          this.#view?.update();
          // A group renamed is called so in the tab's title too.
          this.#drawTitle();
        });
    });
  }

  #navigate(): void {
    const route = parseRoute(window.location.hash);
    this.#route = route;
    const chat = this.#chat;
    const shown = this.#view;
    document.body.dataset.view =
      route.view === 'list' ? 'list' : route.view === 'conversation' ? 'conversation' : 'panel';
    for (const link of this.#root.querySelectorAll<HTMLElement>('[data-nav]')) {
      const current =
        link.dataset.nav === (route.view === 'list' || route.view === 'conversation' ? '#/' : `#/${route.view}`);
      if (current) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    if (route.view !== 'conversation') {
      chat.openKey = null;
      this.#view = null;
    }
    switch (route.view) {
      case 'list':
        this.#pane.replaceChildren(
          h('div', { class: 'placeholder' }, h('p', {}, 'Choose a conversation, or start a new one.')),
        );
        break;
      case 'apps':
        this.#pane.replaceChildren(workbenchView(this));
        this.#pane.querySelector<HTMLElement>('h2')?.focus();
        break;
      case 'search':
        this.#pane.replaceChildren(searchView(chat, this));
        this.#pane.querySelector<HTMLElement>('input')?.focus();
        break;
      case 'files':
        this.#pane.replaceChildren(filesView(chat, this));
        this.#pane.querySelector<HTMLElement>('h2')?.focus();
        break;
      case 'new':
        this.#pane.replaceChildren(peopleView(chat, this));
        this.#pane.querySelector<HTMLElement>('input')?.focus();
        break;
      case 'conversation': {
        const entry = chat.entries.get(route.key);
        if (!entry) {
          // Not synced yet (a link opened at start): show it as soon as it arrives.
          this.#pane.replaceChildren(h('p', { class: 'placeholder', role: 'status' }, 'Opening the conversation…'));
          const off = chat.on('list', () => {
            if (!chat.entries.has(route.key)) return;
            off();
            if (this.#route === route) this.#navigate();
          });
          break;
        }
        if (this.#view?.entry !== entry) {
          chat.openKey = entry.key;
          this.#view = new ConversationView(chat, entry, this);
          this.#pane.replaceChildren(this.#view.element);
          void this.#view.showOpening();
          // On a touchscreen the keyboard a focused message box opens would cover half of what one came to read.
          if (isTouchFirst()) this.#view.focusMessages();
          else this.#view.composer.input.focus();
        }
        chat.markRead(entry);
        chat.loadMembers(entry);
        chat.countReads(entry);
        break;
      }
    }
    // Notices stay for their time, where the view now shown shows them: a conversation's above its message
    // box, never on it. One that leads to the page now shown has been followed, or need not be.
    const dock = this.#view?.toastDock ?? this.#toasts;
    if (shown && shown !== this.#view) dock.append(...shown.toastDock.children);
    if (dock !== this.#toasts) dock.append(...this.#toasts.children);
    for (const link of dock.querySelectorAll<HTMLAnchorElement>('.toast a[href]'))
      if (link.getAttribute('href') === window.location.hash) link.closest('.toast')?.remove();
    this.#drawTitle();
    this.#schedule(true, false);
  }

  /**
   * The person left a conversation or was removed from it. Left from here: back to the list. Otherwise an
   * open one stays on screen, saying so, with nothing to send from; one not open is told of in a toast.
   */
  #gone(entry: Entry): void {
    const title = this.#chat.title(entry);
    const shown = this.#view?.entry === entry;
    if (entry.gone === 'left') {
      this.toast(`You left “${title}”.`);
      if (shown) this.back();
      return;
    }
    const text =
      entry.conv.kind === 'group'
        ? 'You were removed from this group (or left it on another device).'
        : 'You are no longer in this conversation.';
    if (shown) this.#view!.end(text);
    else this.toast(`You are no longer in “${title}”.`);
  }

  /** The skip link: focus to the open conversation's messages, else to what the pane shows, else the list. */
  #skipToPane(): void {
    if (this.#view) return this.#view.focusMessages();
    if (this.#pane.getClientRects().length > 0) return this.#pane.focus();
    (this.#list.querySelector<HTMLElement>('.conversation-item') ?? this.#list).focus();
  }

  #onKey(event: KeyboardEvent): void {
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    if (this.#route.view === 'list') return;
    event.preventDefault();
    this.back();
  }

  /** Up and Down move between conversations in the list; Home and End jump. */
  #listKeys(event: KeyboardEvent): void {
    const items = [...this.#list.querySelectorAll<HTMLElement>('.conversation-item')];
    const at = items.indexOf(document.activeElement as HTMLElement);
    if (at < 0) return;
    const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    items[Math.max(0, Math.min(items.length - 1, next))]?.focus();
  }

  #drawConnection(): void {
    if (this.#chat.ended) {
      this.#connection.dataset.state = 'ended';
      this.#sayConnection('Signed out');
      this.#banner.hidden = false;
      this.#banner.textContent = 'You are signed out. Sign in again to go on; what you were writing is kept.';
      return;
    }
    const { state, unsent, offlineDomains, networkOffline, refused } = this.#chat.connection();
    this.#connection.dataset.state = state;
    // The colleges by the names people know them by, not their nodes' domain names.
    const away = offlineDomains.map((d) => this.#chat.domainTitle(d)).join(', ');
    const text = {
      online: 'Online',
      partial: `Reconnecting to ${away}…`,
      connecting: 'Connecting…',
      offline: networkOffline ? 'Offline — reconnecting…' : 'Chat out of reach — retrying…',
    }[state];
    this.#sayConnection(text);
    const waiting =
      unsent > 0 ? ` ${unsent} message${unsent === 1 ? '' : 's'} will be sent when the connection returns.` : '';
    this.#banner.hidden = state === 'online' || state === 'connecting';
    // The browser's network gone, or the chat server(s) not answering while the network is there: the
    // person can do something about the first, and should not look for a fault of theirs in the second.
    // Either names what is out of reach as the top bar does, which a phone's top bar leaves out.
    // A node that refused this tab because the person's other tabs and devices hold every socket it
    // allows is no outage: the person can close one, and this tab then connects on its next try.
    const tooMany = refused.map(({ domain, message }) => `${this.#chat.domainTitle(domain)}: ${message}.`).join(' ');
    this.#banner.textContent = networkOffline
      ? `You are offline. Nothing you type is lost.${waiting}`
      : tooMany
        ? `${tooMany} This tab connects once one is closed. Nothing you type is lost.${waiting}`
        : `Chat at ${away} cannot be reached right now; the portal keeps trying. Nothing you type is lost.${waiting}`;
    if (state === 'online' && this.#dirtyList === false) this.#schedule(true, true);
    // An empty list says why it is empty, which follows the connection.
    else if (this.#chat.entries.size === 0) this.#schedule(true, false);
  }

  /**
   * The connection's state in words beside its coloured dot, and as the status's name: the words are
   * what tells the states apart (the dot's colours alone do not, to many), also where the dot is hidden.
   */
  #sayConnection(text: string): void {
    const el = this.#connection;
    el.setAttribute('aria-label', text);
    el.title = text;
    el.replaceChildren(
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('span', { class: 'connection-text' }, text),
    );
  }

  /**
   * The tab's title, which a screen reader reads on each view and the browser lists among tabs: the view or
   * conversation shown, after the count of unread messages, then the place ("(2) Bob Martin · Atrium").
   */
  #drawTitle(): void {
    // Once the session ended, a list or view redrawn after it (a frame already asked for) names nothing of
    // the person's chats in the tab either: only the place, as #ended left it.
    if (this.#root.dataset.state === 'ended') {
      document.title = this.#name;
      return;
    }
    const unread = [...this.#chat.entries.values()].reduce((n, e) => n + e.conv.unread, 0);
    const route = this.#route;
    const entry = route.view === 'conversation' ? this.#chat.entries.get(route.key) : undefined;
    const view = entry ? this.#chat.title(entry) : VIEW_TITLES[route.view];
    document.title = `${unread > 0 ? `(${unread}) ` : ''}${view ? `${view} · ` : ''}${this.#name}`;
  }

  /**
   * Says someone else's new message to screen readers: who wrote it and what, and where when it is not the
   * conversation on screen. The message list is no live region (see ConversationView), so one's own
   * messages and earlier ones loaded on scrolling are not read out.
   */
  #announce(entry: Entry, message: Message): void {
    const chat = this.#chat;
    const text = message.kind === 'card' ? 'a card' : message.text || 'a file';
    const sender = chat.senderNow(entry, message);
    const here = this.#view?.entry === entry && document.visibilityState === 'visible';
    this.#announcer.textContent = here
      ? `${sender}: ${text}`
      : `New message from ${sender}${entry.conv.kind === 'group' ? ` in ${chat.title(entry)}` : ''}: ${text}`;
  }

  async #signOut(): Promise<void> {
    try {
      const { redirect } = await logout();
      this.#chat.drafts.clear();
      this.#chat.forgetUnsent();
      forgetPerson(this.#chat.me.user.id);
      forgetWriting(this.#chat.me.user.id);
      window.location.assign(redirect);
    } catch (error) {
      this.toast(`Could not sign out: ${(error as Error).message}`);
    }
  }

  /** The conversation open with writing kept, for this tab's next page of the same person; none once they signed out. */
  #keepOpen(): void {
    if (this.#chat.ended) return;
    const writing = this.#chat.drafts.any || this.#chat.keptUnsent().length > 0;
    const open = writing && this.#view ? hashOf(this.#view.entry) : null;
    keepInTab(this.#chat.me.user.id, { open, drafts: [], unsent: [] });
  }

  /**
   * What the person wrote, as their session ends. Signed out everywhere or access ended (disabled, a
   * password reset): nothing stays in the browser. Signed out in another tab or by an app: nothing stays
   * in its lasting storage; this tab alone keeps it, for its "Sign in again", and it goes with the tab. A
   * session that merely ran out leaves it where it is (kept as it was written) for the same person.
   */
  #keepAtEnd(why: string | undefined): void {
    const user = this.#chat.me.user.id;
    const drafts = this.#chat.drafts.kept();
    const unsent = this.#chat.keptUnsent();
    const open = drafts.length + unsent.length > 0 && this.#view ? hashOf(this.#view.entry) : null;
    forgetPerson(user);
    if (why === 'access_ended') return forgetWriting(user);
    if (why !== 'signed_out') return keepInTab(user, { open, drafts: [], unsent: [] });
    forgetWriting(user);
    keepInTab(user, { open, drafts, unsent });
  }

  /**
   * The portal answered that this tab is not signed in. When that is because the person's access was ended
   * or they were signed out everywhere, their nodes close the chat at about the same moment and say which
   * (#ended: the dialog, and what of their writing stays in the browser); a tab that went to sign in at once
   * would say nothing of it, and a call that happened to be under way then (labels, apps, a token) decides
   * which. So while chat is online the nodes' word is awaited a moment; a portal session that merely ran out
   * then signs in again (silently while the gateway session lasts). Once ended, the dialog stays.
   */
  #signedOut(): void {
    if (this.#chat.ended || this.#awaitingEnd) return;
    if (![...this.#chat.clients.values()].some((client) => client.state === 'online')) return signInAgain();
    this.#awaitingEnd = true;
    this.#chat
      .once('ended', () => true, NODES_WORD_MS)
      .catch(() => {
        if (!this.#chat.ended) signInAgain();
      });
  }

  /**
   * The session or the person's access ended. What was being written stays in the browser for the same
   * person's next sign-in when the session merely ran out (see below); everything else of theirs leaves the page (a lost laptop must show nothing of
   * their chats), and the rest of the page is inert behind the dialog, which says why as far as it is known.
   */
  #ended(why: string | undefined): void {
    this.#root.dataset.state = 'ended';
    this.#drawConnection();
    this.#keepAtEnd(why);
    this.#chat.drafts.clear();
    this.#chat.forgetUnsent();
    this.#view = null;
    this.#list.replaceChildren();
    this.#pane.replaceChildren();
    this.#announcer.replaceChildren();
    this.#toasts.replaceChildren();
    document.title = this.#name;
    this.#root.inert = true;
    const [title, text] =
      why === 'access_ended'
        ? [
            'Your sign-in was ended',
            'Your password was changed or reset, you were signed out everywhere, or your access was ended (by an administrator, or by your campus directory), so chat was closed. If signing in again does not work, ask your IT administrator.',
          ]
        : ['You were signed out', `Your ${this.#name} session ended, so chat was closed.`];
    const dialog = h(
      'div',
      { class: 'ended', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'ended-title' },
      h(
        'div',
        { class: 'ended-box' },
        h('h2', { id: 'ended-title' }, title),
        h('p', {}, text),
        h('a', { class: 'button', href: '/' }, 'Sign in again'),
      ),
    );
    document.body.append(dialog);
    dialog.querySelector<HTMLElement>('a')?.focus();
  }

  /**
   * Moved off a domain's units: its conversations are gone, and an open one goes back to the list. Said as
   * what it is, the person still signed in: their chat moved to the college they were moved to, or goes on
   * on their other ones, or, when the gateway could not say where they chat now, a reload tells.
   */
  #leftDomain({ domain, joined }: ChatEvents['leftDomain']): void {
    if (this.#view?.entry.domain === domain) this.back();
    const removed = this.#chat.me.chatRemoved;
    if (joined !== null && joined.length === 0 && removed?.domain === domain)
      return this.toast(
        `${removed.title}'s chat was removed from the campus by the campus administrators. Ask your IT help desk whether and when it comes back.`,
      );
    const stay = `Your conversations on ${domain} stay there and are no longer shown here.`;
    if (joined === null)
      return this.toast(`You no longer chat on ${domain}: your units changed. ${stay}`, {
        text: 'Reload to chat where you are now',
        href: '/',
      });
    if (joined.length > 0)
      return this.toast(
        // Groups follow the person to where they chat now (the nodes' moved members); direct chats stay.
        `Your chat moved to ${joined.map((d) => d.title || d.name).join(', ')}: your units changed, and you chat there now. Your groups come with you; your direct conversations on ${domain} stay there and are no longer shown here.`,
      );
    this.toast(`You no longer chat on ${domain}: your units changed. ${stay}`);
  }
}
