import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { ThreadReply, ThreadRequest } from './sqlite-thread-connection.ts';

/**
 * The thread of one connection opened by ThreadConnection: it runs the statements sent to it in the
 * order they come, waiting inside SQLite for another writer's lock (the busy timeout), which holds up
 * this thread alone.
 */
const { file, busyTimeout } = workerData as { file: string; busyTimeout: number };
const port = parentPort!;
let db: DatabaseSync | undefined;
const prepared = new Map<string, StatementSync>();

function statement(sql: string): StatementSync {
  let found = prepared.get(sql);
  if (!found) {
    found = db!.prepare(sql);
    prepared.set(sql, found);
  }
  return found;
}

function answer(request: ThreadRequest): ThreadReply {
  if (request.op === 'close') {
    db?.close();
    db = undefined;
    prepared.clear();
    return { id: request.id };
  }
  if (!db) throw Object.assign(new Error('Database is closed'), { errcode: 21 });
  const values = request.values as SQLInputValue[];
  switch (request.op) {
    case 'exec':
      db.exec(request.sql);
      return { id: request.id };
    case 'prepare':
      statement(request.sql);
      return { id: request.id };
    case 'run': {
      const result = statement(request.sql).run(...values);
      return { id: request.id, changes: Number(result.changes), lastID: Number(result.lastInsertRowid) };
    }
    case 'all':
      return { id: request.id, rows: statement(request.sql).all(...values) };
    case 'commit-script':
      return committedScript(request);
  }
}

/**
 * A script that opens a transaction, the rows `read` then reads in it, and the commit, in one call: each
 * call is a trip between threads, which wakes both. The script is undone when it fails (`stage`
 * 'script', nothing written) or `read` finds other than `count` rows; a commit that fails is undone too.
 */
function committedScript(request: Extract<ThreadRequest, { op: 'commit-script' }>): ThreadReply {
  const undo = () => {
    if (db!.isTransaction) db!.exec('ROLLBACK');
  };
  let rows: unknown[];
  try {
    db!.exec(request.sql);
    rows = statement(request.read).all();
    if (rows.length !== request.count) throw new Error(`${rows.length} of ${request.count} rows read back`);
  } catch (err) {
    undo();
    return { id: request.id, error: failure(err), stage: 'script' };
  }
  try {
    db!.exec('COMMIT');
  } catch (err) {
    undo();
    return { id: request.id, error: failure(err), stage: 'commit' };
  }
  return { id: request.id, rows };
}

try {
  db = new DatabaseSync(file, { enableDoubleQuotedStringLiterals: true, timeout: busyTimeout });
  port.postMessage({ id: 0 } satisfies ThreadReply);
} catch (err) {
  port.postMessage({ id: 0, error: failure(err) } satisfies ThreadReply);
}

port.on('message', (request: ThreadRequest) => {
  let reply: ThreadReply;
  try {
    reply = answer(request);
  } catch (err) {
    reply = { id: request.id, error: failure(err) };
  }
  port.postMessage(reply);
});

function failure(err: unknown): NonNullable<ThreadReply['error']> {
  const e = err as { message?: string; errcode?: number };
  return { message: e.message ?? String(err), errcode: e.errcode };
}
