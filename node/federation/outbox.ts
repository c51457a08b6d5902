import { randomUUID } from 'node:crypto';
import { Op, QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import { AnswerSignatureError } from '../../protocol/signature.ts';
import type { FederationModels } from './models.ts';
import { createLiveness, type Liveness } from './liveness.ts';
import { removedForGood, removedRefusal, type RemovedDestinations } from './removed-destination.ts';
import { reported, withhold, type EntryEvent } from './withhold.ts';
import { errorOf, type Transport } from './transport.ts';
import type { Refusal } from './relay-checks.ts';
import { peerHoldsOurSeqs, takenIn } from './sequence-taken.ts';

// Events per transaction: one transaction is in flight per destination, so its size bounds the rate to a busy peer.
const BATCH = 500;
/**
 * At most this many bytes of events in one transaction: half of what a node and a proxy take in a body
 * (8 MiB), so that 500 large events cannot make a transaction every receiver refuses, which, retried
 * under its id, would hold up everything queued behind it.
 */
export const TXN_MAX_BYTES = 4 * 1024 * 1024;
const LEASE_MS = 30_000;
const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 60_000;
/** How often a request from a domain may cut short the wait before the next attempt towards it. */
const CONTACT_RESET_MS = 5_000;

/**
 * Answers after which retrying cannot help: the events are set aside (logged, authors told) so later ones
 * flow. A policy refusal is retried for a while first, since registries catch up with a policy change
 * within their cache time; then what waits for that destination is withheld (withhold.ts) and kept.
 */
function permanent(status: number, code: string, attempts: number, policyRetries: number): boolean {
  if (code === 'policy_denied') return attempts >= policyRetries;
  return status >= 400 && status < 500 && ![401, 404, 408, 409, 425, 429].includes(status);
}

/** Events for other domains, kept durably until each destination has taken them, in order. */
export interface Outbox {
  /** Adds events for a destination inside the caller's transaction; call kick() after the commit. */
  enqueue(tx: Transaction | undefined, destination: string, events: FederationEvent[]): Promise<void>;
  /** Delivers what waits now rather than at the next poll. */
  kick(): void;
  /**
   * A signed request from `domain` just arrived, so it is up again: events waiting for it go now
   * instead of after the rest of the backoff (up to a minute).
   */
  heardFrom(domain: string): Promise<void>;
  /** Joins the domain's live processes and starts delivering. */
  start(): Promise<void>;
  /** Stops delivering, lets go of this process's leases and leaves the live processes. */
  stop(): Promise<void>;
  /** Events waiting, per destination. */
  depth(): Promise<Map<string, number>>;
  /** After a pause (`paused`): what waits for every destination goes now, backoffs cut short. */
  resume(): Promise<void>;
}

export type OutboxOptions = {
  sequelize: Sequelize;
  models: FederationModels;
  /** Only `post` is used: tests hand in a stand-in. */
  transport: Pick<Transport, 'post'>;
  processId: string;
  /** This domain: it speaks for the placeholders of withheld entries. */
  domain: string;
  /**
   * Where this process runs (host and port): a process that starts as an instance takes over the leases
   * of the one that ran as it before, which is gone.
   */
  instance: string;
  /** How often this process tells the others it is alive, and after how long without that it counts as gone. */
  heartbeatMs?: number;
  deadAfterMs?: number;
  logger: Logger;
  pollMs?: number;
  /** How many times a policy refusal is retried (with backoff) before the events are withheld. */
  policyRetries?: number;
  /**
   * Told about people's entries a destination refused for good (a partner's policy, say), before they are
   * set aside or withheld, so their authors learn of it. `reason` is the error code, `error` its text.
   */
  onRefused?: (destination: string, entries: EntryEvent[], refusal: { reason: string; error: string }) => Promise<void>;
  /**
   * Asked after a failed attempt whether the destination's domain was removed at the gateway; what waits
   * for one removed past the grace period is set aside and reported as refused (removed-destination.ts).
   * Without it, a destination is never taken for removed.
   */
  removed?: RemovedDestinations;
  /**
   * Told that a destination holds other entries at seqs of conversations this node orders, up to these
   * seqs (sequence-taken.ts): their numbering moves past them, before the authors are told (onRefused).
   */
  onSequenceTaken?: (highest: [string, number][]) => Promise<void>;
  /**
   * While true nothing is sent, and nothing is set aside: this domain was removed at the gateway, so its
   * peers refuse it. What waits is kept for when it is added again (then call resume()).
   */
  paused?: () => boolean;
  /** The clock leases, backoff and contact are judged by (the machine's by default). */
  now?: () => number;
};

type OutboxPeerRow = InstanceType<FederationModels['OutboxPeer']>;
type OutboxRow = InstanceType<FederationModels['OutboxEntry']>;
/** `taken`: entries the destination refused as `sequence_taken` (the rest it took). */
type Outcome = { ok: true; taken: Refusal[] } | { ok: false; permanent: boolean; code: string; error: string };

/** What delivery to one destination needs: the options, the domain's live processes, who is backing off. */
type Deliverer = { options: OutboxOptions; liveness: Liveness; backingOff: Set<string>; now: () => number };

/** Takes the destination's lease for this process, unless another live process holds it. */
async function claim(d: Deliverer, destination: string): Promise<boolean> {
  const { OutboxPeer } = d.options.models;
  await OutboxPeer.findOrCreate({
    where: { destination },
    defaults: {
      destination,
      txnId: null,
      txnLastId: null,
      nextAttemptAt: null,
      lastError: null,
      leaseOwner: null,
      leaseUntil: null,
    },
  });
  const now = new Date(d.now());
  const [count] = await OutboxPeer.update(
    { leaseOwner: d.options.processId, leaseUntil: new Date(now.getTime() + LEASE_MS) },
    // A lease lapses when its time runs out or as soon as its holder is known to be gone.
    {
      where: {
        destination,
        [Op.or]: [
          { leaseOwner: null },
          { leaseOwner: d.options.processId },
          { leaseUntil: { [Op.lt]: now } },
          d.liveness.holderGone(),
        ],
      },
    },
  );
  return count === 1;
}

/** The rows of the destination's transaction: those of the one already formed, or a new one's. Null when nothing waits. */
async function transactionRows(d: Deliverer, destination: string, peer: OutboxPeerRow): Promise<OutboxRow[] | null> {
  const { OutboxEntry } = d.options.models;
  if (peer.txnId && peer.txnIds) {
    // A retry carries exactly the rows of the first attempt. A row that became visible meanwhile (its
    // writer committed after this transaction was formed, with a lower id: flushes and other writers
    // commit in any order) goes in a later transaction, never lost under this one's id.
    const ids = JSON.parse(peer.txnIds) as number[];
    return OutboxEntry.findAll({ where: { destination, id: { [Op.in]: ids } }, order: [['id', 'ASC']] });
  }
  if (peer.txnId && peer.txnLastId !== null) {
    // A transaction formed before txn_ids existed.
    return OutboxEntry.findAll({ where: { destination, id: { [Op.lte]: peer.txnLastId } }, order: [['id', 'ASC']] });
  }
  const rows = withinBytes(await OutboxEntry.findAll({ where: { destination }, order: [['id', 'ASC']], limit: BATCH }));
  if (rows.length === 0) return null;
  peer.txnId = randomUUID().replace(/-/g, '');
  peer.txnLastId = rows.at(-1)!.id;
  peer.txnIds = JSON.stringify(rows.map((r) => r.id));
  await peer.save();
  return rows;
}

/** The first rows, in order, whose events fit in TXN_MAX_BYTES together; the first row always. */
function withinBytes<Row extends { event: string }>(rows: Row[]): Row[] {
  let bytes = 0;
  const taken: Row[] = [];
  for (const row of rows) {
    bytes += Buffer.byteLength(row.event) + 1;
    if (taken.length > 0 && bytes > TXN_MAX_BYTES) break;
    taken.push(row);
  }
  return taken;
}

/** Posts the transaction once: taken, or refused for now or for good. */
async function attempt(
  d: Deliverer,
  destination: string,
  peer: OutboxPeerRow,
  events: FederationEvent[],
): Promise<Outcome> {
  try {
    const response = await d.options.transport.post(destination, `/federation/v1/transactions/${peer.txnId}`, {
      events,
    });
    if (response.status === 200) return { ok: true, taken: takenIn(response.body) };
    const { code, message } = errorOf(response);
    return {
      ok: false,
      permanent: permanent(response.status, code, peer.attempts, d.options.policyRetries ?? 7),
      code,
      error: `${code}: ${message}`,
    };
  } catch (error) {
    // Not answered, or answered by someone other than the destination (peer_answer_unsigned or
    // peer_answer_forged: a made-up ack is no ack): the same transaction goes again, its id unchanged.
    if (error instanceof AnswerSignatureError)
      return { ok: false, permanent: false, code: error.code, error: `${error.code}: ${error.message}` };
    return { ok: false, permanent: false, code: 'unreachable', error: (error as Error).message };
  }
}

/** Sends one transaction to a destination; true when more may be waiting. */
async function deliverOne(d: Deliverer, destination: string): Promise<boolean> {
  const { sequelize, models, logger } = d.options;
  if (!(await claim(d, destination))) return false;
  const peer = (await models.OutboxPeer.findByPk(destination))!;
  if (peer.nextAttemptAt && peer.nextAttemptAt > new Date(d.now())) return false;
  const rows = await transactionRows(d, destination, peer);
  if (rows === null) return false;
  if (rows.length === 0) {
    Object.assign(peer, { txnId: null, txnLastId: null, txnIds: null });
    await peer.save();
    return true;
  }
  // Paused while this attempt was on its way here (the domain just learnt it was removed): it waits too.
  if (d.options.paused?.()) return false;
  const sent = rows.map((r) => r.id);
  const events = rows.map((r) => JSON.parse(r.event) as FederationEvent);
  const outcome = await attempt(d, destination, peer, events);
  if (!outcome.ok && outcome.permanent && outcome.code === 'policy_denied') {
    // The pair is closed: what waits is withheld, kept in order for when it opens again; retried as a failure.
    await withholdAll(d.options, destination, { reason: outcome.code, error: outcome.error });
    Object.assign(peer, { txnId: null, txnLastId: null, txnIds: null });
  } else if (outcome.ok || outcome.permanent) {
    // Before the rows go: a crash in between tells it again rather than never (a retry is a duplicate).
    if (outcome.ok && outcome.taken.length > 0) await peerHoldsOurSeqs(d.options, destination, events, outcome.taken);
    if (!outcome.ok) {
      logger.error(
        { destination, error: outcome.error, events: rows.length },
        'federation events refused for good; set aside',
      );
      await report(d.options, destination, events, { reason: outcome.code, error: outcome.error });
    }
    await sequelize.transaction(async (tx) => {
      await models.OutboxEntry.destroy({ where: { destination, id: { [Op.in]: sent } }, transaction: tx });
      Object.assign(peer, {
        txnId: null,
        txnLastId: null,
        txnIds: null,
        attempts: 0,
        nextAttemptAt: null,
        lastError: outcome.ok ? null : outcome.error.slice(0, 500),
        unregisteredSince: null,
      });
      await peer.save({ transaction: tx });
    });
    d.backingOff.delete(destination);
    return true;
  }
  const { removed } = d.options;
  if (removed && (await removedForGood({ ...removed, now: d.now, logger }, destination, peer))) {
    await setAsideAll(d.options, destination, peer, removedRefusal(destination));
    d.backingOff.delete(destination);
    return true;
  }
  await backOff(d, destination, peer, outcome.error);
  return false;
}

/** A failed attempt: the next waits longer (capped exponential backoff, with jitter). */
async function backOff(d: Deliverer, destination: string, peer: OutboxPeerRow, error: string): Promise<void> {
  const attempts = peer.attempts + 1;
  const delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.min(attempts, 16)) * (0.75 + Math.random() / 2);
  Object.assign(peer, { attempts, nextAttemptAt: new Date(d.now() + delay), lastError: error.slice(0, 500) });
  await peer.save();
  d.backingOff.add(destination);
  d.options.logger.warn(
    { destination, attempts, retryInMs: Math.round(delay), error },
    'federation delivery failed; will retry',
  );
}

