import type { ChildProcess } from 'node:child_process';

/** Request/response over a child's IPC channel: the parent calls a command, the child answers it once. */
type Request = { rid: number; cmd: string; args: unknown };
type Response = { rid: number; ok: true; result: unknown } | { rid: number; ok: false; error: string };

export type Commands = Record<string, (args: never) => Promise<unknown> | unknown>;

/** Parent side: one caller per child; a child that exits fails every outstanding call. */
export function ipcCaller(child: ChildProcess, name: string) {
  let next = 1;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (message: Response) => {
    const w = waiting.get(message.rid);
    if (!w) return;
    waiting.delete(message.rid);
    if (message.ok) w.resolve(message.result);
    else w.reject(new Error(`${name}: ${message.error}`));
  });
  child.on('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`${name} exited (${signal ?? code}) during a call`));
    waiting.clear();
  });
  return function call<T>(cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    const rid = next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(rid);
        reject(new Error(`${name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(rid, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (!child.connected) {
        waiting.delete(rid);
        clearTimeout(timer);
        reject(new Error(`${name} is not connected`));
        return;
      }
      child.send({ rid, cmd, args } satisfies Request);
    });
  };
}

export type Caller = ReturnType<typeof ipcCaller>;

/** Child side: answers the parent's calls; leaves when the parent goes away, so no child outlives a run. */
export function serveIpc(commands: Commands, onParentGone: () => void): void {
  if (!process.send) throw new Error('This file runs as a child process of a benchmark orchestrator (bench/*/run.ts)');
  process.on('message', (message: Request) => {
    const command = commands[message.cmd];
    const reply = (r: Response) => process.connected && process.send!(r);
    if (!command) return reply({ rid: message.rid, ok: false, error: `unknown command ${message.cmd}` });
    Promise.resolve()
      .then(() => command(message.args as never))
      .then(
        (result) => reply({ rid: message.rid, ok: true, result: result ?? null }),
        (error: unknown) =>
          reply({
            rid: message.rid,
            ok: false,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          }),
      );
  });
  process.on('disconnect', onParentGone);
}

/**
 * The IPC side of a measured server process (the node, or the stand-in server): its commands plus
 * `shutdown`. It stops when the parent goes away or on a signal (the orchestrator's cleanup after a
 * failure, or a person's Ctrl-C), so its sockets and database connections do not linger; then it
 * reports `ready` with what the orchestrator needs to know of it.
 */
export function serveServerProcess(
  commands: Commands,
  stop: () => Promise<void>,
  ready: Record<string, unknown>,
): void {
  const exit = () => void stop().finally(() => process.exit(0));
  serveIpc(
    {
      ...commands,
      async shutdown() {
        await stop();
        setImmediate(() => process.exit(0));
      },
    },
    exit,
  );
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, exit);
  process.send!({ event: 'ready', ...ready });
}
