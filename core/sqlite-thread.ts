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

/** Statements kept compiled at most: a connection for long reads gets a new text for every search. */
const KEPT_STATEMENTS = 256;

function statement(sql: string): StatementSync {
  let found = prepared.get(sql);
  if (!found) {
    found = db!.prepare(sql);
    if (prepared.size >= KEPT_STATEMENTS) prepared.clear();
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
    case 'run': {
      const result = statement(request.sql).run(...values);
      return { id: request.id, changes: Number(result.changes), lastID: Number(result.lastInsertRowid) };
    }
    case 'all':
      return { id: request.id, rows: statement(request.sql).all(...values) };
    case 'commit-group':
      return committedGroup(request);
  }
}

/**
 * One transaction for lists of statements: each list's run in order up to the first that fails, which
 * fails that list alone (SQLite undoes just the statement); then the commit. Should SQLite have ended the
 * transaction itself on a failure (a full disk, say), or the commit fail, nothing is kept and the reply
 * is an error for all: a statement run after that would commit on its own.
 */
function committedGroup(request: Extract<ThreadRequest, { op: 'commit-group' }>): ThreadReply {
  const undo = (err: unknown): ThreadReply => {
    if (db!.isTransaction) db!.exec('ROLLBACK');
    return { id: request.id, error: failure(err) };
  };
  try {
    db!.exec('BEGIN IMMEDIATE');
  } catch (err) {
    return undo(err);
  }
  const outcomes: NonNullable<ThreadReply['outcomes']> = [];
  for (const list of request.lists) {
    const changed: number[] = [];
    let error: ReturnType<typeof failure> | undefined;
    for (const { sql, values } of list) {
      try {
        changed.push(Number(statement(sql).run(...(values as SQLInputValue[])).changes));
      } catch (err) {
        if (!db!.isTransaction) return undo(err);
        error = failure(err);
        break;
      }
    }
    outcomes.push({ changed, error });
  }
  try {
    db!.exec('COMMIT');
  } catch (err) {
    return undo(err);
  }
  return { id: request.id, outcomes };
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
