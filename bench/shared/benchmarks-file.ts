import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** What a new BENCHMARKS.md starts with, before any benchmark has written its section. */
export const BENCHMARKS_PREAMBLE =
  '# Benchmarks\n\nFigures measured by the benchmarks in `bench/` (see bench/README.md). Each section is rewritten by its benchmark.\n';

/**
 * Writes one benchmark's section (markdown starting with `## <heading>`) into the benchmarks file:
 * replaces the section of that heading, up to the next `## ` heading, and leaves every other section as
 * it is; a section not there yet is appended at the end.
 */
export function writeSection(file: string, heading: string, section: string): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : BENCHMARKS_PREAMBLE;
  const start = findHeading(current, heading);
  let next: string;
  if (start < 0) next = `${current.trimEnd()}\n\n${section}`;
  else {
    const after = current.indexOf('\n## ', start + 1);
    next = `${current.slice(0, start).trimEnd()}\n\n${section}${after < 0 ? '' : `\n${current.slice(after + 1)}`}`;
  }
  writeFileSync(file, `${next.trimEnd()}\n`);
}

/** Where the line `## <heading>` starts (at its preceding newline), or -1; a longer heading that merely starts the same does not count. */
function findHeading(text: string, heading: string): number {
  const marker = `\n## ${heading}`;
  for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + 1)) {
    const end = at + marker.length;
    if (end === text.length || text[end] === '\n' || text[end] === '\r') return at;
  }
  return -1;
}

/**
 * Prints a benchmark's section and, where the run writes, puts it into `file` (BENCHMARKS.md, or the
 * `--out=` file) in place of the section of the same heading.
 */
export function publishSection(
  heading: string,
  section: string,
  options: { write: boolean; file: string; log: (line: string) => void },
): void {
  console.log(`\n${section}`);
  if (!options.write) return;
  writeSection(options.file, heading, section);
  options.log(`wrote the "${heading}" section of ${options.file}`);
}
