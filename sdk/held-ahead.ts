/**
 * Per conversation, the sequences of entries a device holds past a hole after its cursor: pushed (or
 * acknowledged to it) while an entry before them never came, or has not come yet. The cursor stays
 * below the hole, so that the next sync asks for what is missing, and moves on through these once the
 * hole is filled.
 */
export class HeldAhead {
  #held = new Map<string, Set<number>>();

  get size(): number {
    return this.#held.size;
  }

  has(conversationId: string): boolean {
    return this.#held.has(conversationId);
  }

  conversations(): string[] {
    return [...this.#held.keys()];
  }

  add(conversationId: string, seq: number): void {
    const held = this.#held.get(conversationId);
    if (held) held.add(seq);
    else this.#held.set(conversationId, new Set([seq]));
  }

  /**
   * The cursor after `cursor` through what is held right after it, without a hole; what it passes is let
   * go. Nothing at or before `joinedSeq` was the person's to see, so a hole there is none (someone added
   * back to a group sees only what is said from then on).
   */
  through(conversationId: string, cursor: number, joinedSeq = 0): number {
    const held = this.#held.get(conversationId);
    if (!held) return cursor;
    let at = Math.max(cursor, joinedSeq);
    while (held.delete(at + 1)) at += 1;
    for (const seq of held) if (seq <= at) held.delete(seq);
    if (held.size === 0) this.#held.delete(conversationId);
    return at;
  }

  /** The highest sequence held past a hole, by conversation. */
  highest(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, held] of this.#held) {
      let top = 0;
      for (const seq of held) top = Math.max(top, seq);
      out.set(id, top);
    }
    return out;
  }

  forget(conversationId: string): void {
    this.#held.delete(conversationId);
  }
}
