import type { Message } from '../../../sdk/client.ts';
import { DEFAULT_RECALL_WINDOW_SECONDS } from '../../../protocol/client-frames.ts';
import { SEVERAL_TYPING, type Chat, type Entry } from './chat.ts';
import { Composer } from './composer.ts';
import { FILES_ROUTE } from './files-view.ts';
import { GroupPanel } from './group-panel.ts';
import { PressGuard } from './press-guard.ts';
import { confirmDialog } from './dialog.ts';
import { fitRows, h, ICONS, iconButton } from './dom.ts';
import { cardClickFailure, dayLabelOf, dayOf } from './format.ts';
import { renderMessage, renderPending, signatureOf, updateReceipt, type MessageActions } from './message-view.ts';
import { CARD_FOCUS } from './card-view.ts';
import { disabledTag, presenceLabel } from './list-view.ts';
import { movedNote } from './moved-peer.ts';
import type { Person } from './nodes.ts';
import { isTouchFirst } from './touch.ts';

const PAGE = 30;
/** How many read messages show above the first unread one when a conversation opens there: what it answers. */
const READ_CONTEXT = 3;
/** How many pages of history opening a conversation fetches at most to reach its first unread message. */
const UNREAD_PAGES = 5;
/** How many lines the box for editing a message shows: it grows with its text from the first to the second. */
const EDIT_ROWS = { min: 2, max: 10 };
/** How many members a group's heading names before it counts the rest. */
const NAMED_MEMBERS = 8;

/** A place a notice leads to ("delete files you no longer need" → Your files). */
export type ToastLink = { text: string; href: string };

export type ViewHost = { back(): void; toast(text: string, link?: ToastLink): void; opened(entry: Entry): void };

/**
 * One conversation: its header, the messages (the newest page first; scrolling up shows earlier ones,
 * from memory and then from the node), who is typing, and the composer. Redraws only what changed.
 */
export class ConversationView {
  readonly element: HTMLElement;
  readonly entry: Entry;
  readonly composer: Composer;
  /** Where the page's notices show while this conversation is on screen: over the messages, just above the message box, never on it. */
  readonly toastDock: HTMLElement;
  #chat: Chat;
  #host: ViewHost;
  #scroller: HTMLElement;
  #list: HTMLOListElement;
  #older: HTMLButtonElement;
  #typing: HTMLElement;
  /** Said in a direct conversation with an app, which answers through its cards (see #drawAppNote). */
  #appNote: HTMLElement;
  /** Said in a direct conversation whose other person now chats at another address (moved-peer.ts). */
  #movedNote: HTMLElement | undefined;
  /** Where the other person chats now, once the directory said they moved. */
  #movedTo: Person | undefined;
  #title: HTMLElement;
  #titleText: HTMLElement;
  /** " account disabled" after a direct peer's name, in the heading only while it holds. */
  #titleTag = h('span', {}, ' ', disabledTag());
  #subtitle: HTMLElement;
  #drawn = new Map<string, { el: HTMLElement; sig: string }>();
  #drawnPending = new Map<string, { el: HTMLElement; sig: string }>();
  /** The separator line above each day's first message, by day (dayOf). */
  #days = new Map<string, HTMLElement>();
  #editing = new Set<string>();
  #presses: PressGuard;
  #fromSeq: number;
  #loading = false;
  #details: HTMLButtonElement | null = null;
  #panel: GroupPanel | null = null;
  #ended = false;
  /** The view shows its end (or did when last scrolled): what grows at the end (a picture loading) keeps it there. */
  #atEnd = true;
  /** Redraws when the next of the drawn messages can no longer be recalled, to take its Recall button away. */
  #recallTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * What the person had read when the conversation opened, while some of it was unread then: the first
   * message after it gets the "New messages" line for as long as the view stays open (it is read by then).
   */
  #readBefore: number | null;
  /** The line above the first message that was unread when the conversation opened. */
  #unreadLine = h('li', { class: 'unread-separator', id: 'unread-separator' }, h('span', {}, 'New messages'));
  /** Something (a search result, the person scrolling or sending) has moved the view: opening no longer does. */
  #placed = false;
  #scrollerHeight = 0;
  /** A mouse button, pen or finger is down on the list. */
  #pressing = false;
  /** The id (`m-…`) of the message that is the list's Tab stop: the last focused, while it is drawn. */
  #roving: string | null = null;

