import { BaseError, QueryTypes, Transaction, UniqueConstraintError, type Sequelize } from 'sequelize';
import { AppError } from '../../core/errors.ts';
import { bodyFits, MAX_BODY_BYTES } from '../../protocol/client-frames.ts';
import { systemClock, type Clock, type ClockTimer } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import { sqlLiterals } from '../../core/sql-literal.ts';
import { allowsBlocks, runStatements, selectRows } from '../../core/statement-block.ts';
import type { MessageRecord } from '../models.ts';
import { messageRecordOf } from './message-row.ts';
import { queueStatement } from './search-index.ts';
import { BY_KEY, MESSAGE_COLUMNS, numberEntries, rowValues, type Appended, type Entry } from './flush-rows.ts';
import { flushInOneTrip, mayFitOneStatement } from './flush-in-one-trip.ts';

/** One entry to append to a conversation's sequence. */
export type Append = Entry & {
  /** The connection that sent it, which fan-out does not echo to (it gets the ack instead). */
  origin?: string;
  /**
   * Runs inside the flush once it holds the conversation's lock, before the entry is numbered: it checks
   * again what the caller checked outside the lock (is the actor still a member, still an admin?) and may
   * return the body to write instead (what is still true now). An AppError it throws refuses this entry
   * alone: nothing of it is written and the rest of the batch goes on.
   */
  prepare?: (tx: Transaction) => Promise<string | void>;
  /** Extra writes that must commit with the entry (an edit rewriting its target, say). */
  alsoWrite?: (tx: Transaction, stored: MessageRecord) => Promise<void>;
};

type Literal = ReturnType<typeof sqlLiterals>;

export type { Appended } from './flush-rows.ts';
/** Per entry of a flush: what was stored, or why its `prepare` refused it. */
type Result = Appended | AppError;
export type Committed = { message: MessageRecord; origin: string | undefined };

export class StoreFailedError extends AppError {
  constructor() {
    super('store_failed', 503, 'The message could not be stored; it was not sent. Retry.');
  }
}

/**
 * An entry that fails through its own fault (a value the database refuses, its own code failing): it
 * would fail again every time, so the client is told not to send it again, unlike store_failed.
 */
export class MessageRefusedError extends AppError {
  constructor() {
    super(
      'message_refused',
      422,
      'The message could not be stored as it is; it was not sent, and sending it again will not help.',
    );
  }
}

/** A body over MAX_BODY_BYTES: refused before it is queued, so that it fails nobody else's flush. */
export class BodyTooLargeError extends AppError {
  constructor() {
    super(
      'too_large',
      413,
      `The message is too large: at most ${MAX_BODY_BYTES} bytes once stored (its text, mentions and files as JSON); it was not sent`,
    );
  }
}

type Pending = Append & { key: string; resolve(result: Appended): void; reject(error: Error): void };

export type GroupCommitter = {
  /** Resolves once the entry is durable (committed), or with the earlier entry for a retried client id. */
  append(entry: Append): Promise<Appended>;
  /** Waits for everything queued so far to be flushed. */
  drain(): Promise<void>;
};

/**
 * `eager`: an entry that arrives while nothing is being written starts a flush at once; the window only
 * gathers what arrives while a flush is already running. `window`: every batch gathers for the window
 * first, even a lone entry (the behaviour before eager; kept to compare the two, see FLUSH_MODE).
 */
export type FlushMode = 'eager' | 'window';

export type GroupCommitOptions = {
  sequelize: Sequelize;
  /** How long entries gather before a flush opens (in `eager` mode only while another flush is running). */
  windowMs: number;
  /** `eager` unless said. */
  mode?: FlushMode;
  maxBatch: number;
  /** Flush transactions that may be open at once in each lane (on SQLite always one). */
  concurrency: number;
  /**
   * Lanes that flush side by side (on SQLite always one): a conversation's entries always go through the
   * same lane, so the flushes of two lanes never wait for each other's row locks. One unless said.
   */
  lanes?: number;
  logger: Logger;
  /** Where the window's timers come from; the machine's unless given. */
  clock?: Clock;
  /**
   * Runs inside each flush transaction with the new entries, for writes that must commit with them (the
   * federation outbox); what it returns is handed to afterCommit of the same flush.
   */
  beforeCommit?(tx: Transaction, stored: MessageRecord[]): Promise<boolean>;
  /**
   * Whether beforeCommit would write nothing for these entries (every conversation this node's own, its
   * members at home): their flush may then leave it out, and on MariaDB go in one round trip.
   */
  nothingBeforeCommit?(entries: Append[]): boolean;
  /** Runs after each commit with the newly stored entries (fan-out); never before the commit. */
  afterCommit(stored: Committed[], touched: boolean): void;
};

