/**
 * Gathers what is handed in during one turn of the event loop and writes it together: many callers
 * answered at once (a flush's worth of receipts, say) cost one write instead of one each. Each caller's
 * promise settles with that write.
 */
export function gatherPerTurn<T>(write: (items: T[]) => Promise<void>): (item: T) => Promise<void> {
  let pending: { item: T; resolve(): void; reject(error: unknown): void }[] = [];
  function writeAll(): void {
    const batch = pending;
    pending = [];
    write(batch.map((p) => p.item)).then(
      () => batch.forEach((p) => p.resolve()),
      (error: unknown) => batch.forEach((p) => p.reject(error)),
    );
  }
  return (item) =>
    new Promise<void>((resolve, reject) => {
      if (pending.length === 0) setImmediate(writeAll);
      pending.push({ item, resolve, reject });
    });
}
