import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

import { calibrate, type Calibration } from './calibration.ts';

export type Machine = {
  cores: number;
  memoryGiB: number;
  cpuModel: string;
  node: string;
  kernel: string;
  openFilesLimit: string;
  calibration: Calibration;
};

/** What the machine is, and how fast it is today (bench/shared/calibration.ts): call it before starting anything. */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = safeRead('/proc/cpuinfo');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const limits = safeRead('/proc/self/limits');
  const files = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  return {
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpuModel: model,
    node: process.version,
    kernel: release(),
    openFilesLimit: files ? `${files[1]} soft / ${files[2]} hard` : 'unknown',
    calibration: await calibrate(),
  };
}

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** CPU seconds (user + system) a process has used so far, from /proc; null when it cannot be read. */
export function processCpuSeconds(pid: number): number | null {
  const stat = safeRead(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** Busy and total jiffies of the whole machine, to show how much of the 2 cores anything used. */
export function machineCpuTicks(): { busy: number; total: number } {
  const line = safeRead('/proc/stat').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** The pid of the local MariaDB server, found by reading /proc (only read, never signalled). */
export function findMariadbPid(): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = safeRead(`/proc/${entry}/comm`).trim();
    if (comm === 'mariadbd' || comm === 'mysqld') return Number(entry);
  }
  return null;
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