async function report(
  options: OutboxOptions,
  destination: string,
  events: FederationEvent[],
  refusal: { reason: string; error: string },
): Promise<void> {
  const entries = events.filter(reported);
  if (entries.length === 0) return;
  await options
    .onRefused?.(destination, entries, refusal)
    .catch((err: unknown) => options.logger.error({ err }, 'could not report refused events'));
}

/**
 * Everything queued for a destination whose domain was removed at the gateway, past the grace period: its
 * authors are told, as for any refusal for good (delivery-failures.ts), then it is deleted, a batch at a
 * time (told first: a crash in between tells them again rather than never). What is queued for it later
 * goes the same way at its first attempt, until the domain is registered again.
 */
async function setAsideAll(
  options: OutboxOptions,
  destination: string,
  peer: OutboxPeerRow,
  refusal: { reason: string; error: string },
): Promise<void> {
  const { OutboxEntry } = options.models;
  let setAside = 0;
  for (;;) {
    const rows = await OutboxEntry.findAll({ where: { destination }, order: [['id', 'ASC']], limit: BATCH });
    if (rows.length === 0) break;
    const events = rows.map((row) => JSON.parse(row.event) as FederationEvent);
    await report(options, destination, events, refusal);
    await OutboxEntry.destroy({ where: { destination, id: { [Op.in]: rows.map((row) => row.id) } } });
    setAside += rows.length;
  }
  const lastError = refusal.error.slice(0, 500);
  Object.assign(peer, { txnId: null, txnLastId: null, txnIds: null, attempts: 0, nextAttemptAt: null, lastError });
  await peer.save();
  options.logger.error(
    { destination, events: setAside, unregisteredSince: peer.unregisteredSince },
    'the gateway has not registered this destination for the grace period (removed there): what waited for it is set aside as not delivered, its authors told',
  );
}

