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

/** A draft as the browser keeps it across a reload: its uploaded files alone, by id. */
export type KeptDraft = { key: string; text: string; files: UploadedAttachment[] };

/**
 * The drafts of the page, by conversation key (`domain/conversationId`): a conversation left and opened
 * again finds what was typed and attached there, and its files are not left behind on the node unsent.
 */
export class Drafts {
  #drafts = new Map<string, Draft>();

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
    }
  }

  /** What is worth keeping across a reload: drafts with text or uploaded files. */
  kept(): KeptDraft[] {
    return [...this.#drafts]
      .map(([key, draft]) => ({
        key,
        text: draft.text,
        files: draft.files.flatMap((f) => (f.attachment ? [f.attachment] : [])),
      }))
      .filter((draft) => draft.text.trim() || draft.files.length > 0);
  }

  /** Drafts kept before a reload or the end of a session, back as they were (uploads done). */
  restore(kept: KeptDraft[]): void {
    for (const { key, text, files } of kept)
      this.#drafts.set(key, {
        text,
        files: files.map((attachment) => ({
          name: attachment.name,
          size: attachment.size,
          attachment,
          done: Promise.resolve(attachment),
          abort: () => undefined,
          row: null,
        })),
        notes: [],
      });
  }

  /** Signed out or access ended: nothing of the person's writing stays in the page. */
  clear(): void {
    for (const draft of this.#drafts.values()) for (const file of draft.files) file.abort();
    this.#drafts.clear();
  }
}
