import { QueryTypes, type ModelStatic, type Sequelize, type Transaction } from 'sequelize';
import type { GatewayModels } from './models/index.ts';
import { oidcStatementsFor } from './oidc/statements.ts';

type Entries = Map<string, Promise<unknown>>;

/**
 * The reads every token request makes and that rarely change (the client and its app, the person with
 * their units and roles, the domain nodes), kept by each gateway process between requests.
 *
 * They stay correct in every process over the database through one counter row (table read_version):
 * every write to the tables behind them moves it in the writer's own transaction (the hooks below), and
 * each request reads it once before it uses what is kept. When it moved, what was kept is dropped and
 * read again, so a disabled account or app, or changed units or roles, count from the very next request
 * whichever process made the change.
 */
export type SharedReads = {
  /** What this process keeps, valid for the counter as read now (one statement). */
  current(): Promise<Entries>;
};

// Each person keeps a few entries; past this many the next version starts afresh rather than grow.
const MAX_ENTRIES = 50_000;

const perDatabase = new WeakMap<Sequelize, SharedReads>();

/** One per database handle, so two gateways in one process (tests) each keep their own. */
export function sharedReadsOf(sequelize: Sequelize): SharedReads {
  let reads = perDatabase.get(sequelize);
  if (!reads) {
    reads = createSharedReads(sequelize);
    perDatabase.set(sequelize, reads);
  }
  return reads;
}

function createSharedReads(sequelize: Sequelize): SharedReads {
  let version = -1;
  let entries: Entries = new Map();
  const readCounter = sharedCounterReads(sequelize);
  return {
    async current() {
      const now = await readCounter();
      if (now > version || entries.size > MAX_ENTRIES) {
        version = now;
        entries = new Map();
      }
      // An answer older than what is kept (its statement overtaken by another's): this request reads afresh.
      return now === version ? entries : new Map();
    },
  };
}

/**
 * The counter as read by a statement sent after the call: whatever was committed before the call is
 * seen. Requests asking while a read is on its way share the next one, sent as soon as it is back; so
 * under load one statement serves every request that arrived during the round trip before it, instead
 * of one each, and none is answered by a statement sent before it asked.
 */
function sharedCounterReads(sequelize: Sequelize): () => Promise<number> {
  let running: Promise<number> | undefined;
  let next: Promise<number> | undefined;
  // Sent the way the provider's store sends its reads: a statement prepared once, not Sequelize's query
  // path, which compiles the statement anew and builds a query object for each of these reads.
  const statements = oidcStatementsFor(sequelize);
  const read = async () => {
    const rows = await statements.select<{ version: number | string }>({ sql: COUNTER_READ, values: [] });
    return Number(rows[0]?.version ?? 0);
  };
  const start = (): Promise<number> => {
    const reading = read().finally(() => {
      running = undefined;
    });
    running = reading;
    return reading;
  };
  return () => {
    if (!running) return start();
    next ??= running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        next = undefined;
        return running ?? start();
      });
    return next;
  };
}

const COUNTER_READ = 'SELECT version FROM read_version WHERE id = 1';

/** Moves the counter (in the writer's transaction when there is one). */
export async function moveReadVersion(sequelize: Sequelize, transaction?: Transaction): Promise<void> {
  await sequelize.query('UPDATE read_version SET version = version + 1 WHERE id = 1', {
    type: QueryTypes.UPDATE,
    transaction,
  });
}

// Transactions opened by inTransaction move the counter once, as their last statement: the counter row
// is then the last lock each of them takes, so two writers never wait on each other through it.
const settledAtEnd = new WeakSet<Transaction>();
const changedIn = new WeakSet<Transaction>();

/** Runs `work` in `tx`, then moves the counter in it if the work wrote anything that is kept. */
export async function settleReadVersion<T>(sequelize: Sequelize, tx: Transaction, work: () => Promise<T>): Promise<T> {
  settledAtEnd.add(tx);
  const result = await work();
  if (changedIn.has(tx)) await moveReadVersion(sequelize, tx);
  return result;
}

type WriteOptions = { transaction?: Transaction | null; fields?: string[] };

// A sign-in's bookkeeping on the person (failed attempts, lock, last sign-in) changes nothing that is kept.
const USER_BOOKKEEPING = new Set(['failedLogins', 'failuresSince', 'lockedUntil', 'lastLoginAt', 'updatedAt']);

/** Every write to the tables behind the shared reads moves the counter, whichever code path makes it. */
export function moveReadVersionOnWrites(models: GatewayModels): void {
  const watched: ModelStatic<never>[] = [
    models.User,
    models.Membership,
    models.OrgUnit,
    models.App,
    models.Domain,
    models.DomainUnit,
    // The provider's clients; its other rows are written in plain SQL by the adapter, which no hook sees.
    models.OidcPayload,
  ] as never;
  for (const model of watched) {
    const sequelize = model.sequelize!;
    const changed = async (options: WriteOptions | undefined) => {
      if (model === (models.User as never) && options?.fields?.every((f) => USER_BOOKKEEPING.has(f))) return;
      const tx = options?.transaction ?? undefined;
      if (tx && settledAtEnd.has(tx)) changedIn.add(tx);
      else await moveReadVersion(sequelize, tx);
    };
    model.addHook('afterCreate', (_row, options) => changed(options as WriteOptions));
    model.addHook('afterUpdate', (_row, options) => changed(options as WriteOptions));
    model.addHook('afterDestroy', (_row, options) => changed(options as WriteOptions));
    model.addHook('afterUpsert', (_row, options) => changed(options as WriteOptions));
    model.addHook('afterBulkCreate', (_rows, options) => changed(options as WriteOptions));
    model.addHook('afterBulkUpdate', (options) => changed(options as WriteOptions));
    model.addHook('afterBulkDestroy', (options) => changed(options as WriteOptions));
  }
}
