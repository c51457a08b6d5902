import { listsSomeMembers, localPart, type Chat, type Entry } from './chat.ts';
import { fitRows, h, ICONS, iconButton } from './dom.ts';
import { sizeOf } from './format.ts';
import { HttpError } from './api.ts';
import type { Draft, DraftFile } from './drafts.ts';
import { uploadFile } from './nodes.ts';
import { isTouchFirst } from './touch.ts';

type Suggestion = { address: string; name: string };

let composerCount = 0;

/** How many people the "@" suggestions offer at most. */
const SUGGESTED = 8;
/** How long typing pauses before a big group's node is asked whom a typed "@name" may be. */
const ASK_AFTER_MS = 120;

/**
 * The event that gives a refused text back to the composer of its conversation (message-view.ts sends it
 * to the `form.composer` beside the message list): `detail` is the text.
 */
export const RESTORE_TEXT = 'composer-restore';

/**
 * The message box: Enter sends (Shift+Enter for a new line); on a touch-first device, whose on-screen
 * keyboard has no Shift+Enter, Enter starts a new line and the Send button sends (Ctrl+Enter too, from a
 * keyboard plugged in). "@" suggests members to mention, files
 * upload at once with a progress bar and go with the next message. What is typed and attached is the
 * conversation's draft (chat.drafts): it is there again when the conversation is shown again.
 */
export class Composer {
  readonly element: HTMLFormElement;
  readonly input: HTMLTextAreaElement;
  #chat: Chat;
  #entry: Entry;
  #draft: Draft;
  #uploadList: HTMLUListElement;
  #suggestions: HTMLUListElement;
  #options: Suggestion[] = [];
  #active = -1;
  #mentioned = new Map<string, string>();
  /** A big group's members its node found for what was typed after "@" (the latest answer). */
  #found: string[] = [];
  /** Every member the node found while this composer was open: a typed "@name" of one of them mentions them. */
  #foundEver = new Set<string>();
  #asking: ReturnType<typeof setTimeout> | undefined;
  /** Counts the questions to the node: an answer to one asked before the latest, or before the list closed, is dropped. */
  #asked = 0;
  #fileInput: HTMLInputElement;
  #notice: HTMLElement;
  #counter: HTMLElement;
  /** An upload was refused as the person's files on the node take up all they may keep there. */
  #onStorageFull: () => void;
  /** Why the draft is not wholly kept in the browser, as the notice says it; empty when it is. */
  #notKept = '';
  /** Escape was pressed (the key before this one) with text in the box: one more leaves the conversation. */
  #escaped = false;

