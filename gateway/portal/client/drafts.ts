import type { UploadedAttachment } from '../../../sdk/client.ts';

/** A file attached to a draft: being uploaded, uploaded (`attachment`), or refused. */
export type DraftFile = {
  name: string;
  size: number;
  /** The file as its node keeps it, once uploaded. */
  attachment: UploadedAttachment | null;
  /** Settles once the upload ends: with the file, or null when it was refused or cancelled. */
  done: Promise<UploadedAttachment | null>;
  /** Cancels an upload still under way. */
  abort: () => void;
  /**
   * Its line in the message box, made when first shown: the same element in every view of the
   * conversation, so that an upload's progress goes on while the person is elsewhere.
   */
  row: HTMLElement | null;
};

/** What is being written in one conversation, and the files to go with it. */
export type Draft = {
  text: string;
  files: DraftFile[];
  /** Why files are no longer attached, said in the message box when the conversation is next shown. */
  notes: string[];
};

/** A draft as the browser keeps it (kept-writing.ts): its uploaded files alone, by id. */
export type KeptDraft = { key: string; text: string; files: UploadedAttachment[] };

/** How much of another tab's replaced draft is quoted back to the person. */
const QUOTED = 300;

/** A draft as it was kept: its text, and its files uploaded already. */
function restored(text: string, files: UploadedAttachment[]): Pick<Draft, 'text' | 'files'> {
  return {
    text,
    files: files.map((attachment) => ({
      name: attachment.name,
      size: attachment.size,
      attachment,
      done: Promise.resolve(attachment),
      abort: () => undefined,
      row: null,
    })),
  };
}

/**
 * The drafts of the page, by conversation key (`domain/conversationId`): a conversation left and opened
 * again finds what was typed and attached there, and its files are not left behind on the node unsent.
 */
export class Drafts {
  #drafts = new Map<string, Draft>();
  /**
   * Drafts another tab changed while their conversation was on screen here, as that tab left them: this
   * page's copy follows when the person leaves the conversation (`left`), unless they write here first.
   */
  #missed = new Map<string, KeptDraft | null>();
  /** What another tab had written that writing here replaced, to be told once (`replacedNote`). */
  #replaced = new Map<string, string>();
  /** Keeps a draft as it changes (kept-writing.ts); says why it is not wholly kept, if it is not. */
  #keep: (key: string, kept: KeptDraft | null) => string;

  constructor(keep: (key: string, kept: KeptDraft | null) => string = () => '') {
    this.#keep = keep;
  }

  /** The draft of a conversation, empty until something is written there. */
  of(key: string): Draft {
    let draft = this.#drafts.get(key);
    if (!draft) {
      draft = { text: '', files: [], notes: [] };
      this.#drafts.set(key, draft);
    }
    return draft;
  }

  /**
   * The person deleted one of their files on `domain`'s node (Your files): any draft there that was to
   * carry it no longer does, and says so, rather than send without it unannounced.
   */
  fileDeleted(domain: string, attachmentId: string): void {
    for (const [key, draft] of this.#drafts) {
      if (!key.startsWith(`${domain}/`)) continue;
      const gone = draft.files.filter((f) => f.attachment?.id === attachmentId);
      if (gone.length === 0) continue;
      draft.files = draft.files.filter((f) => !gone.includes(f));
      for (const file of gone) {
        file.row?.remove();
        draft.notes.push(`${file.name} was deleted, so it is no longer attached.`);
      }
      this.changed(key);
    }
  }

  /**
   * A conversation's draft changed (typed, a file uploaded or taken off, sent): kept as it is now, so that
   * it comes back after the page closes. Says why it is not wholly kept, if it is not.
   */
  changed(key: string): string {
    const draft = this.#drafts.get(key);
    this.#overriding(key, draft);
    if (!draft) return this.#keep(key, null);
    const files = draft.files.flatMap((f) => (f.attachment ? [f.attachment] : []));
    return this.#keep(key, draft.text.trim() || files.length > 0 ? { key, text: draft.text, files } : null);
  }

  /** Whether some draft has something in it. */
  get any(): boolean {
    return [...this.#drafts.values()].some((d) => d.text.trim() || d.files.length > 0);
  }

  /** The drafts with text or uploaded files, as the browser keeps them. */
  kept(): KeptDraft[] {
    return [...this.#drafts]
      .map(([key, draft]) => ({
        key,
        text: draft.text,
        files: draft.files.flatMap((f) => (f.attachment ? [f.attachment] : [])),
      }))
      .filter((draft) => draft.text.trim() || draft.files.length > 0);
  }

  /**
   * Drafts kept before this page (closed, reloaded, or written in another tab), back as they were
   * (uploads done). A draft object keeps its identity: a composer built on it later shows what came.
   */
  restore(kept: KeptDraft[]): void {
    for (const { key, text, files } of kept) Object.assign(this.of(key), restored(text, files));
  }

  /**
   * The newer edit wins. Writing here after another tab changed the draft keeps what is written here, and
   * what the other tab had written, if anything that differs, is kept aside to be told (never dropped unsaid).
   */
  #overriding(key: string, draft: Draft | undefined): void {
    if (!this.#missed.has(key)) return;
    const theirs = this.#missed.get(key);
    this.#missed.delete(key);
    if (!theirs || (theirs.text === draft?.text && theirs.files.length === 0)) return;
    const text = theirs.text.trim();
    const quoted = text.length > QUOTED ? `${text.slice(0, QUOTED)}…` : text;
    const files = theirs.files.length;
    const what = [
      quoted ? `“${quoted}”` : '',
      files > 0 ? `${files} attached file${files === 1 ? '' : 's'}` : '',
    ].filter(Boolean);
    this.#replaced.set(
      key,
      `This replaced the draft written here in another tab meanwhile, which was: ${what.join(' with ')}.`,
    );
  }

  /** Said once, when writing here replaced what another tab wrote in the same conversation. */
  replacedNote(key: string): string {
    const note = this.#replaced.get(key) ?? '';
    this.#replaced.delete(key);
    return note;
  }

  /**
   * Another tab changed or cleared a draft: this page's copy follows, but not while its conversation is on
   * screen here (what the person sees is not changed under them): then when they leave it (`left`).
   */
  follow(key: string, kept: KeptDraft | null, onScreen = false): void {
    if (onScreen) {
      this.#missed.set(key, kept);
      return;
    }
    this.#missed.delete(key);
    const draft = this.of(key);
    for (const file of draft.files) file.row?.remove();
    Object.assign(draft, restored(kept?.text ?? '', kept?.files ?? []));
  }

  /** The person left a conversation: its draft follows what another tab wrote meanwhile, if it did. */
  left(key: string): void {
    if (this.#missed.has(key)) this.follow(key, this.#missed.get(key) ?? null);
  }

  /** Signed out or access ended: nothing of the person's writing stays in the page. */
  clear(): void {
    this.#missed.clear();
    this.#replaced.clear();
    for (const draft of this.#drafts.values()) for (const file of draft.files) file.abort();
    this.#drafts.clear();
  }
}
