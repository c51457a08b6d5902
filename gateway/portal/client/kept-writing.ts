/*
 * What the person wrote and has not sent, kept in the browser until it is sent, cleared or they sign out:
 * drafts by conversation, and messages not acknowledged yet by their node, by client id.
 *
 * In localStorage, not IndexedDB: it is written synchronously, so each change is kept the moment it is
 * made (a crash or a tab closed while offline loses nothing, where an IndexedDB transaction begun as the
 * page goes may never commit); every tab of the browser sees it, and hears of others' changes through
 * `storage` events; and what is kept is small and bounded (below), far under its quota.
 *
 * One entry per draft and per message, under the person's user id (`atrium.writing.<user>.…`): two tabs
 * writing in different conversations never overwrite each other, whoever signs in next at the same
 * browser never gets them, and signing out removes them all (forgetWriting). A conversation key names its
 * node (`domain/conversationId`), and so does every draft and message kept.
 */

import type { UploadedAttachment } from '../../../sdk/client.ts';
import type { KeptDraft } from './drafts.ts';
import type { KeptUnsent } from './kept.ts';

/** The longest draft kept, in characters: far over any node's message limit. */
export const DRAFT_CHARS_KEPT = 20_000;
/** How many conversations' drafts are kept at most. */
export const DRAFTS_KEPT = 100;
/** How many messages may wait to be sent at most. */
export const UNSENT_KEPT = 100;

const prefixOf = (user: string) => `atrium.writing.${user}.`;
const DRAFT = 'draft.';
const UNSENT = 'unsent.';

const isFile = (file: unknown): file is UploadedAttachment => {
  const f = file as Partial<UploadedAttachment> | null;
  return (
    typeof f?.id === 'string' &&
    typeof f.name === 'string' &&
    typeof f.contentType === 'string' &&
    Number.isSafeInteger(f.size)
  );
};

export const isKeptDraft = (draft: unknown): draft is KeptDraft => {
  const d = draft as Partial<KeptDraft> | null;
  return typeof d?.key === 'string' && typeof d.text === 'string' && Array.isArray(d.files) && d.files.every(isFile);
};

export const isKeptUnsent = (unsent: unknown): unsent is KeptUnsent => {
  const u = unsent as Partial<KeptUnsent> | null;
  return (
    typeof u?.key === 'string' &&
    typeof u.clientMsgId === 'string' &&
    typeof u.text === 'string' &&
    typeof u.createdAt === 'string' &&
    Array.isArray(u.mentions) &&
    u.mentions.every((m) => typeof m === 'string') &&
    Array.isArray(u.attachments) &&
    u.attachments.every(isFile) &&
    (u.error === undefined || typeof u.error === 'string') &&
    (u.errorCode === undefined || typeof u.errorCode === 'string')
  );
};

function parse(raw: string | null): unknown {
  try {
    return raw === null ? null : JSON.parse(raw);
  } catch {
    return null;
  }
}

/** The browser's lasting storage, or none where it refuses it (some private windows, a disabled one). */
function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** Why a draft is not (wholly) kept, for the person; empty when it is. */
export type DraftKept = '' | string;

/** A change another tab made to the person's writing, as a `storage` event tells it. */
export type WritingChange =
  | { kind: 'draft'; key: string; draft: KeptDraft | null }
  | { kind: 'unsent'; clientMsgId: string; unsent: KeptUnsent | null };

/** The person's drafts and unsent messages in this browser (see the top of this file). */
export class KeptWriting {
  readonly #prefix: string;

  constructor(user: string) {
    this.#prefix = prefixOf(user);
  }

  #keys(kind: string): string[] {
    const store = storage();
    if (!store) return [];
    const keys: string[] = [];
    for (let i = 0; i < store.length; i++) {
      const key = store.key(i);
      if (key?.startsWith(this.#prefix + kind)) keys.push(key);
    }
    return keys;
  }

  #set(key: string, value: unknown): boolean {
    try {
      storage()?.setItem(key, JSON.stringify(value));
      return storage() !== null;
    } catch {
      return false;
    }
  }

  #remove(key: string): void {
    try {
      storage()?.removeItem(key);
    } catch {
      // Storage refused: nothing was kept there either.
    }
  }

  drafts(): KeptDraft[] {
    return this.#keys(DRAFT)
      .map((key) => parse(storage()?.getItem(key) ?? null))
      .filter(isKeptDraft);
  }

  /** Keeps a conversation's draft (none: it was sent or cleared); says why when it is not wholly kept. */
  keepDraft(draft: KeptDraft | null, key: string): DraftKept {
    const at = this.#prefix + DRAFT + key;
    if (!draft || (!draft.text.trim() && draft.files.length === 0)) {
      this.#remove(at);
      return '';
    }
    if (storage()?.getItem(at) == null && this.#keys(DRAFT).length >= DRAFTS_KEPT)
      return `Drafts of ${DRAFTS_KEPT} other conversations are kept in this browser already, the most it keeps: this one is lost if the page closes. Send or clear one of them to keep it.`;
    const long = draft.text.length > DRAFT_CHARS_KEPT;
    const kept = long ? { ...draft, text: draft.text.slice(0, DRAFT_CHARS_KEPT) } : draft;
    if (!this.#set(at, kept))
      return 'This browser does not let the portal keep this draft (its storage is full or turned off): it is lost if the page closes.';
    return long
      ? `This draft is longer than ${DRAFT_CHARS_KEPT.toLocaleString('en')} characters: only its beginning comes back if the page closes.`
      : '';
  }

  unsent(): KeptUnsent[] {
    return this.#keys(UNSENT)
      .map((key) => parse(storage()?.getItem(key) ?? null))
      .filter(isKeptUnsent)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** How many messages wait to be sent in this browser, from any tab, besides this one. */
  unsentBesides(clientMsgId: string): number {
    return this.#keys(UNSENT).filter((key) => key !== this.#prefix + UNSENT + clientMsgId).length;
  }

  /** Keeps a message until its node acknowledges it; false when the browser refuses. */
  keepUnsent(unsent: KeptUnsent): boolean {
    return this.#set(this.#prefix + UNSENT + unsent.clientMsgId, unsent);
  }

  dropUnsent(clientMsgId: string): void {
    this.#remove(this.#prefix + UNSENT + clientMsgId);
  }

  /** What a `storage` event says another tab changed of this person's writing, if it is that. */
  changeOf(event: StorageEvent): WritingChange | null {
    const key = event.key;
    if (!key?.startsWith(this.#prefix)) return null;
    const rest = key.slice(this.#prefix.length);
    const value = parse(event.newValue);
    if (rest.startsWith(DRAFT)) {
      const conversation = rest.slice(DRAFT.length);
      return { kind: 'draft', key: conversation, draft: isKeptDraft(value) ? value : null };
    }
    if (rest.startsWith(UNSENT))
      return { kind: 'unsent', clientMsgId: rest.slice(UNSENT.length), unsent: isKeptUnsent(value) ? value : null };
    return null;
  }
}

/** Signing out (or the person's access ended): nothing they wrote stays in this browser. */
export function forgetWriting(user: string): void {
  const store = storage();
  if (!store) return;
  const prefix = prefixOf(user);
  const keys: string[] = [];
  for (let i = 0; i < store.length; i++) {
    const key = store.key(i);
    if (key?.startsWith(prefix)) keys.push(key);
  }
  for (const key of keys) store.removeItem(key);
}