  constructor(chat: Chat, entry: Entry, title: string, onStorageFull: () => void = () => undefined) {
    this.#chat = chat;
    this.#entry = entry;
    this.#draft = chat.drafts.of(entry.key);
    this.#onStorageFull = onStorageFull;
    const id = `composer-${++composerCount}`;
    this.#suggestions = h('ul', {
      class: 'suggestions',
      id: `${id}-mentions`,
      role: 'listbox',
      'aria-label': 'People to mention',
      hidden: true,
    });
    this.input = h('textarea', {
      id: `${id}-input`,
      class: 'composer-input',
      rows: 1,
      placeholder: `Message ${title}`,
      'aria-label': `Message ${title}`,
      role: 'combobox',
      'aria-autocomplete': 'list',
      'aria-expanded': 'false',
      'aria-controls': `${id}-mentions`,
      autocomplete: 'off',
    });
    this.#labelEnter();
    this.#fileInput = h('input', {
      type: 'file',
      class: 'visually-hidden',
      multiple: true,
      tabindex: -1,
      'aria-hidden': 'true',
    });
    this.#uploadList = h('ul', { class: 'uploads', 'aria-label': 'Files to send' });
    this.#uploadList.append(...this.#draft.files.map((file) => (file.row ??= this.#rowOf(file, null))));
    this.#notice = h('p', { class: 'composer-notice', role: 'status' });
    this.#counter = h('p', { class: 'composer-counter', id: `${id}-counter`, 'aria-live': 'polite', hidden: true });
    this.element = h(
      'form',
      { class: 'composer', 'aria-label': 'Write a message' },
      this.#uploadList,
      this.#suggestions,
      h(
        'div',
        { class: 'composer-row' },
        iconButton('Attach files', ICONS.attach, () => {
          // The picker offers the types the conversation's node takes, as its `ready` said (a phone's
          // picker shows only those); a file of another type, pasted or chosen all the same, is refused.
          const types = this.#chat.clients.get(this.#entry.domain)?.attachmentTypes;
          if (types) this.#fileInput.accept = types.join(',');
          this.#fileInput.click();
        }),
        this.input,
        h(
          'button',
          {
            type: 'submit',
            class: 'icon-button send',
            'aria-label': 'Send',
            title: isTouchFirst() ? 'Send' : 'Send (Enter)',
          },
          h('span', { class: 'send-label' }, 'Send'),
        ),
      ),
      this.#counter,
      this.#notice,
      this.#fileInput,
    );
    this.element.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
    this.element.addEventListener(RESTORE_TEXT, (event) => this.restore(String((event as CustomEvent).detail)));
    this.input.addEventListener('keydown', (event) => this.#onKey(event));
    this.input.value = this.#draft.text;
    if (this.input.value) requestAnimationFrame(() => this.#autosize());
    // Said once, when the conversation is shown again: why a file it had is no longer attached.
    this.#notice.textContent = this.#draft.notes.splice(0).join(' ');
    this.input.addEventListener('input', () => {
      this.#draft.text = this.input.value;
      this.#keep();
      this.#autosize();
      this.#count();
      this.#suggest();
      if (this.input.value.trim()) this.#chat.typing(this.#entry);
    });
    this.input.addEventListener('focus', () => this.#labelEnter());
    this.input.addEventListener('blur', () => setTimeout(() => this.#closeSuggestions(), 150));
    this.#fileInput.addEventListener('change', () => {
      for (const file of this.#fileInput.files ?? []) this.addFile(file);
      this.#fileInput.value = '';
    });
    this.input.addEventListener('paste', (event) => {
      for (const file of event.clipboardData?.files ?? []) this.addFile(file);
    });
  }

  /** Starts uploading a file to the conversation's node; it goes out with the next message. */
  addFile(file: File): void {
    const node = this.#chat.domains.get(this.#entry.domain)!;
    const progress = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${file.name}` });
    const abort = new AbortController();
    const attached: DraftFile = {
      name: file.name,
      size: file.size,
      attachment: null,
      done: Promise.resolve(null),
      abort: () => abort.abort(),
      row: null,
    };
    const row = this.#rowOf(attached, progress);
    attached.row = row;
    attached.done = uploadFile(node, file, (f) => (progress.value = f), abort.signal).then(
      (attachment) => {
        attached.attachment = attachment;
        progress.value = 1;
        row.classList.add('uploaded');
        progress.setAttribute('aria-label', `${file.name} uploaded`);
        if (this.#draft.files.includes(attached)) this.#keep();
        return attachment;
      },
      (error: Error) => {
        if (error instanceof HttpError && error.code === 'storage_quota') this.#onStorageFull();
        row.classList.add('failed');
        progress.replaceWith(h('span', { class: 'status status-failed', role: 'alert' }, error.message));
        return null;
      },
    );
    this.#draft.files.push(attached);
    this.#uploadList.append(row);
  }

  /**
   * A file's line: its name and size, how its upload goes (`progress`; none for a file uploaded before
   * the page was reloaded) and a button to take it off the message.
   */
  #rowOf(file: DraftFile, progress: HTMLProgressElement | null): HTMLElement {
    const draft = this.#draft;
    const row = h(
      'li',
      { class: progress ? 'upload' : 'upload uploaded' },
      h('span', { class: 'upload-name' }, `${file.name} (${sizeOf(file.size)})`),
      progress,
    );
    row.append(
      iconButton(`Remove ${file.name}`, ICONS.close, () => {
        file.abort();
        draft.files = draft.files.filter((f) => f !== file);
        row.remove();
        this.#deleteUnsent(file);
        this.#keep();
      }),
    );
    return row;
  }

  /**
   * Deletes a file taken off the message from its node, so that it no longer waits there unsent, counted
   * against the person's storage. Quietly: one that cannot be deleted now goes with the node's sweep.
   */
  #deleteUnsent(file: DraftFile): void {
    const client = this.#chat.clients.get(this.#entry.domain);
    const node = this.#chat.domains.get(this.#entry.domain);
    if (!client || !node) return;
    void file.done
      .then((attachment) => attachment && client.deleteFile(attachment.id, node.url))
      .catch(() => undefined);
  }

  async submit(): Promise<void> {
    const draft = this.#draft;
    const text = this.input.value.trim();
    const files = draft.files;
    if (!text && files.length === 0) return;
    // The node would refuse it, and a Retry would not help: it stays here to be shortened.
    if (this.#count()) return this.input.focus();
    if (files.length > 0) this.#notice.textContent = 'Waiting for uploads to finish…';
    await Promise.all(files.map((f) => f.done));
    // A file taken off meanwhile, or deleted in Your files, no longer goes.
    const attachments = files
      .filter((f) => draft.files.includes(f))
      .flatMap((f) => (f.attachment ? [f.attachment] : []));
    this.#notice.textContent = '';
    if (!text && attachments.length === 0) return;
    const mentions = this.#mentionsIn(text);
    const refused = this.#chat.send(this.#entry, text, mentions, attachments);
    if (refused) {
      this.#notice.textContent = refused;
      return;
    }
    this.#write('');
    draft.notes = [];
    this.#mentioned.clear();
    for (const file of files) file.row?.remove();
    draft.files = draft.files.filter((f) => !files.includes(f));
    this.#keep();
    this.#autosize();
    this.#count();
    this.input.focus();
  }

  /** Puts back a text the node refused, ahead of anything typed since, to be edited and sent again. */
  restore(text: string): void {
    const typed = this.input.value.trim();
    this.#write(typed ? `${text}\n${typed}` : text);
    this.#autosize();
    this.#count();
    this.input.focus();
  }

  /** Puts a text in the box, as the conversation's draft too. */
  #write(text: string): void {
    this.input.value = text;
    this.#draft.text = text;
    this.#keep();
  }

  /** Keeps the draft in the browser as it is now, and says so when it cannot be wholly kept. */
  #keep(): void {
    const why = this.#chat.drafts.changed(this.#entry.key);
    // Said until the person sends or clears: what another tab wrote here, which writing here replaced.
    const replaced = this.#chat.drafts.replacedNote(this.#entry.key);
    if (replaced) this.#notice.textContent = [replaced, why].filter(Boolean).join(' ');
    else if (why === this.#notKept) return;
    else if (why) this.#notice.textContent = why;
    else if (this.#notice.textContent === this.#notKept) this.#notice.textContent = '';
    this.#notKept = why;
  }

  /**
   * Shows how much of the node's text limit is used once it is nearly reached, and says when the text is
   * over it (then true: not to be sent).
   */
  #count(): boolean {
    const limit = this.#chat.clients.get(this.#entry.domain)?.maxTextChars;
    const length = this.input.value.trim().length;
    const over = limit !== undefined && length > limit;
    const near = limit !== undefined && length >= limit * 0.9;
    this.#counter.hidden = !near;
    this.#counter.classList.toggle('over', over);
    if (near) {
      const n = (v: number) => v.toLocaleString('en');
      this.#counter.textContent = over
        ? `${n(length)} / ${n(limit)} characters: ${n(length - limit)} too many to send. Shorten the message or send it in parts.`
        : `${n(length)} / ${n(limit)} characters`;
    }
    if (over) this.input.setAttribute('aria-invalid', 'true');
    else this.input.removeAttribute('aria-invalid');
    this.input.setAttribute('aria-describedby', this.#counter.id);
    return over;
  }

  /** Members named as "@username" in the text: the one picked from the suggestions, else any member of that name. */
  #mentionsIn(text: string): string[] {
    const found = new Set<string>();
    for (const match of text.matchAll(/(?:^|\s)@([\p{L}\p{N}._-]+)/gu)) {
      const local = match[1]!.replace(/[._-]+$/, '').toLowerCase();
      const picked = this.#mentioned.get(local);
      if (picked) found.add(picked);
      else
        for (const address of [...this.#entry.conv.members.map((m) => m.address), ...this.#foundEver])
          if (address !== this.#entry.me && localPart(address).toLowerCase() === local) found.add(address);
    }
    return [...found];
  }

  #autosize(): void {
    fitRows(this.input, 1, 6);
  }

  #onKey(event: KeyboardEvent): void {
    const escaped = this.#escaped;
    this.#escaped = false;
    const open = !this.#suggestions.hidden;
    if (open && (event.key === 'ArrowDown' || event.key === 'ArrowUp')) {
      event.preventDefault();
      const n = this.#options.length;
      this.#highlight((this.#active + (event.key === 'ArrowDown' ? 1 : -1) + n) % n);
      return;
    }
    if (open && (event.key === 'Enter' || event.key === 'Tab') && this.#active >= 0) {
      event.preventDefault();
      this.#pick(this.#options[this.#active]!);
      return;
    }
    if (open && event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      this.#closeSuggestions();
      return;
    }
    // The page's Escape leaves the conversation (PortalApp): a stray one while writing does not, a second does.
    if (event.key === 'Escape' && this.input.value.trim() && !escaped) {
      event.preventDefault();
      this.#escaped = true;
      return;
    }
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && this.#enterSends(event)) {
      event.preventDefault();
      void this.submit();
    }
  }

  /** A stray Enter on a phone's keyboard must not send half a message: there it is the only way to a new line. */
  #enterSends(event: KeyboardEvent): boolean {
    return !isTouchFirst() || event.ctrlKey || event.metaKey;
  }

  /** What an on-screen keyboard's Enter key shows: a new line where it adds one, else Send. */
  #labelEnter(): void {
    this.input.enterKeyHint = isTouchFirst() ? 'enter' : 'send';
  }

  /** The "@word" being typed just before the caret, if any. */
  #query(): { start: number; word: string } | null {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const before = this.input.value.slice(0, caret);
    const match = /(^|\s)@([\p{L}\p{N}._-]*)$/u.exec(before);
    return match ? { start: caret - match[2]!.length - 1, word: match[2]!.toLowerCase() } : null;
  }

  /**
   * Suggests whom to mention: the members the page holds (every member of a group up to the node's
   * VIEW_MEMBERS_MAX) whose username or a word of whose name starts with what was typed, and, of a
   * bigger group, the members its node finds by username as the person types.
   */
  #suggest(): void {
    const query = this.#query();
    if (!query) return this.#closeSuggestions();
    this.#draw(query.word);
    if (query.word && listsSomeMembers(this.#entry.conv)) this.#askNode(query.word);
  }

  /**
   * Asks a big group's node for the members whose username starts with `word`, once typing pauses; an
   * answer to what is no longer typed is dropped. A node that cannot search (an older one, or none
   * online) leaves the suggestions to the members held.
   */
  #askNode(word: string): void {
    clearTimeout(this.#asking);
    const asked = ++this.#asked;
    this.#asking = setTimeout(() => {
      this.#chat.findMembers(this.#entry, word, SUGGESTED).then(
        (members) => {
          if (asked !== this.#asked) return;
          this.#found = members.map((m) => m.address).filter((a) => a !== this.#entry.me);
          for (const address of this.#found) this.#foundEver.add(address);
          this.#draw(word);
          // Their names come from the directory a moment later (perhaps after other people's): drawn again
          // as names come, until all of theirs have, or the list shows something else.
          const unnamed = () => this.#found.some((a) => !this.#chat.names.has(a));
          if (unnamed()) {
            const off = this.#chat.on('names', () => {
              if (asked !== this.#asked || this.#suggestions.hidden) return off();
              this.#draw(word);
              if (!unnamed()) off();
            });
          }
        },
        () => undefined,
      );
    }, ASK_AFTER_MS);
  }

  #draw(word: string): void {
    const name = (address: string) => this.#chat.nameIn(this.#entry, address);
    const held = this.#entry.conv.members
      .filter((m) => m.address !== this.#entry.me)
      .map((m) => ({ address: m.address, name: name(m.address) }))
      .filter(
        (s) =>
          localPart(s.address).toLowerCase().startsWith(word) ||
          s.name
            .toLowerCase()
            .split(/\s+/)
            .some((w) => w.startsWith(word)),
      );
    const shown = new Set(held.map((s) => s.address));
    const found = this.#found
      .filter((a) => !shown.has(a) && localPart(a).startsWith(word))
      .map((a) => ({ address: a, name: name(a) }));
    const active = this.#options[this.#active]?.address;
    this.#options = [...held, ...found].slice(0, SUGGESTED);
    if (this.#options.length === 0) return this.#closeSuggestions();
    this.#suggestions.replaceChildren(
      ...this.#options.map((s, i) =>
        h(
          'li',
          {
            id: `${this.#suggestions.id}-${i}`,
            role: 'option',
            'aria-selected': 'false',
            onmousedown: (e: MouseEvent) => (e.preventDefault(), this.#pick(s)),
          },
          h('strong', {}, s.name),
          h('span', { class: 'muted' }, ` @${localPart(s.address)} · ${s.address.split('@')[1]}`),
        ),
      ),
    );
    this.#suggestions.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    // The node's answer may come while the person moves through the list: the one they are on stays chosen.
    this.#highlight(
      Math.max(
        0,
        this.#options.findIndex((s) => s.address === active),
      ),
    );
  }

  #highlight(index: number): void {
    this.#active = index;
    [...this.#suggestions.children].forEach((li, i) => li.setAttribute('aria-selected', String(i === index)));
    this.input.setAttribute('aria-activedescendant', `${this.#suggestions.id}-${index}`);
  }

  #pick(suggestion: Suggestion): void {
    const query = this.#query();
    if (!query) return;
    const local = localPart(suggestion.address);
    const caret = this.input.selectionStart ?? this.input.value.length;
    this.#write(`${this.input.value.slice(0, query.start)}@${local} ${this.input.value.slice(caret)}`);
    const at = query.start + local.length + 2;
    this.input.setSelectionRange(at, at);
    this.#mentioned.set(local.toLowerCase(), suggestion.address);
    this.#closeSuggestions();
    this.input.focus();
  }

  #closeSuggestions(): void {
    clearTimeout(this.#asking);
    this.#asked++;
    this.#suggestions.hidden = true;
    this.#active = -1;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }
}
