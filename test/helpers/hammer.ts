import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import WebSocket from 'ws';

export type Probe = { method?: 'GET' | 'POST'; path: string; body?: string } | { upgrade: string };

/** What became of one request: a status, no connection at all, a connection closed without a status, or nothing in time. */
export type Answer =
  | {
      kind: 'status';
      probe: string;
      status: number;
      retryAfter: string | null;
      connection: string | null;
      body: string;
    }
  | { kind: 'upgraded'; probe: string; close: Promise<{ code: number; reason: string } | 'hung'> }
  | { kind: 'refused'; probe: string }
  | { kind: 'closed'; probe: string; error: string }
  | { kind: 'hung'; probe: string };

export type Hammer = {
  answers: Answer[];
  /** Stops firing and waits for the requests under way and the sockets left open (each bounded by timeoutMs). */
  stop(): Promise<Answer[]>;
};

const label = (probe: Probe) =>
  'upgrade' in probe ? `upgrade ${probe.upgrade}` : `${probe.method ?? 'GET'} ${probe.path}`;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function errorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? (error as { code?: string }).code ?? cause?.message ?? String(error);
}

/**
 * Fires the probes at 127.0.0.1:port in a loop from several workers, as clients that keep retrying
 * would: HTTP through fetch (keep-alive connections, reused), upgrades through the `ws` client. An
 * upgraded socket is closed by the client at once, or with keepOpen left open to see how the unit
 * closes it (the close is awaited up to timeoutMs).
 */
export function hammer(
  port: number,
  probes: Probe[],
  options: { workers?: number; timeoutMs?: number; keepOpen?: boolean } = {},
): Hammer {
  const timeoutMs = options.timeoutMs ?? 8_000;
  const answers: Answer[] = [];
  let running = true;
  let next = 0;

  async function http(probe: Extract<Probe, { path: string }>): Promise<Answer> {
    const name = label(probe);
    try {
      const response = await fetch(`http://127.0.0.1:${port}${probe.path}`, {
        method: probe.method ?? 'GET',
        body: probe.body,
        headers: probe.body ? { 'content-type': 'application/json' } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await response.text();
      return {
        kind: 'status',
        probe: name,
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        connection: response.headers.get('connection'),
        body,
      };
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') return { kind: 'hung', probe: name };
      const code = errorCode(error);
      return code === 'ECONNREFUSED' ? { kind: 'refused', probe: name } : { kind: 'closed', probe: name, error: code };
    }
  }

  function upgrade(path: string): Promise<Answer> {
    const name = `upgrade ${path}`;
    return new Promise((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, ['atrium.v1'], { handshakeTimeout: timeoutMs });
      socket.on('unexpected-response', (request, response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (d: string) => (body += d));
        response.on('end', () => {
          resolve({
            kind: 'status',
            probe: name,
            status: response.statusCode ?? 0,
            retryAfter: String(response.headers['retry-after'] ?? '') || null,
            connection: String(response.headers.connection ?? '') || null,
            body,
          });
          request.destroy();
        });
        response.on('error', () => undefined);
      });
      socket.on('error', (error) => {
        const code = errorCode(error);
        if (/handshake has timed out/i.test(code)) resolve({ kind: 'hung', probe: name });
        else
          resolve(
            code === 'ECONNREFUSED' ? { kind: 'refused', probe: name } : { kind: 'closed', probe: name, error: code },
          );
      });
      socket.on('open', () => {
        const close = new Promise<{ code: number; reason: string }>((done) =>
          socket.on('close', (code, reason) => done({ code, reason: String(reason) })),
        );
        if (!options.keepOpen) socket.close();
        resolve({ kind: 'upgraded', probe: name, close });
      });
    });
  }

  async function worker() {
    while (running) {
      const probe = probes[next++ % probes.length]!;
      const answer = 'upgrade' in probe ? await upgrade(probe.upgrade) : await http(probe);
      answers.push(answer);
      // A short breath, so that the loop does not starve the unit it waits for on a 2-core machine.
      await pause(answer.kind === 'refused' ? 20 : 5);
    }
  }

  const workers = Array.from({ length: options.workers ?? 3 }, () => worker());
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(workers);
      // A socket left open must close within timeoutMs from now (whenever it opened), or it counts as hung.
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), timeoutMs)));
      const sockets = answers.filter((a) => a.kind === 'upgraded');
      for (const a of sockets) a.close = Promise.race([a.close, limit]);
      await Promise.all(sockets.map((a) => a.close));
      clearTimeout(timer);
      return answers;
    },
  };
}

