import { describe, expect, it } from 'vitest';
import { latencyVerdict } from '../../bench/search/report.ts';

const run = (kind: 'sqlite' | 'mariadb', p95: number) => ({
  kind,
  searches: {
    all: { count: 200, p50: p95 / 2, p95, p99: p95, max: p95, mean: p95 / 2 },
    byKind: [],
    rounds: 2,
    held: { p99: 1, max: 2 },
  },
});

describe("bench:search's verdict on the latency target", () => {
  it('says a database that was not measured, rather than missed, when the measured one is within it', () => {
    expect(latencyVerdict([run('sqlite', 28)])).toBe('not measured on MariaDB');
    expect(latencyVerdict([run('mariadb', 80)])).toBe('not measured on SQLite');
  });

  it('is met only with both databases within it, and missed as soon as one is not', () => {
    expect(latencyVerdict([run('sqlite', 28), run('mariadb', 95)])).toBe('**met**');
    expect(latencyVerdict([run('sqlite', 28), run('mariadb', 141)])).toBe('**missed**');
    expect(latencyVerdict([run('mariadb', 141)])).toBe('**missed**');
  });
});