  constructor(chat: Chat, entry: Entry, host: ViewHost) {
    this.#chat = chat;
    this.entry = entry;
    this.#host = host;
    const title = chat.title(entry);
    this.#titleText = h('span', {}, title);
    this.#title = h('h2', { id: 'conversation-title', class: 'conversation-title' }, this.#titleText);
    this.#subtitle = h('p', { class: 'conversation-subtitle muted' });
    this.#older = h(
      'button',
      { type: 'button', class: 'load-older secondary', onclick: () => void this.showOlder() },
      'Show earlier messages',
    );
    // Not a live region: it would also read out each page of earlier messages loaded on scrolling up, and
    // one's own message twice (sending, then sent). The page announces others' new messages itself.
    this.#list = h('ol', {
      class: 'message-list',
      role: 'log',
      'aria-labelledby': 'conversation-title',
      'aria-live': 'off',
    });
    // One Tab stop for the messages, the one last focused (#rove); the list itself is focused from the skip
    // link, or on a phone as the conversation opens, to scroll it.
    this.#scroller = h(
      'div',
      { class: 'messages', tabindex: -1, role: 'group', 'aria-label': 'Messages' },
      this.#older,
      this.#list,
    );
    // Not a live region either: in a group someone starts typing every few seconds, and each would be read
    // out, ahead of the new messages (which the page announces itself). It shows, for the eye and on reading.
    this.#typing = h('p', { class: 'typing' });
    this.#appNote = h('p', { class: 'app-note', role: 'note', hidden: true });
    if (entry.conv.kind === 'direct')
      this.#movedNote = movedNote(chat, entry, host, (person) => {
        this.#movedTo = person;
        this.update();
      });
    this.toastDock = h('div', { class: 'toast-dock', 'aria-live': 'assertive' });
    this.composer = new Composer(chat, entry, title, () =>
      host.toast('You have used your storage:', { text: 'delete files you no longer need', href: FILES_ROUTE }),
    );
    if (entry.conv.kind === 'group')
      this.#details = iconButton('Group details', ICONS.people, () => this.openDetails(), {
        class: 'icon-button group-details',
        'aria-haspopup': 'dialog',
      });
    this.element = h(
      'section',
      { class: 'conversation', 'aria-labelledby': 'conversation-title', 'data-key': entry.key },
      h(
        'header',
        { class: 'conversation-head' },
        iconButton('Back to conversations', ICONS.back, () => host.back(), { class: 'icon-button back' }),
        h('div', { class: 'heading' }, this.#title, this.#subtitle),
        this.#details,
      ),
      this.#scroller,
      // Notices rise from above the typing line and the note on an app's chat, so they cover neither.
      this.toastDock,
      this.#typing,
      this.#appNote,
      this.#movedNote,
      this.composer.element,
    );
    this.#fromSeq = entry.messages.at(-PAGE)?.seq ?? 0;
    this.#readBefore = entry.conv.unread > 0 ? entry.conv.readSeq : null;
    for (const type of ['wheel', 'touchmove', 'keydown'])
      this.#scroller.addEventListener(type, () => (this.#placed = true), { once: true, passive: true });
    this.#scroller.addEventListener('scroll', () => {
      this.#atEnd = this.#nearEnd();
      if (this.#scroller.scrollTop < 40) void this.showOlder();
    });
    // A picture gets its height only once it has loaded, after the view scrolled to the end: it would push
    // the newest messages below the fold, and the next message would not scroll them back (not near the end).
    this.#list.addEventListener(
      'load',
      () => {
        if (this.#atEnd) this.scrollToEnd();
      },
      true,
    );
    // The list gets shorter as the message box grows (files attached, lines typed), the typing line shows, a
    // phone's keyboard opens: what showed the newest messages goes on showing them.
    new ResizeObserver(() => {
      const height = this.#scroller.clientHeight;
      if (height === this.#scrollerHeight) return;
      this.#scrollerHeight = height;
      if (this.#atEnd) this.scrollToEnd();
    }).observe(this.#scroller);
    this.#list.addEventListener('focusin', (e) => {
      this.#toolsInView(e.target as Element);
      const message = (e.target as Element).closest<HTMLElement>('.message[id^="m-"]');
      if (message) this.#rove(message.id);
    });
    this.#list.addEventListener('keydown', (e) => this.#moveKeys(e));
    this.#list.addEventListener('pointerdown', () => {
      this.#pressing = true;
      const up = () => {
        this.#pressing = false;
        window.removeEventListener('pointerup', up);
        window.removeEventListener('pointercancel', up);
      };
      window.addEventListener('pointerup', up);
      window.addEventListener('pointercancel', up);
    });
    this.#presses = new PressGuard(this.#list, '.message', this.element);
    this.element.addEventListener('dragover', (e) => e.preventDefault());
    this.element.addEventListener('drop', (e) => {
      e.preventDefault();
      for (const file of e.dataTransfer?.files ?? []) this.composer.addFile(file);
    });
    this.update();
    // A short conversation fetches its earlier history at once, so there is something to scroll.
    if (entry.messages.length < PAGE) void this.showOlder();
  }

  scrollToEnd(): void {
    this.#scroller.scrollTop = this.#scroller.scrollHeight;
    this.#atEnd = true;
  }

  /**
   * Shows the conversation as it opens, once on the page: at its first unread message, under a "New
   * messages" line, with a few read ones above it; else at its end. An unread stretch longer than what the
   * page holds is fetched first (a few pages at most; beyond that it opens at the oldest fetched).
   */
  async showOpening(): Promise<void> {
    const readBefore = this.#readBefore;
    if (readBefore === null) return this.scrollToEnd();
    const entry = this.entry;
    this.#atEnd = false;
    for (let page = 0; page < UNREAD_PAGES && (entry.messages[0]?.seq ?? 0) > readBefore + 1; page++) {
      if (entry.historyDone || (await this.#chat.loadOlder(entry, 200).catch(() => 0)) === 0) break;
    }
    if (this.#placed || entry.pending.size > 0 || !this.element.isConnected) return;
    const first = entry.messages.findIndex((m) => m.seq > readBefore);
    if (first < 0) return this.scrollToEnd();
    this.#fromSeq = Math.min(this.#fromSeq, entry.messages[Math.max(0, first - READ_CONTEXT)]!.seq);
    this.update();
    const line = this.#unreadLine;
    if (!line.isConnected) return this.scrollToEnd();
    this.#scroller.scrollTop += line.getBoundingClientRect().top - this.#scroller.getBoundingClientRect().top - 8;
    this.#atEnd = this.#nearEnd();
  }

  /** Moves focus into the conversation, to its messages (to read them, or Tab on to the message box). */
  focusMessages(): void {
    this.#scroller.focus({ preventScroll: true });
  }

  /**
   * Makes one message the list's only Tab stop (tabindex 0, the others -1): `id`'s while it is drawn,
   * else the newest. The arrow keys move between them (#moveKeys), as in the conversation list.
   */
  #rove(id: string | null): void {
    const bubbles = [...this.#list.querySelectorAll<HTMLElement>('.message[id^="m-"] > .bubble[tabindex]')];
    const holder = (id ? bubbles.find((b) => b.parentElement!.id === id) : undefined) ?? bubbles.at(-1);
    this.#roving = holder && holder.parentElement!.id === id ? id : null;
    for (const bubble of bubbles) {
      const tabindex = bubble === holder ? '0' : '-1';
      if (bubble.getAttribute('tabindex') !== tabindex) bubble.setAttribute('tabindex', tabindex);
    }
  }

  /** Up and Down move from message to message; Home and End go to the first and last drawn. */
  #moveKeys(event: KeyboardEvent): void {
    const bubbles = [...this.#list.querySelectorAll<HTMLElement>('.message[id^="m-"] > .bubble[tabindex]')];
    const at = bubbles.indexOf(event.target as HTMLElement);
    if (at < 0 || event.altKey || event.ctrlKey || event.metaKey) return;
    const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: bubbles.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    bubbles[Math.max(0, Math.min(bubbles.length - 1, next))]?.focus();
  }

  #nearEnd(): boolean {
    return this.#scroller.scrollHeight - this.#scroller.scrollTop - this.#scroller.clientHeight < 80;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A group's members, name and the changes one may make to it, in a dialog. */
  openDetails(): void {
    if (this.#ended || this.entry.conv.kind !== 'group') return;
    this.#panel ??= new GroupPanel(this.#chat, this.entry, () => {
      this.#panel = null;
    });
    if (!this.#panel.isOpen) this.#panel.open(this.element);
  }

  /**
   * The person is no longer in this conversation (removed, or left on another device): what is on screen
   * stays to be read, but there is nothing to send from or change any more, and the page says why.
   */
  end(text: string): void {
    if (this.#ended) return;
    this.#ended = true;
    // Focus on what goes (the message box, the details and their button) moves to the way back.
    const active = document.activeElement;
    const moveFocus =
      this.composer.element.contains(active) || this.#details?.contains(active) || this.#panel?.isOpen === true;
    this.#panel?.close();
    this.#details?.remove();
    this.#typing.textContent = '';
    const back = h(
      'button',
      { type: 'button', class: 'secondary', onclick: () => this.#host.back() },
      'Back to conversations',
    );
    const reason = h('p', { class: 'ended-reason' });
    const notice = h(
      'div',
      { class: 'conversation-ended', role: 'status' },
      reason,
      h('p', { class: 'muted small' }, 'You cannot send here any more. What is on screen goes when you leave it.'),
      back,
    );
    this.#appNote.hidden = true;
    this.composer.element.replaceWith(notice);
    // Written once the status is on the page, so that screen readers announce it.
    reason.textContent = text;
    if (moveFocus) back.focus();
  }

  /** One more page of earlier messages: from memory if held, else from the node. */
  async showOlder(): Promise<void> {
    if (this.#loading) return;
    const entry = this.entry;
    const index = entry.messages.findIndex((m) => m.seq >= this.#fromSeq);
    this.#loading = true;
    try {
      if (index <= 0) {
        if (entry.historyDone) return this.#updateOlder();
        const added = await this.#chat.loadOlder(entry, PAGE).catch(() => 0);
        if (added === 0) return this.#updateOlder();
      }
      const at = entry.messages.findIndex((m) => m.seq >= this.#fromSeq);
      const from = Math.max(0, (at < 0 ? entry.messages.length : at) - PAGE);
      const height = this.#scroller.scrollHeight;
      const top = this.#scroller.scrollTop;
      this.#fromSeq = entry.messages[from]?.seq ?? 0;
      this.update();
      this.#scroller.scrollTop = top + (this.#scroller.scrollHeight - height);
    } finally {
      this.#loading = false;
    }
  }

  #updateOlder(): void {
    const entry = this.entry;
    const hidden = entry.messages.some((m) => m.seq < this.#fromSeq);
    // Tabbed to, it scrolled the list to its top and showed the rest: focus stays in the list, not lost with it.
    const focused = document.activeElement === this.#older;
    this.#older.hidden = !hidden && (entry.historyDone || (entry.messages[0]?.seq ?? 1) <= entry.conv.joinedSeq + 1);
    if (this.#older.hidden && focused) this.focusMessages();
  }

  update(): void {
    const chat = this.#chat;
    const entry = this.entry;
    const nearEnd = this.#nearEnd();
    const title = chat.title(entry);
    this.#titleText.textContent = title;
    const peer = chat.peerOf(entry);
    if (peer && chat.isDisabled(peer)) {
      if (!this.#title.contains(this.#titleTag)) this.#title.append(this.#titleTag);
    } else this.#titleTag.remove();
    this.#subtitle.textContent = this.#describe();
    // A group renamed: its message box is named after it too.
    if (this.composer.input.placeholder !== `Message ${title}`) {
      this.composer.input.placeholder = `Message ${title}`;
      this.composer.input.setAttribute('aria-label', `Message ${title}`);
    }
    this.#panel?.update();

    const actions: MessageActions = {
      edit: (message, li) => this.#edit(message, li),
      recall: (message) => void this.#recall(message),
      toast: (text) => this.#host.toast(text),
      cardAction: (message, actionId, button) => {
        // A disabled button loses the focus to the page's body: it waits on the card's title meanwhile,
        // and comes back to the button if it is there still (a card the app did not redraw).
        const title = button.closest('.card')?.querySelector<HTMLElement>(CARD_FOCUS);
        if (document.activeElement === button) title?.focus();
        const enable = () => {
          button.disabled = false;
          if (title && document.activeElement === title && button.isConnected) button.focus();
        };
        button.disabled = true;
        chat.cardAction(entry, message, actionId).then(
          (result) => {
            button.classList.add('chosen');
            if (result.toast) this.#host.toast(result.toast);
            if (!result.updated) enable();
          },
          (error: Error & { code?: string }) => {
            enable();
            this.#host.toast(cardClickFailure(error));
          },
        );
      },
    };
    const wanted: HTMLElement[] = [];
    const keep = new Set<string>();
    const recallWindowMs = this.#recallWindowMs();
    let nextRecallEnd = Infinity;
    const now = new Date();
    const days = new Set<string>();
    const separate = (iso: string) => {
      const day = dayOf(iso);
      if (days.has(day)) return;
      days.add(day);
      wanted.push(this.#separator(day, dayLabelOf(iso, now)));
    };
    let unreadLine = false;
    for (const message of entry.messages) {
      if (message.seq < this.#fromSeq) continue;
      keep.add(message.id);
      separate(message.createdAt);
      if (!unreadLine && this.#readBefore !== null && message.seq > this.#readBefore) {
        unreadLine = true;
        wanted.push(this.#unreadLine);
      }
      const drawn = this.#drawn.get(message.id);
      if (this.#editing.has(message.id) && drawn) {
        wanted.push(drawn.el);
        continue;
      }
      // Whether it may still be recalled is drawn too (its Recall button): it changes once, with time.
      const recallEnd = this.#recallEnd(message, recallWindowMs);
      if (recallEnd !== null) nextRecallEnd = Math.min(nextRecallEnd, recallEnd);
      const sig = `${signatureOf(chat, entry, message)}\u0000${recallEnd !== null}`;
      if (drawn && drawn.sig === sig) {
        updateReceipt(drawn.el, chat, entry, message);
        wanted.push(drawn.el);
        continue;
      }
      if (drawn && this.#presses.holds(drawn.el, () => this.update())) {
        wanted.push(drawn.el);
        continue;
      }
      const el = renderMessage(chat, entry, message, actions, recallWindowMs);
      if (drawn) {
        const focused = drawn.el.contains(document.activeElement) ? document.activeElement : null;
        drawn.el.replaceWith(el);
        // In its card, the focus stays in the card drawn anew (an app's answer to a button pressed there).
        if (focused?.closest('.card'))
          (el.querySelector<HTMLElement>(CARD_FOCUS) ?? el.querySelector<HTMLElement>('.bubble'))?.focus();
        else if (focused) el.querySelector<HTMLElement>('.bubble')?.focus();
      }
      this.#drawn.set(message.id, { el, sig });
      wanted.push(el);
    }
    for (const [id, drawn] of this.#drawn) {
      if (!keep.has(id)) {
        drawn.el.remove();
        this.#drawn.delete(id);
      }
    }
    // "Today" becomes "Yesterday" at midnight: drawn again then, if nothing else redraws it before.
    this.#redrawAt(Math.min(nextRecallEnd, new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1).getTime()));
    // What is being sent now is today's.
    if (entry.pending.size > 0) separate(now.toISOString());
    this.#drawPending(wanted);
    for (const [day, el] of this.#days) {
      if (!days.has(day)) {
        el.remove();
        this.#days.delete(day);
      }
    }
    if (!unreadLine) this.#unreadLine.remove();
    wanted.forEach((el, i) => {
      if (this.#list.children[i] !== el) this.#list.insertBefore(el, this.#list.children[i] ?? null);
    });
    this.#updateOlder();
    this.#rove(this.#roving);
    this.#drawTyping();
    this.#drawAppNote();
    if (nearEnd || entry.pending.size > 0) this.scrollToEnd();
  }

  /** Messages being sent, after the others, into `wanted`. */
  #drawPending(wanted: HTMLElement[]): void {
    const chat = this.#chat;
    const entry = this.entry;
    // A pending message is redrawn only when its state changes, so its Retry button stays put under the pointer.
    const pendingNow = new Map<string, { el: HTMLElement; sig: string }>();
    for (const pending of entry.pending.values()) {
      const sig = `${pending.state}\u0000${pending.error ?? ''}`;
      const drawn = this.#drawnPending.get(pending.clientMsgId);
      const el =
        drawn && drawn.sig === sig
          ? drawn.el
          : renderPending(
              entry,
              pending,
              () => chat.retry(entry, pending),
              () => chat.discard(entry, pending),
            );
      pendingNow.set(pending.clientMsgId, { el, sig });
      wanted.push(el);
    }
    for (const [id, drawn] of this.#drawnPending) if (pendingNow.get(id)?.el !== drawn.el) drawn.el.remove();
    this.#drawnPending = pendingNow;
  }

  #drawTyping(): void {
    const entry = this.entry;
    // A big group tells of typing collapsed: "several people" rather than each of them.
    const several = entry.typing.has(SEVERAL_TYPING);
    const typists = [...entry.typing.keys()]
      .filter((a) => a !== SEVERAL_TYPING)
      .map((a) => this.#chat.nameIn(entry, a));
    const text = several
      ? 'Several people are typing…'
      : typists.length === 0
        ? ''
        : typists.length === 1
          ? `${typists[0]} is typing…`
          : `${typists.join(', ')} are typing…`;
    // Written only when its words change, not at each receipt and message that draws the view again.
    if (this.#typing.textContent !== text) this.#typing.textContent = text;
  }

  /**
   * A direct conversation with an app's bot: its app reads its conversations (over HTTP, or live on a
   * socket of its bot's: docs/protocol.md, "Bots"), and is told when someone presses a button on its cards.
   * The person is told so before typing anything private. Said once the page knows the peer is an app (it
   * has named itself on an entry here, or the directory says so: Chat.isApp); text can still be sent.
   * With someone whose account is disabled: what is sent waits, and reaches them only if an administrator
   * enables it again (then all of it does), so sending stays possible and the note says so.
   */
  #drawAppNote(): void {
    const peer = this.entry.conv.kind === 'direct' ? this.#chat.peerOf(this.entry) : undefined;
    const app = peer ? this.#chat.appName(this.entry, peer) : undefined;
    const disabled = peer !== undefined && app === undefined && this.#chat.isDisabled(peer);
    this.#appNote.hidden = (app === undefined && !disabled) || this.#ended;
    const text = app
      ? `${app} is an app: it can read what is written here, and answers through the buttons on its cards.`
      : disabled
        ? `${this.#chat.nameIn(this.entry, peer!)}'s account is disabled: messages wait and reach them only if it is enabled again.`
        : '';
    if (this.#appNote.textContent !== text) this.#appNote.textContent = text;
  }

  /** The line above a day's first message: "Today", "Yesterday" or the date, kept as the words change. */
  #separator(day: string, label: string): HTMLElement {
    let el = this.#days.get(day);
    if (!el) {
      el = h('li', { class: 'day-separator', 'data-day': day }, h('time', { datetime: day }, label));
      this.#days.set(day, el);
    } else if (el.textContent !== label) {
      el.firstElementChild!.textContent = label;
    }
    return el;
  }

  /**
   * How long after sending one may recall a message, as this conversation's node said when it connected.
   * The node has the last word: a recall it finds late is refused, and the page says so.
   */
  #recallWindowMs(): number {
    return this.#chat.clients.get(this.entry.domain)?.recallWindowMs ?? DEFAULT_RECALL_WINDOW_SECONDS * 1000;
  }

  /** When the person's chance to recall this message ends; null when it cannot be recalled (any more). */
  #recallEnd(message: Message, windowMs: number): number | null {
    if (message.sender !== this.entry.me || message.recalledAt || message.kind !== 'text') return null;
    const end = Date.parse(message.createdAt) + windowMs;
    return end > Date.now() ? end : null;
  }

  /** Redraws at `at` (the next Recall button to go), while the view is on the page. */
  #redrawAt(at: number): void {
    clearTimeout(this.#recallTimer);
    this.#recallTimer = undefined;
    if (at === Infinity) return;
    this.#recallTimer = setTimeout(
      () => {
        if (this.element.isConnected) this.update();
      },
      // setTimeout fires at once for delays past 2^31 ms (a node's window of weeks): look again daily then.
      Math.min(Math.max(0, at - Date.now()) + 50, 86_400_000),
    );
  }

  /** Recalls one of the person's messages once they confirm: it goes for everyone, and cannot come back. */
  async #recall(message: Message): Promise<void> {
    const yes = await confirmDialog(this.element, {
      title: 'Recall this message?',
      body:
        'It will be taken back for everyone in this conversation, who will see that you recalled a message. ' +
        'This cannot be undone.',
      confirm: 'Recall',
    });
    // Focus goes back to the message, not to its Recall button: that shows only while the message has focus.
    document.getElementById(`m-${message.id}`)?.querySelector<HTMLElement>('.bubble')?.focus();
    if (!yes) return;
    if (this.#recallEnd(message, this.#recallWindowMs()) === null) {
      this.#host.toast('The time to recall that message has passed.');
      this.update();
      return;
    }
    await this.#chat
      .recall(this.entry, message)
      .catch((error: Error) => this.#host.toast(`Could not recall: ${error.message}`));
  }

  #describe(): string {
    const chat = this.#chat;
    const entry = this.entry;
    const where = chat.domains.size > 1 ? ` · as ${entry.me}` : '';
    if (entry.conv.kind === 'group') {
      // A big group names a few and counts the rest: a lecture's 3,000 names would not fit a line anyway.
      // Its view lists only this person, and the page reads only a few more members (memberCount counts them all).
      const members = entry.conv.members;
      const count = Math.max(entry.conv.memberCount ?? members.length, members.length);
      const others = members.filter((m) => m.address !== entry.me);
      const shown = others.slice(0, NAMED_MEMBERS);
      const mine = others.length < members.length;
      const names = [...(mine ? ['you'] : []), ...shown.map((m) => chat.nameIn(entry, m.address))];
      const rest = count - (mine ? 1 : 0) - shown.length;
      const more = rest > 0 ? ` and ${rest.toLocaleString('en')} ${shown.length > 0 ? 'more' : 'others'}` : '';
      // Its host college first: a phone's narrow heading cuts the names, not where the group lives.
      const host = chat.domainTitle(entry.conv.homeDomain);
      return `${host} · ${count.toLocaleString('en')} members: ${names.join(', ')}${more}${where}`;
    }
    const peer = chat.peerOf(entry);
    if (!peer) return where;
    // The old address's presence is no news of them: they are online, or not, where they chat now.
    if (this.#movedTo) return `${peer} · moved${where}`;
    return [peer, presenceLabel(chat, entry, peer)].filter(Boolean).join(' · ') + where;
  }

  #edit(message: Message, li: HTMLElement): void {
    const bubble = li.querySelector<HTMLElement>('.bubble');
    const text = li.querySelector<HTMLElement>('.text');
    if (!bubble || !text) return;
    this.#editing.add(message.id);
    // A phone's keyboard has no Shift+Enter: there Enter starts a new line, and Save saves.
    const enterSaves = !isTouchFirst();
    const input = h('textarea', {
      class: 'edit-input',
      'aria-label': 'Edit message',
      'aria-keyshortcuts': enterSaves ? 'Enter Escape' : 'Escape',
      rows: EDIT_ROWS.min,
    });
    input.value = message.text ?? '';
    // The box grows downwards: the list follows, so its buttons never end below what it shows.
    input.addEventListener('input', () => {
      fitRows(input, EDIT_ROWS.min, EDIT_ROWS.max);
      this.#keepInView(li);
    });
    const done = () => {
      this.#editing.delete(message.id);
      li.classList.remove('editing');
      // Drawn again in place (the edit box goes, the text as it now is comes back): a drawing that matches nothing.
      const drawn = this.#drawn.get(message.id);
      if (drawn) drawn.sig = '';
      this.update();
      document.getElementById(`m-${message.id}`)?.querySelector<HTMLElement>('.bubble')?.focus();
    };
    const save = () => {
      const value = input.value.trim();
      if (!value || value === message.text) return done();
      this.#chat.edit(this.entry, message, value).then(done, (error: Error) => {
        this.#host.toast(`Could not edit: ${error.message}`);
        done();
      });
    };
    // The message box's keys: Enter saves, Shift+Enter starts a new line, Escape gives up.
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && enterSaves && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        save();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        done();
      }
    });
    const form = h(
      'div',
      { class: 'edit' },
      input,
      h(
        'div',
        { class: 'edit-buttons' },
        enterSaves ? h('span', { class: 'edit-keys muted' }, 'Enter saves · Esc cancels') : null,
        h('button', { type: 'button', class: 'secondary', onclick: done }, 'Cancel'),
        h('button', { type: 'button', onclick: save }, 'Save'),
      ),
    );
    text.replaceWith(form);
    li.querySelector('.tools')?.remove();
    li.classList.add('editing');
    fitRows(input, EDIT_ROWS.min, EDIT_ROWS.max);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    this.#keepInView(li);
  }

  /**
   * A tap (or Tab) on a message, or on a file in it, shows its Edit and Recall under it on a phone: the list
   * scrolls to show them too. Only once the press is over: moved under the finger before that, the list
   * would take the tap's click to whatever came under it (the Recall button, say).
   */
  #toolsInView(target: Element): void {
    const message = target.closest<HTMLElement>('.message');
    // Focus moving on to them leaves them where they are; an edit box keeps itself in view (#edit).
    if (!message || message.classList.contains('editing') || target.closest('.tools')) return;
    // Scrolled up only as far as the message's top stays in view: a tall one is read from its top.
    const show = () => {
      if (!message.contains(document.activeElement)) return;
      const box = message.getBoundingClientRect();
      const list = this.#scroller.getBoundingClientRect();
      const by = Math.min(box.bottom - list.bottom, box.top - list.top);
      if (by > 0) this.#scroller.scrollTop += by;
    };
    // A mouse focuses on its press; a tap focuses after its touch ended, and clicks within the same task.
    if (this.#pressing) window.addEventListener('pointerup', () => setTimeout(show, 0), { once: true });
    else setTimeout(show, 0);
  }

  /** Scrolls the list just enough that the foot of `el` shows (scrollIntoView would move the page as well). */
  #keepInView(el: HTMLElement): void {
    const below = el.getBoundingClientRect().bottom - this.#scroller.getBoundingClientRect().bottom;
    if (below > 0) this.#scroller.scrollTop += below;
  }

  /** Scrolls to a message (from search), showing as much history as needed. */
  async reveal(messageId: string): Promise<void> {
    this.#placed = true;
    while (!this.entry.byId.has(messageId) && !this.entry.historyDone) {
      if ((await this.#chat.loadOlder(this.entry, 200).catch(() => 0)) === 0) break;
    }
    const target = this.entry.byId.get(messageId);
    if (target && target.seq < this.#fromSeq) {
      this.#fromSeq = target.seq;
      this.update();
    }
    const el = document.getElementById(`m-${messageId}`);
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    el.classList.add('found');
    el.querySelector<HTMLElement>('.bubble')?.focus();
    setTimeout(() => el.classList.remove('found'), 2_000);
  }
}