/**
 * Every event queued for a destination whose policy refuses this domain is replaced by what may wait for
 * it (withhold.ts), in place, so that the order holds; the authors are told first (a crash in between
 * tells them again rather than never).
 */
async function withholdAll(
  options: OutboxOptions,
  destination: string,
  refusal: { reason: string; error: string },
): Promise<void> {
  const { sequelize, logger } = options;
  const { OutboxEntry } = options.models;
  let after = 0;
  let withheld = 0;
  for (;;) {
    const rows = await OutboxEntry.findAll({
      where: { destination, id: { [Op.gt]: after } },
      order: [['id', 'ASC']],
      limit: BATCH,
    });
    if (rows.length === 0) break;
    after = rows.at(-1)!.id;
    const changes = rows.map((row) => {
      const event = JSON.parse(row.event) as FederationEvent;
      const kept = withhold(event, options.domain);
      return { row, event, kept, changed: kept === null || JSON.stringify(kept) !== row.event };
    });
    await report(
      options,
      destination,
      changes.filter((c) => c.changed).map((c) => c.event),
      refusal,
    );
    await sequelize.transaction(async (tx) => {
      const dropped = changes.filter((c) => c.kept === null).map((c) => c.row.id);
      if (dropped.length > 0) await OutboxEntry.destroy({ where: { id: { [Op.in]: dropped } }, transaction: tx });
      for (const { row, kept, changed } of changes) {
        if (kept && changed)
          await OutboxEntry.update({ event: JSON.stringify(kept) }, { where: { id: row.id }, transaction: tx });
      }
    });
    withheld += changes.filter((c) => c.changed).length;
  }
  if (withheld > 0)
    logger.warn(
      { destination, withheld, error: refusal.error },
      'federation policy refuses this destination; its events are withheld until it opens again',
    );
}

