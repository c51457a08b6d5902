import { readFileSync } from 'node:fs';

export type LogSummary = { errors: number; warnings: number; top: { message: string; count: number }[] };

/** Counts of a process's warnings and errors (pino JSON lines, read from its log files), by message. */
export function summariseLogs(files: string[]): LogSummary {
  const out: LogSummary = { errors: 0, warnings: 0, top: [] };
  const byMessage = new Map<string, number>();
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        if ((entry.level ?? 0) >= 50) out.errors += 1;
        else if ((entry.level ?? 0) >= 40) out.warnings += 1;
        else continue;
        const key = `${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message}` : ''}`.slice(0, 200);
        byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
      } catch {
        // not a log line
      }
    }
  }
  out.top = [...byMessage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([message, count]) => ({ message, count }));
  return out;
}