/** Errors after which the same batch may simply be written again: the database chose it as a deadlock victim. */
const RETRIABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
/**
 * Errors of the database about a value written (too long, out of range, NULL, not of its column's type,
 * breaking a constraint): an entry's own fault, which writing it again or without the others would not mend.
 */
const VALUE_REFUSED = new Set([
  'ER_DATA_TOO_LONG',
  'ER_TRUNCATED_WRONG_VALUE',
  'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
  'ER_WARN_DATA_OUT_OF_RANGE',
  'ER_BAD_NULL_ERROR',
  'ER_NO_DEFAULT_FOR_FIELD',
  'ER_NO_REFERENCED_ROW_2',
  'ER_CONSTRAINT_FAILED',
  'SQLITE_CONSTRAINT',
  'SQLITE_TOOBIG',
  'SQLITE_MISMATCH',
]);

function databaseCode(error: unknown): string | undefined {
  return (error as { parent?: { code?: string } }).parent?.code;
}

/** What an entry's own code (`prepare`, `alsoWrite`) threw, other than an AppError or the database's errors: a fault of that entry. */
class EntryCodeFailed extends Error {
  constructor(cause: unknown) {
    super(`an entry's own write failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** Runs an entry's own code; what it throws that is not an AppError or the database's is marked as the entry's fault. */
async function ownCode<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AppError || error instanceof BaseError) throw error;
    throw new EntryCodeFailed(error);
  }
}

/**
 * Whether a flush failed through what its entries brought rather than the database's state: a value it
 * refused, or an entry's own code failing. (The outbox's writes, beforeCommit, are not an entry's.)
 */
function entryFault(error: unknown): boolean {
  return error instanceof EntryCodeFailed || VALUE_REFUSED.has(databaseCode(error) ?? '');
}
const ATTEMPTS = 3;
/** Entries a lane writes at once beside another lane's flush; fewer wait for the window (see below). */
const BIG = 256;
/**
 * Entries a flush must have answered before what gathered meanwhile is held for another lane's flush
 * (see flushEnded): fewer senders answered add too few next sends to be worth the wait. At 2 pairs with 2
 * messages in flight (bench:node's closed loop), holding after flushes of 2 cost 7% of the rate.
 */
const HOLD_AFTER = 16;

/**
 * Group commit: entries are written with one multi-row insert in one transaction, which also advances
 * each conversation's gap-free sequence under a row lock. Callers are answered only after the commit.
 *
 * A batch forms the classic way: an entry that finds nothing being written goes at once, alone, since
 * waiting would gather nobody (a chat user's next message waits for this one's ack); whoever arrives
 * while a flush is running goes in the next one, which starts when a running flush ends, when the
 * flush it arrived behind takes its row locks (if it arrived while that one waited for them), or, while
 * fewer than `concurrency` are open, once the window has passed. So the window costs a lone message
 * nothing and still gathers batches under load. (`mode: 'window'` makes every batch wait out the window,
 * a lone entry too: the behaviour before, kept so that the benchmark can compare the two.)
 *
 * Conversations are spread over `lanes`, each batching and flushing as above on its own, a conversation
 * always in the same lane. A conversation's row is locked from the numbering to the commit, so two flushes
 * that share conversations run one after the other; with a single lane and many busy conversations every
 * flush shares nearly all of them with the one before (bench:node: 2,000 busy conversations, ~1,800 rows a
 * flush, each holding its locks ~200 ms while MariaDB inserted), and flushes could not overlap. Flushes of
 * different lanes share no conversation, so they are written side by side, as the database allows.
 * "Nothing being written" counts every lane: a send whose lane is idle while another lane writes waits
 * for the window, and a lane whose flush ends goes on at once only with a big batch (`BIG`) or when no
 * other lane is writing; otherwise what gathered waits until another lane's flush ends (at most as long
 * as its own flush took), and when the last open flush ends, every lane's waiting entries go. Lanes only
 * pay with big batches, so a few entries go together: a lane that starts a flush of fewer than `BIG`
 * takes along what the lanes with nothing open or held have queued, as long as all of it is fewer than
 * `BIG`, in one transaction (each lane's part answered in its lane's order, and the flush counted open
 * in each of those lanes until it ends). So a few dozen chat users, spread over the lanes, share one
 * transaction instead of one per lane (bench:node's closed loop at 10×2: 9.2 messages a flush and 140% of
 * the fixed window's rate, against 3.7 and 90% with a flush per lane), and a busy node's big batches still
 * flush in every lane at once.
 * Within a lane up to `concurrency` flushes are open at once, so that the next batch is written while the
 * previous one waits for its commit. Order still holds: a flush starts only once the flush before it in
 * its lane holds its conversations' row locks, so where two flushes share a conversation the later one
 * waits for the earlier one's commit and numbers after it; and a lane's flushes are answered (acks,
 * fan-out) in the order they started. (The lanes of several node processes share nothing: their row locks
 * order them, as ever.) A client id still in an open flush of its lane is held back until that flush
 * ends, so its retry finds it stored; one reused in a conversation of another lane meets the stored
 * copy through the unique key, as a retry sent to another node process does.
 */
export function createGroupCommitter(options: GroupCommitOptions): GroupCommitter {
  const { sequelize } = options;
  const flushBatch = batchWriter(options);
  // SQLite has one writer, so a second lane or open flush would only wait for the first.
  const sqlite = sequelize.getDialect() === 'sqlite';
  const writing: Writing = { flushes: 0, lanes: [], run: () => undefined };
  writing.run = flushRunner(options, flushBatch, writing);
  const lanes = Array.from({ length: sqlite ? 1 : (options.lanes ?? 1) }, () =>
    createLane(options, sqlite ? 1 : options.concurrency, writing),
  );
  return {
    append(entry) {
      if (!bodyFits(entry.body)) return Promise.reject(new BodyTooLargeError());
      return lanes[laneOf(entry.conversationId, lanes.length)]!.append(entry);
    },
    async drain() {
      await Promise.all(lanes.map((lane) => lane.drain()));
    },
  };
}

/**
 * What the lanes share: how many flushes are open in all of them, each lane's signals, and the runner that
 * writes a flush of one lane's batch or of several lanes' batches together.
 */
type Writing = { flushes: number; lanes: LaneSignals[]; run: (parts: Part[]) => void };
type LaneSignals = {
  /** Nothing is being written in any lane. */
  wake(): void;
  /** A flush of another lane ended. */
  otherEnded(): void;
  /** Entries this lane has queued, if it may join another lane's flush now (nothing of its own open or held), else 0. */
  poolable(): number;
  /** Takes this lane's next batch (at most `room` entries; no entry with its own check if `checked`) and opens it here. */
  take(room: number, checked: boolean): Part | undefined;
};

/** One lane's batch in an open flush, and what the lane does as the flush goes on. */
type Part = {
  lane: LaneSignals;
  batch: Pending[];
  /** The batch holds an entry with its own check. */
  checked: boolean;
  /** The flush holds its conversations' row locks. */
  locked(): void;
  /** The lane's earlier flushes are answered: this batch is answered after that. */
  answerAfter: Promise<void>;
  /** The flush has ended: the batch is no longer open in the lane. */
  close(): void;
  /** After every part is closed: what the lane sends next. */
  ended(tookMs: number): void;
};

/**
 * Writes one flush of the parts' batches together, answers it once every part's lane has answered its
 * earlier flushes (a lane's flushes are answered in the order they started), and tells every lane it ended.
 */
function flushRunner(
  options: GroupCommitOptions,
  flushBatch: (batch: Pending[], locked: () => void) => Promise<Outcome>,
  writing: Writing,
): Writing['run'] {
  const clock = options.clock ?? systemClock;
  return (parts) => {
    const startedAt = clock.now();
    writing.flushes += 1;
    const batch = parts.length === 1 ? parts[0]!.batch : parts.flatMap((part) => part.batch);
    const locked = () => {
      for (const part of parts) part.locked();
    };
    void flushBatch(batch, locked)
      .then(async (outcome) => {
        locked();
        await Promise.all(parts.map((part) => part.answerAfter));
        answer(options, batch, outcome);
      })
      .finally(() => {
        for (const part of parts) part.close();
        writing.flushes -= 1;
        const tookMs = clock.now() - startedAt;
        for (const part of parts) part.ended(tookMs);
        if (writing.flushes === 0) for (const lane of writing.lanes) lane.wake();
        else for (const lane of writing.lanes) if (!parts.some((part) => part.lane === lane)) lane.otherEnded();
      });
  };
}

/** The lane a conversation's entries always go through (FNV-1a of its id). */
export function laneOf(conversationId: string, lanes: number): number {
  if (lanes === 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < conversationId.length; i++) hash = Math.imul(hash ^ conversationId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}

/**
 * Starts one flush of a lane's few entries (`queued`) together with what the lanes with nothing open or
 * held have queued, if there is any and all of it is fewer than `big`; false if it did not.
 */
function poolFlush(self: LaneSignals, queued: number, big: number, writing: Writing, maxBatch: number): boolean {
  const others = writing.lanes.filter((lane) => lane !== self && lane.poolable() > 0);
  if (others.length === 0 || others.reduce((sum, lane) => sum + lane.poolable(), queued) >= big) return false;
  const parts: Part[] = [];
  let room = maxBatch;
  let checked = false;
  for (const lane of [self, ...others]) {
    const part = lane.take(room, checked);
    if (!part) continue;
    parts.push(part);
    room -= part.batch.length;
    checked ||= part.checked;
    if (room === 0) break;
  }
  if (parts.length > 0) writing.run(parts);
  return true;
}

function createLane(options: GroupCommitOptions, concurrency: number, writing: Writing): GroupCommitter {
  const clock = options.clock ?? systemClock;
  const eager = (options.mode ?? 'eager') === 'eager';
  const big = Math.min(BIG, options.maxBatch);
  let queue: Pending[] = [];
  let timer: ClockTimer | undefined;
  let open = 0;
  // A flush not yet holding its locks: at most one (a second would wait behind it; the next batch grows).
  let waitingForLocks = false;
  const inFlight = new Set<string>();
  // The latest started flush's answer: the next flush answers after it (see above).
  let lastAnswered: Promise<void> = Promise.resolve();
  let idle: ReturnType<typeof deferred> | undefined;
  // While set, a few entries wait for another lane's flush to end (see flushEnded and worthHolding).
  let held: ClockTimer | undefined;
  function stopWindow() {
    if (timer) clock.clearTimeout(timer);
    timer = undefined;
  }
  function unhold(): boolean {
    if (!held) return false;
    clock.clearTimeout(held);
    held = undefined;
    return true;
  }
  function release() {
    if (!unhold()) return;
    startFlush();
    schedule();
  }

  function schedule() {
    if (timer || held || queue.length === 0 || open >= concurrency || waitingForLocks) return;
    if (queue.length >= options.maxBatch || options.windowMs === 0 || (eager && writing.flushes === 0))
      return startFlush();
    timer = clock.setTimeout(() => ((timer = undefined), startFlush()), options.windowMs);
  }

  function startFlush() {
    if (open >= concurrency || waitingForLocks || queue.length === 0) return;
    // A few entries, with nothing of this lane's open: they go with the other lanes' few (poolFlush).
    if (eager && open === 0 && queue.length < big && poolFlush(self, queue.length, big, writing, options.maxBatch))
      return;
    const part = take(options.maxBatch, false);
    if (part) writing.run([part]);
  }

  /** Takes the next batch from the queue and opens it in this lane. */
  function take(room: number, checked: boolean): Part | undefined {
    if (open >= concurrency || waitingForLocks) return undefined;
    const taken = takeBatch(queue, inFlight, room, checked);
    queue = taken.rest;
    // What the window waited for has gone: a later arrival must not inherit its timer.
    if (eager && queue.length === 0) stopWindow();
    const { batch } = taken;
    if (batch.length === 0) return undefined;
    unhold();
    open += 1;
    waitingForLocks = true;
    for (const item of batch) inFlight.add(item.key);
    const previousAnswered = lastAnswered;
    const answered = deferred();
    lastAnswered = answered.promise;
    let holdsLocks = false;
    const locked = () => {
      if (holdsLocks) return;
      holdsLocks = true;
      waitingForLocks = false;
      // The next batch has gathered while this one waited for its locks: it goes now.
      if (queue.length > 0) startFlush();
    };
    return {
      lane: self,
      batch,
      checked: taken.checked,
      locked,
      answerAfter: previousAnswered,
      close() {
        locked();
        answered.resolve();
        for (const item of batch) inFlight.delete(item.key);
        open -= 1;
      },
      ended: (tookMs) => flushEnded(tookMs, batch.length),
    };
  }

  function flushEnded(tookMs: number, answeredCount: number) {
    // What gathered meanwhile goes out at once (it has waited a flush already) if it is a batch worth its
    // own transaction beside other lanes' flushes, or if no other lane is writing. This lane's own open
    // flushes do not count: they are what it waited behind.
    const few = queue.length > 0 && queue.length < big && writing.flushes > open;
    if (queue.length > 0 && !few) startFlush();
    else if (few && eager && open === 0 && worthHolding(options.windowMs, tookMs, answeredCount))
      held = clock.setTimeout(release, tookMs);
    schedule();
    if (open === 0 && queue.length === 0 && !timer && idle) {
      idle.resolve();
      idle = undefined;
    }
  }

  const self: LaneSignals = {
    wake() {
      // Nothing is being written anywhere: what waits for the window goes now.
      if (!eager || queue.length === 0 || open > 0) return;
      stopWindow();
      unhold();
      startFlush();
    },
    otherEnded: release,
    poolable: () => (eager && open === 0 && !waitingForLocks && !held ? queue.length : 0),
    take,
  };
  writing.lanes.push(self);

  return {
    append(entry) {
      return new Promise<Appended>((resolve, reject) => {
        queue.push({ ...entry, key: `${entry.sender}\n${entry.clientMsgId}`, resolve, reject });
        if (held && queue.length >= big) release();
        schedule();
      });
    },
    async drain() {
      stopWindow();
      unhold();
      while (open > 0 || queue.length > 0) {
        idle ??= deferred();
        const waiting = idle.promise;
        startFlush();
        await waiting;
      }
    },
  };
}

/**
 * Whether a few entries that gathered during a lane's flush wait for another lane's flush (flushEnded):
 * only after a flush that took longer than the window and answered enough senders to send more. They
 * wait until one of the other lanes' flushes ends (at most as long as their lane's flush took), and the
 * senders that flush just answered add their next messages meanwhile. Going after the window, a busy lane
 * alternated two half-size batches (those waiting, then the answered senders' next ones): bench:node's
 * closed loop at 50×10 ran below the fixed window's rate.
 */
function worthHolding(windowMs: number, tookMs: number, answered: number): boolean {
  return windowMs > 0 && tookMs > windowMs && answered >= HOLD_AFTER;
}

/**
 * The next batch from the queue, and what stays queued: entries whose client id is in an open flush are
 * held back (in order) until it ends.
 */
function takeBatch(
  queue: Pending[],
  inFlight: Set<string>,
  maxBatch: number,
  checkedAlready: boolean,
): { batch: Pending[]; rest: Pending[]; checked: boolean } {
  const batch: Pending[] = [];
  const held: Pending[] = [];
  // At most one entry with its own checks per flush: a flush runs every check before any write, so a
  // second check would not see the first change (a removal) and the next flush, which waits for this
  // one's commit, judges it instead. Such entries (group changes) are rare.
  let checked = checkedAlready;
  let i = 0;
  for (; i < queue.length && batch.length < maxBatch; i++) {
    const item = queue[i]!;
    if (item.prepare && checked) break;
    if (inFlight.has(item.key)) held.push(item);
    else batch.push(item);
    checked ||= Boolean(item.prepare);
  }
  const rest = held.length > 0 ? held.concat(queue.slice(i)) : queue.slice(i);
  return { batch, rest, checked: checked && !checkedAlready };
}

/** A flush's results, or its failure (`ownFault`: caused by what its one entry brought, see entryFault). */
type Outcome = { results: Result[]; touched: boolean } | { error: Error; ownFault?: boolean };
const nothing = () => undefined;

/** Answers each entry of a flush, then hands what was newly stored to afterCommit (fan-out). */
function answer(options: GroupCommitOptions, batch: Pending[], outcome: Outcome) {
  if ('error' in outcome) {
    for (const item of batch) item.reject(outcome.error);
    return;
  }
  const fresh: Committed[] = [];
  batch.forEach((item, i) => {
    const result = outcome.results[i]!;
    if (result instanceof AppError) return item.reject(result);
    item.resolve(result);
    if (!result.duplicate) fresh.push({ message: result.message, origin: item.origin });
  });
  if (fresh.length > 0) {
    try {
      options.afterCommit(fresh, outcome.touched);
    } catch (err) {
      options.logger.error({ err }, 'fan-out after commit failed');
    }
  }
}

/**
 * Writes a batch in one transaction, retried on a deadlock; `locked` is called once the flush holds its
 * conversations' row locks (on its first attempt).
 */
function batchWriter(options: GroupCommitOptions): (batch: Pending[], locked: () => void) => Promise<Outcome> {
  const { sequelize, logger } = options;
  const literal = sqlLiterals(sequelize);

  async function flushBatch(batch: Pending[], locked: () => void): Promise<Outcome> {
    if (await inOneTrip(batch)) {
      try {
        const results = await flushInOneTrip(sequelize, literal, batch, new Date());
        if (results) return { results, touched: false };
      } catch (error) {
        // Committed, but its answer could not be read: sent again, every entry would meet itself as stored.
        logger.error({ err: error, entries: batch.length }, 'group commit failed');
        return { error: new StoreFailedError() };
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await writeBatch(batch, attempt === 1 ? locked : nothing);
      } catch (error) {
        // Another process stored one of these client ids meanwhile: write them one by one, so only
        // the duplicate resolves to the stored entry and the rest are unaffected.
        if (error instanceof UniqueConstraintError && batch.length > 1) return oneByOne(batch);
        const code = databaseCode(error);
        if (attempt < ATTEMPTS && (error instanceof UniqueConstraintError || (code && RETRIABLE.has(code)))) continue;
        const ownFault = entryFault(error);
        // What one entry brought (a value the database refuses, its own extra write failing) fails that
        // entry alone: the others are written without it, one by one. A batch may hold other lanes'
        // senders, and each sender whose store failed sends again: a send that fails every time would
        // otherwise fail every flush it lands in.
        if (ownFault && batch.length > 1) return oneByOne(batch);
        logger.error({ err: error, entries: batch.length }, 'group commit failed');
        return ownFault ? { error: new MessageRefusedError(), ownFault } : { error: new StoreFailedError() };
      }
    }
  }

  /** Whether a batch may go in one round trip (flush-in-one-trip.ts): MariaDB, and nothing of its own to do. */
  async function inOneTrip(batch: Pending[]): Promise<boolean> {
    // Size first: a busy node's big batches stop here, before the outbox's check walks their conversations.
    if (!mayFitOneStatement(batch) || batch.some((item) => item.prepare || item.alsoWrite)) return false;
    if (options.beforeCommit && !options.nothingBeforeCommit?.(batch)) return false;
    // Never a rejection: flushBatch answers every entry. Unknown (the server's version could not be read
    // just now): the usual way, which meets any lasting failure and answers it.
    return allowsBlocks(sequelize).catch(() => false);
  }

  /**
   * Writes a batch's entries one at a time, in order. An entry that fails through its own fault fails
   * alone; any other failure (the database gone) fails it and every entry after it, unwritten.
   */
  async function oneByOne(batch: Pending[]): Promise<Outcome> {
    const results: Result[] = [];
    let touched = false;
    for (const item of batch) {
      const one = await flushBatch([item], nothing);
      if ('error' in one) {
        if (!one.ownFault) {
          const failed = one.error instanceof AppError ? one.error : new StoreFailedError();
          while (results.length < batch.length) results.push(failed);
          break;
        }
        results.push(one.error instanceof AppError ? one.error : new StoreFailedError());
        continue;
      }
      results.push(one.results[0]!);
      touched ||= one.touched;
    }
    return { results, touched };
  }

  async function writeBatch(all: Pending[], locked: () => void): Promise<{ results: Result[]; touched: boolean }> {
    return sequelize.transaction({ type: Transaction.TYPES.IMMEDIATE }, async (tx) => {
      const conversations = await lockConversations(sequelize, literal, tx, [
        ...new Set(all.map((b) => b.conversationId)),
      ]);
      locked();
      const { refused, bodies } = await prepareEntries(tx, all);
      const batch = refused.size === 0 ? all : all.filter((item) => !refused.has(item));
      const now = new Date();
      // Written as if every entry were new, since retried client ids are rare: one round trip fewer in
      // the common case. If one was stored before, the insert fails on its unique key and changes
      // nothing; the stored copies are then read and the rest numbered again.
      let plan = numberEntries(batch, new Map(), conversations, now, bodies);
      // The new rows, their search queue entries and the advanced sequences, in one round trip where the
      // database allows it (runStatements); the insert goes first, so a duplicate stops it before the rest.
      const write = () =>
        runStatements(sequelize, tx, [
          ...insertStatements(plan.rows, literal),
          ...advanceStatements(sequelize, literal, advancedOf(conversations, plan.nextSeq), now),
        ]);
      try {
        await write();
      } catch (error) {
        if (!(error instanceof UniqueConstraintError)) throw error;
        const stored = await findStored(sequelize, literal, tx, batch);
        plan = numberEntries(
          batch,
          new Map(stored.map((m) => [`${m.sender}\n${m.clientMsgId}`, m])),
          conversations,
          now,
          bodies,
        );
        await write();
      }
      const touched = plan.rows.length > 0 ? await writeAlongside(tx, batch, plan) : false;
      if (refused.size === 0) return { results: plan.results, touched };
      let next = 0;
      return { results: all.map((item) => refused.get(item) ?? plan.results[next++]!), touched };
    });
  }

  /** What else commits with new entries: the entries' own extra writes, the outbox. */
  async function writeAlongside(
    tx: Transaction,
    batch: Pending[],
    plan: ReturnType<typeof numberEntries>,
  ): Promise<boolean> {
    const { results } = plan;
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const result = results[i]!;
      const { alsoWrite } = item;
      if (!result.duplicate && alsoWrite) await ownCode(() => alsoWrite(tx, result.message));
    }
    if (!options.beforeCommit) return false;
    return options.beforeCommit(
      tx,
      results.filter((r) => !r.duplicate).map((r) => r.message),
    );
  }

  return flushBatch;
}

/** Runs the entries' own checks under the lock: which are refused, and which write another body. */
async function prepareEntries(
  tx: Transaction,
  batch: Pending[],
): Promise<{ refused: Map<Pending, AppError>; bodies: Map<Pending, string> }> {
  const refused = new Map<Pending, AppError>();
  const bodies = new Map<Pending, string>();
  for (const item of batch) {
    if (!item.prepare) continue;
    try {
      const prepare = item.prepare;
      const body = await ownCode(() => prepare(tx));
      if (typeof body !== 'string') continue;
      if (bodyFits(body)) bodies.set(item, body);
      else refused.set(item, new BodyTooLargeError());
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      refused.set(item, error);
    }
  }
  return { refused, bodies };
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The conversations whose last number the flush moves on, with their new last numbers. */
function advancedOf(
  conversations: { id: string; lastSeq: number }[],
  nextSeq: Map<string, number>,
): (readonly [string, number])[] {
  return conversations.filter((c) => nextSeq.get(c.id) !== c.lastSeq).map((c) => [c.id, nextSeq.get(c.id)!] as const);
}

/**
 * Moves many conversations' last sequence to the given numbers in one statement per chunk, joining the
 * table to the list of (id, seq) pairs. (A `CASE id WHEN … THEN …` list is compared branch by branch for
 * every row, so its cost grows with the square of the conversations in a flush: at 2,000 it took MariaDB
 * ~55 ms a statement, the join ~5 ms.) `forwardOnly` keeps a sequence that is already further on.
 */
export async function advanceSequences(
  sequelize: Sequelize,
  tx: Transaction,
  advanced: (readonly [string, number])[],
  now: Date,
  options: { forwardOnly?: boolean } = {},
): Promise<void> {
  await runStatements(sequelize, tx, advanceStatements(sequelize, sqlLiterals(sequelize), advanced, now, options));
}

function advanceStatements(
  sequelize: Sequelize,
  literal: Literal,
  advanced: (readonly [string, number])[],
  now: Date,
  options: { forwardOnly?: boolean } = {},
): string[] {
  const sqlite = sequelize.getDialect() === 'sqlite';
  const statements: string[] = [];
  for (let i = 0; i < advanced.length; i += CHUNK) {
    const chunk = advanced.slice(i, i + CHUNK);
    if (sqlite) {
      const values = chunk.map(([id, seq]) => `(${literal(id)}, ${literal(seq)})`).join(', ');
      const next = options.forwardOnly ? 'MAX(last_seq, v.column2)' : 'v.column2';
      statements.push(
        `UPDATE conversations SET last_seq = ${next}, updated_at = ${literal(now)} FROM (VALUES ${values}) AS v WHERE conversations.id = v.column1`,
      );
    } else {
      const pairs = chunk
        .map(([id, seq], n) =>
          n === 0 ? `SELECT ${literal(id)} AS id, ${literal(seq)} AS seq` : `SELECT ${literal(id)}, ${literal(seq)}`,
        )
        .join(' UNION ALL ');
      const next = options.forwardOnly ? 'GREATEST(c.last_seq, v.seq)' : 'v.seq';
      statements.push(
        `UPDATE conversations c ${BY_KEY} JOIN (${pairs}) v ON c.id = v.id SET c.last_seq = ${next}, c.updated_at = ${literal(now)}`,
      );
    }
  }
  return statements;
}

// The statements of a flush are written out by hand, values as literals (core/sql-literal.ts): at
// thousands of entries per flush, building them through model instances or Sequelize's replacements
// cost more than the database work itself (bench/node profile).

// Rows or conversations per statement: a whole default batch (FLUSH_MAX_BATCH) in one, since every extra
// round trip inside a flush holds its row locks longer. 2,000 rows are well under max_allowed_packet.
const CHUNK = 2000;

/**
 * Pairs per `(a, b) IN (…)` list. MariaDB turns an IN list of 1,000 values or more into a subquery
 * (`in_predicate_conversion_threshold`), and for a list of pairs that plan scans the whole table once per
 * pair: on the messages table, a flush that met one retried client id would have stalled with its
 * conversations locked. Shorter lists are looked up on the key.
 */
const PAIRS_PER_LIST = 500;

/** Entries already stored under these (sender, client id) pairs: the retried sends. */
async function findStored(
  sequelize: Sequelize,
  literal: Literal,
  tx: Transaction,
  batch: Append[],
): Promise<MessageRecord[]> {
  const found: MessageRecord[] = [];
  for (let i = 0; i < batch.length; i += PAIRS_PER_LIST) {
    const chunk = batch.slice(i, i + PAIRS_PER_LIST);
    const pairs = chunk.map((b) => `(${literal(b.sender)}, ${literal(b.clientMsgId)})`).join(', ');
    const rows = await sequelize.query<Record<string, unknown>>(
      `SELECT * FROM messages WHERE (sender, client_msg_id) IN (${pairs})`,
      { type: QueryTypes.SELECT, transaction: tx },
    );
    for (const r of rows) found.push(messageRecordOf(r));
  }
  return found;
}

/** Reads the conversations' last sequence numbers, holding their rows (only theirs: BY_KEY) until the flush commits. */
async function lockConversations(
  sequelize: Sequelize,
  literal: Literal,
  tx: Transaction,
  ids: string[],
): Promise<{ id: string; lastSeq: number }[]> {
  const out: { id: string; lastSeq: number }[] = [];
  const sqlite = sequelize.getDialect() === 'sqlite';
  for (let i = 0; i < ids.length; i += CHUNK) {
    const list = ids
      .slice(i, i + CHUNK)
      .map(literal)
      .join(', ');
    const rows = await selectRows<{ id: string; last_seq: number | string }>(
      sequelize,
      tx,
      sqlite
        ? `SELECT id, last_seq FROM conversations WHERE id IN (${list})`
        : `SELECT id, last_seq FROM conversations ${BY_KEY} WHERE id IN (${list}) FOR UPDATE`,
    );
    for (const row of rows) out.push({ id: row.id, lastSeq: Number(row.last_seq) });
  }
  return out;
}

/** One multi-row INSERT per 2,000 entries, and their text queued for the search index (search-index.ts). */
export async function insertRows(
  sequelize: Sequelize,
  tx: Transaction,
  rows: MessageRecord[],
  literal: Literal = sqlLiterals(sequelize),
): Promise<void> {
  await runStatements(sequelize, tx, insertStatements(rows, literal));
}

function insertStatements(rows: MessageRecord[], literal: Literal): string[] {
  const statements: string[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    const values = rows
      .slice(i, i + CHUNK)
      .map((r) => rowValues(r, literal))
      .join(', ');
    statements.push(`INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES ${values}`);
  }
  const queued = queueStatement(rows, literal);
  if (queued) statements.push(queued);
  return statements;
}