/**
 * The durable outbox: events for another domain are written in the same transaction as what they
 * announce, then delivered in order, as transactions of up to 500 events with an idempotent id, one in
 * flight per destination (a lease picks one process of the domain), retried with capped exponential
 * backoff until the destination takes them.
 */
export function createOutbox(options: OutboxOptions): Outbox {
  const { sequelize, models, processId, logger } = options;
  const { OutboxEntry, OutboxPeer } = models;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = true;
  const lastContact = new Map<string, number>();
  const backingOff = new Set<string>();
  const heartbeatMs = options.heartbeatMs ?? 5_000;
  const clock = options.now ?? Date.now;
  const liveness = createLiveness({
    sequelize,
    models,
    processId,
    instance: options.instance,
    heartbeatMs,
    deadAfterMs: options.deadAfterMs ?? 3 * heartbeatMs,
    logger,
    now: clock,
  });
  const deliverer: Deliverer = { options, liveness, backingOff, now: clock };

  async function destinations(): Promise<string[]> {
    const rows = await sequelize.query<{ destination: string }>('SELECT DISTINCT destination FROM outbox', {
      type: QueryTypes.SELECT,
    });
    return rows.map((r) => r.destination);
  }

  async function runOnce(): Promise<void> {
    do {
      again = false;
      if (options.paused?.()) return;
      const pending = await destinations();
      await Promise.all(
        pending.map(async (destination) => {
          try {
            for (let i = 0; i < 1000 && (await deliverOne(deliverer, destination)); i++);
          } catch (error) {
            logger.error({ err: error, destination }, 'outbox delivery crashed');
          }
        }),
      );
    } while (again && !stopped);
  }

  function run() {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = runOnce().finally(() => {
      running = undefined;
    });
  }

  return {
    async enqueue(tx: Transaction | undefined, destination: string, events: FederationEvent[]): Promise<void> {
      if (events.length === 0) return;
      const now = new Date(clock());
      await OutboxEntry.bulkCreate(
        events.map((event) => ({ destination, event: JSON.stringify(event), createdAt: now })),
        { transaction: tx },
      );
    },
    kick: run,
    async heardFrom(domain: string): Promise<void> {
      const now = clock();
      // A backoff this process set is cut short at once; one another process of the domain set is looked for
      // at most every few seconds, so that a busy peer's every request does not cost a write.
      if (!backingOff.has(domain) && now - (lastContact.get(domain) ?? 0) < CONTACT_RESET_MS) return;
      lastContact.set(domain, now);
      backingOff.delete(domain);
      const [waiting] = await OutboxPeer.update(
        { nextAttemptAt: null },
        { where: { destination: domain, nextAttemptAt: { [Op.gt]: new Date(now) } } },
      );
      if (waiting > 0) {
        logger.info({ destination: domain }, 'federation peer reached us; retrying its deliveries now');
        run();
      }
    },
    async start() {
      await liveness.start();
      stopped = false;
      timer = setInterval(run, options.pollMs ?? 1_000);
      timer.unref();
      run();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
      await OutboxPeer.update({ leaseOwner: null, leaseUntil: null }, { where: { leaseOwner: processId } }).catch(
        () => undefined,
      );
      await liveness.stop();
    },
    async depth(): Promise<Map<string, number>> {
      const rows = await sequelize.query<{ destination: string; n: number | string }>(
        'SELECT destination, COUNT(*) AS n FROM outbox GROUP BY destination',
        { type: QueryTypes.SELECT },
      );
      return new Map(rows.map((r) => [r.destination, Number(r.n)]));
    },
    async resume(): Promise<void> {
      backingOff.clear();
      await OutboxPeer.update({ nextAttemptAt: null }, { where: { nextAttemptAt: { [Op.gt]: new Date(clock()) } } });
      run();
    },
  };
}
