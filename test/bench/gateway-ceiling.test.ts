import { describe, expect, it } from 'vitest';
import { ceilings, cpuPerOperation } from '../../bench/gateway/ceiling.ts';
import type { ServerRun, Step } from '../../bench/gateway/report.ts';

/** A step of `ops` operations over 10 s at the given CPU (% of one core). */
function step(flow: string, perSecond: number, cpu: { server: number; load: number; database?: number }): Step {
  return {
    flow,
    concurrency: 16,
    result: { ops: perSecond * 10, allOps: perSecond * 11, seconds: 10, errors: 0, latency: [] } as never,
    serverCpu: cpu.server,
    loadCpu: cpu.load,
    databaseCpu: cpu.database,
  };
}

const server = (kind: ServerRun['kind'], steps: Step[]): ServerRun => ({
  kind,
  label: kind,
  version: '',
  signIns: { count: 0, seconds: 0, perSecond: 0 },
  steps,
});

describe("bench:gateway's machine ceiling", () => {
  it("reads each gateway against its own database's stand-in at their best steps, and the stand-in against bare", () => {
    const rows = ceilings(
      [
        server('bare', [step('refresh', 1000, { server: 150, load: 20 })]),
        server('standin-mariadb', [
          step('refresh', 500, { server: 100, load: 10, database: 50 }),
          step('refresh', 600, { server: 110, load: 10, database: 60 }),
          step('refresh', 550, { server: 110, load: 10, database: 60 }),
        ]),
        server('mariadb', [step('refresh', 450, { server: 120, load: 10, database: 40 })]),
      ],
      ['refresh'],
    );
    expect(rows).toEqual([
      {
        flow: 'refresh',
        database: 'mariadb',
        gateway: 450,
        standin: 600,
        bare: 1000,
        gatewayOfStandin: 0.75,
        standinOfBare: 0.6,
        // Per operation: bare 1.7 ms, stand-in 3 ms, gateway 3.78 ms of the machine's CPU.
        gatewayOfStandinByCpu: expect.closeTo(3 / 3.7777, 3),
        standinOfBareByCpu: expect.closeTo(1.7 / 3, 3),
      },
    ]);
  });

  it('gives no ratio to a server that did not run, and no row for a database where neither ran', () => {
    const [row, ...others] = ceilings([server('sqlite', [step('silent', 300, { server: 100, load: 10 })])], ['silent']);
    expect(others).toEqual([]);
    expect(row).toMatchObject({ database: 'sqlite', gateway: 300 });
    expect(row?.gatewayOfStandin).toBeNaN();
    expect(row?.standinOfBare).toBeNaN();
    expect(row?.gatewayOfStandinByCpu).toBeNaN();
  });

  it("counts the whole machine's CPU per operation: server, load and MariaDB", () => {
    // 500/s on 160% of a core: 3.2 ms of CPU per operation, 2 of them the server's.
    const perOp = cpuPerOperation(step('refresh', 500, { server: 100, load: 10, database: 50 }));
    expect(perOp.server).toBeCloseTo(2);
    expect(perOp.load).toBeCloseTo(0.2);
    expect(perOp.database).toBeCloseTo(1);
    expect(perOp.machine).toBeCloseTo(3.2);
    expect(cpuPerOperation(step('refresh', 1000, { server: 150, load: 20 })).machine).toBeCloseTo(1.7);
  });
});