/** Waits until the hammer has collected an answer that matches, so that a phase is known to have been probed. */
export async function until(h: Hammer, predicate: (answer: Answer) => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!h.answers.some(predicate)) {
    if (Date.now() > deadline)
      throw new Error(`no such answer within ${timeoutMs} ms; got ${JSON.stringify(h.answers.slice(-5))}`);
    await pause(20);
  }
}

/** The answers that are no answer: requests left hanging, and upgraded sockets nobody closed. */
export async function unanswered(answers: Answer[]): Promise<string[]> {
  const problems: string[] = [];
  for (const answer of answers) {
    if (answer.kind === 'hung') problems.push(`${answer.probe}: no answer`);
    if (answer.kind === 'upgraded' && (await answer.close) === 'hung')
      problems.push(`${answer.probe}: socket never closed`);
  }
  return problems;
}

export function summary(answers: Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) {
    const key = `${a.probe} ${a.kind === 'status' ? a.status : a.kind}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

export type HalfSent = {
  /** Sends the rest of the body. */
  finish(): void;
  /** The status and connection header the unit answered with, or the error that ended the connection. */
  answer: Promise<{ status: number; connection: string | undefined } | { error: string }>;
};

/**
 * A request whose headers and first half of the body are sent, the rest held back: a request the unit
 * has read (its 'request' event fired) but cannot have answered yet when the caller starts a shutdown.
 * `headers` go with it (a signature, say).
 */
export async function halfSentRequest(
  server: Server,
  port: number,
  path: string,
  body: string,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): Promise<HalfSent> {
  // Marked, so that a request of the hammer's own to the same path is not taken for this one.
  const mark = randomUUID();
  const arrived = new Promise<void>((resolve) => {
    const seen = (req: IncomingMessage) => {
      if (req.url !== path || req.headers['x-half-sent'] !== mark) return;
      server.off('request', seen);
      resolve();
    };
    server.on('request', seen);
  });
  const half = Math.floor(body.length / 2);
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path,
    agent: new HttpAgent({ keepAlive: true }),
    headers: {
      ...headers,
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      'x-half-sent': mark,
    },
  });
  const answer = new Promise<{ status: number; connection: string | undefined } | { error: string }>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on('error', (error) => resolve({ error: errorCode(error) }));
  });
  req.write(body.slice(0, half));
  await arrived;
  return { finish: () => req.end(body.slice(half)), answer };
}

/** What a unit answered a request whose body it had only part of, and whether it then closed the connection. */
export type EarlyAnswer =
  | { status: number; code: string | undefined; connection: string | undefined; closed: boolean; afterMs: number }
  | 'no answer';

/**
 * Sends a POST's headers, announcing a body of `length` bytes (chunked, announcing none, when `length` is
 * undefined), and `first` of it (64 KiB by default), then, with `trickleMs`, one byte more of it that
 * often; never the whole. Resolves with the unit's answer (its JSON error's code, and how long after the
 * headers it came) and whether the unit then closed the connection itself, or 'no answer' within `timeoutMs`.
 */
export function answerToFirstPart(
  url: string,
  headers: Record<string, string>,
  length: number | undefined,
  options: { first?: Buffer; trickleMs?: number; timeoutMs?: number } = {},
): Promise<EarlyAnswer> {
  const started = Date.now();
  // Keep-alive, as peers' connections are: a closed connection is the unit's doing, not asked for.
  const agent = new HttpAgent({ keepAlive: true });
  return new Promise((resolve) => {
    const req = httpRequest(url, {
      method: 'POST',
      agent,
      headers: { ...headers, ...(length === undefined ? {} : { 'content-length': String(length) }) },
    });
    let trickle: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      clearInterval(trickle);
      req.destroy();
      agent.destroy();
      resolve('no answer');
    }, options.timeoutMs ?? 2_000);
    req.on('error', () => undefined);
    req.on('response', (res) => {
      const afterMs = Date.now() - started;
      clearInterval(trickle);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', async () => {
        clearTimeout(timer);
        const socket = req.socket;
        // The unit's own close, if it comes: given a moment before this side lets go.
        if (socket && !socket.destroyed)
          await new Promise<void>((done) => {
            const wait = setTimeout(done, 500);
            socket.once('close', () => {
              clearTimeout(wait);
              done();
            });
          });
        const closed = socket?.destroyed ?? true;
        req.destroy();
        agent.destroy();
        const code = (JSON.parse(text || '{}') as { error?: { code?: string } }).error?.code;
        resolve({ status: res.statusCode ?? 0, code, connection: res.headers.connection, closed, afterMs });
      });
    });
    req.write(options.first ?? Buffer.alloc(64 * 1024, ' '));
    if (options.trickleMs) trickle = setInterval(() => req.write(' '), options.trickleMs);
  });
}
