export type ProgressBar = { update(label: string, done: number, total: number): void; end(): void };

/**
 * `importing [#########...........] 120/400` redrawn in place on a terminal, at most ten times a second;
 * null when the stream is not a terminal, so logs and pipes get no control characters.
 */
export function createProgressBar(stream: NodeJS.WriteStream, width = 30): ProgressBar | null {
  if (!stream.isTTY) return null;
  let label: string | null = null;
  let lastDraw = 0;
  return {
    update(next, done, total) {
      const now = Date.now();
      if (next === label && done < total && now - lastDraw < 100) return;
      if (label !== null && next !== label) stream.write('\n');
      label = next;
      lastDraw = now;
      const filled = total === 0 ? width : Math.round((width * done) / total);
      stream.write(`\r${next} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
    },
    end() {
      if (label !== null) stream.write('\n');
      label = null;
    },
  };
}
