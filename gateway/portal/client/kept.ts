/*
 * What the page keeps of one signed-in person in the browser's storage, under their user id: whoever
 * signs in next at the same browser (a shared lab computer) never gets it, and signing out removes it
 * (forgetPerson). Storage the browser refuses (private windows, a full quota) leaves it in memory only.
 */

import type { UploadedAttachment } from '../../../sdk/client.ts';
import type { KeptDraft } from './drafts.ts';
import { isKeptDraft, isKeptUnsent } from './kept-writing.ts';

const readsKey = (user: string) => `atrium.unsent-reads.${user}`;
const namesKey = (user: string) => `atrium.names.${user}`;
const draftsKey = (user: string) => `atrium.drafts.${user}`;

/** How many people's names are kept at most: the latest looked up stay. */
const NAMES_KEPT = 1_000;

function load(storage: Storage, key: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(storage.getItem(key) ?? '{}');
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function save(storage: Storage, key: string, value: Record<string, unknown>): void {
  try {
    if (Object.keys(value).length === 0) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // Refused: kept in memory for this page only.
  }
}

/**
 * Conversations read while their node was out of reach, with the highest seq read, by conversation key
 * (`domain/conversationId`). In localStorage: a tab closed before the node came back leaves them for
 * the person's next tab to tell. They hold no text and no names, only where reading got to.
 */
export class KeptReads {
  #key: string;
  #memory: Record<string, number> = {};

  constructor(user: string) {
    this.#key = readsKey(user);
  }

  #all(): Record<string, number> {
    const stored = load(localStorage, this.#key);
    const reads: Record<string, number> = { ...this.#memory };
    for (const [key, seq] of Object.entries(stored))
      if (Number.isSafeInteger(seq) && (seq as number) > 0) reads[key] = Math.max(seq as number, reads[key] ?? 0);
    return reads;
  }

  #store(reads: Record<string, number>): void {
    this.#memory = reads;
    save(localStorage, this.#key, reads);
  }

  add(key: string, seq: number): void {
    const reads = this.#all();
    if ((reads[key] ?? 0) >= seq) return;
    reads[key] = seq;
    this.#store(reads);
  }

  /** The node was told up to `seq`: forgotten, unless something later was read meanwhile. */
  told(key: string, seq: number): void {
    const reads = this.#all();
    if (reads[key] === undefined || reads[key] > seq) return;
    delete reads[key];
    this.#store(reads);
  }

  /** Those of one domain's node, to tell it. */
  of(domain: string): { key: string; conversationId: string; seq: number }[] {
    return Object.entries(this.#all())
      .filter(([key]) => key.startsWith(`${domain}/`))
      .map(([key, seq]) => ({ key, conversationId: key.slice(domain.length + 1), seq }));
  }
}

/**
 * People's names as the directory last gave them, by address, so that a page opened again shows them at
 * once rather than usernames until the directory answers. In sessionStorage: kept across reloads of the
 * tab, gone with it; who someone chats with stays out of the browser's lasting storage.
 */
export class KeptNames {
  #key: string;
  #names = new Map<string, string>();

  constructor(user: string) {
    this.#key = namesKey(user);
    for (const [address, name] of Object.entries(load(sessionStorage, this.#key)))
      if (typeof name === 'string' && name) this.#names.set(address, name);
  }

  get(address: string): string | undefined {
    return this.#names.get(address);
  }

  keep(found: Iterable<[string, string]>): void {
    for (const [address, name] of found) {
      this.#names.delete(address);
      this.#names.set(address, name);
    }
    const over = this.#names.size - NAMES_KEPT;
    if (over > 0) for (const address of [...this.#names.keys()].slice(0, over)) this.#names.delete(address);
    save(sessionStorage, this.#key, Object.fromEntries(this.#names));
  }
}

/**
 * A message that did not go (its node, or the college hosting its conversation, was out of reach), by
 * conversation key, with its client id: sent again with that id, its node stores it once at most.
 */
export type KeptUnsent = {
  key: string;
  clientMsgId: string;
  text: string;
  mentions: string[];
  attachments: UploadedAttachment[];
  createdAt: string;
  /** Why it did not go, as the page said it; none when it was still on its way as the page went. */
  error?: string;
  errorCode?: string;
};

/**
 * What was being written, and in which conversation the person was (its route), when the page went; and
 * the messages that had not gone yet.
 */
export type KeptInTab = { open: string | null; drafts: KeptDraft[]; unsent: KeptUnsent[] };

/**
 * Kept in sessionStorage for the same person's next page in this tab (a reload, or "Sign in again" once
 * the session ended); read once. Drafts and unsent messages live in the browser's lasting storage
 * (kept-writing.ts); they come here only when that was wiped as the person signed out in another tab,
 * for this tab's sign-in again, and go with the tab.
 */
export function keepInTab(user: string, kept: KeptInTab): void {
  const worth = kept.open !== null || kept.drafts.length > 0 || kept.unsent.length > 0;
  save(sessionStorage, draftsKey(user), worth ? kept : {});
}

export function takeFromTab(user: string): KeptInTab {
  const kept = load(sessionStorage, draftsKey(user));
  save(sessionStorage, draftsKey(user), {});
  return {
    open: typeof kept.open === 'string' ? kept.open : null,
    drafts: Array.isArray(kept.drafts) ? kept.drafts.filter(isKeptDraft) : [],
    unsent: Array.isArray(kept.unsent) ? kept.unsent.filter(isKeptUnsent) : [],
  };
}

/**
 * The session ended: nothing of the person's chats stays in this browser's storage. What they wrote goes
 * too when they signed out (forgetWriting).
 */
export function forgetPerson(user: string): void {
  for (const [storage, key] of [
    [localStorage, readsKey(user)],
    [sessionStorage, namesKey(user)],
    [sessionStorage, draftsKey(user)],
  ] as const) {
    try {
      storage.removeItem(key);
    } catch {
      // Storage refused: there was nothing kept there either.
    }
  }
}
