/**
 * Two quick figures that say how fast this machine is at what the benchmarks spend their time on, so
 * that runs on different machines (or on one virtual machine on a busy and a quiet day) can be compared:
 *  - a fixed piece of plain JavaScript work, timed (CPU speed);
 *  - round trips of a 100-byte message over loopback TCP between two processes (system calls, the
 *    network stack and waking another process: the cost of every frame a socket sends or receives).
 * Measured before the benchmark starts anything, the best of a few tries.
 */
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { performance } from 'node:perf_hooks';

export type Calibration = { jsLoopMs: number; tcpRoundTripUs: number };

const ECHO_SERVER = `
  const server = require('node:net').createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); });
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
  process.on('disconnect', () => process.exit(0));
`;

/** A fixed amount of integer and array work; its result is returned so that it cannot be optimised away. */
function jsWork(): number {
  let sum = 0;
  const list = new Array<number>(1000);
  for (let round = 0; round < 20_000; round++) {
    for (let i = 0; i < list.length; i++) list[i] = (i * round) % 7;
    for (let i = 0; i < list.length; i++) sum += list[i]!;
  }
  return sum;
}

function timeJs(): number {
  let best = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = performance.now();
    sink += jsWork();
    best = Math.min(best, performance.now() - started);
  }
  if (sink < 0) throw new Error('unreachable');
  return best;
}

async function timeTcpRoundTrips(roundTrips: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(Number(m)));
      child.once('error', reject);
    });
    const socket = createConnection({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const payload = Buffer.alloc(100, 'x');
    let best = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 3; attempt++) {
      const started = performance.now();
      await new Promise<void>((resolve) => {
        let left = roundTrips;
        let received = 0;
        const onData = (data: Buffer) => {
          received += data.length;
          while (received >= payload.length) {
            received -= payload.length;
            left -= 1;
            if (left === 0) {
              socket.off('data', onData);
              return resolve();
            }
            socket.write(payload);
          }
        };
        socket.on('data', onData);
        socket.write(payload);
      });
      best = Math.min(best, ((performance.now() - started) * 1000) / roundTrips);
    }
    socket.destroy();
    return best;
  } finally {
    child.kill();
  }
}

export async function calibrate(): Promise<Calibration> {
  return { jsLoopMs: timeJs(), tcpRoundTripUs: await timeTcpRoundTrips(5_000) };
}

export function describeCalibration(c: Calibration): string {
  return `calibration (the lower, the faster the machine): ${c.jsLoopMs.toFixed(0)} ms for a fixed piece of JavaScript, ${c.tcpRoundTripUs.toFixed(1)} µs per loopback TCP round trip between two processes`;
}
