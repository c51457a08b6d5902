import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { expect } from 'vitest';

/**
 * An address of this machine that is not loopback (a network interface's), if it has one: a request sent
 * from it reaches a unit on 127.0.0.1 as if from another machine.
 */
export const OUTSIDE_ADDRESS = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

export type Read = { status: number; code: string | undefined; challenge: string | undefined; text: string };

/** GET `url` (plain http) from `from` (loopback unless given), with `headers`. */
export function getFrom(url: string, options: { from?: string; headers?: Record<string, string> } = {}): Promise<Read> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress: options.from, headers: options.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const json = res.headers['content-type']?.startsWith('application/json');
        const code = json ? (JSON.parse(text) as { error?: { code?: string } }).error?.code : undefined;
        resolve({ status: res.statusCode ?? 0, code, challenge: res.headers['www-authenticate'], text });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A unit without METRICS_TOKEN keeps its /metrics to this machine: a request relayed by a reverse proxy
 * here, or one from another address, is refused, while /healthz answers anyone. Answers the text this
 * machine is given.
 */
export async function metricsForThisMachineOnly(unitUrl: string): Promise<string> {
  const url = `${unitUrl}/metrics`;
  const refused = { status: 401, code: 'unauthenticated' };
  // Relayed by a reverse proxy on this machine: asked for by someone else.
  expect(await getFrom(url, { headers: { 'x-forwarded-for': '203.0.113.9' } })).toMatchObject(refused);
  if (OUTSIDE_ADDRESS) {
    expect(await getFrom(url, { from: OUTSIDE_ADDRESS })).toMatchObject(refused);
    expect((await getFrom(`${unitUrl}/healthz`, { from: OUTSIDE_ADDRESS })).status).toBe(200);
  }
  return (await getFrom(url)).text;
}
