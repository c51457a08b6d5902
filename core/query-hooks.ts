import type { Sequelize } from 'sequelize';

/** A statement as sent around Sequelize's query path: its text and the values bound to it. */
export type HookedStatement = { sql: string; values: unknown[] };

/** Sequelize's query hooks for a statement sent around its query path. */
export type QueryHooks = {
  before(statement: HookedStatement): Promise<void>;
  after(statement: HookedStatement): Promise<void>;
};

type Hooked = {
  hasHook(name: string): boolean;
  runHooks(name: string, options: object, query: object): Promise<void>;
};

/**
 * Statements sent around Sequelize still pass its `beforeQuery` and `afterQuery` hooks, with the
 * values as replacements and the SQL as the query's, as they did through it: tests and the benchmark
 * count statements, or make one fail, with them. Undefined while no hook is set (nothing to run).
 */
export function queryHooks(sequelize: Sequelize): QueryHooks | undefined {
  const hooked = sequelize as unknown as Hooked;
  if (!hooked.hasHook('beforeQuery') && !hooked.hasHook('afterQuery')) return undefined;
  // One options object per statement, as Sequelize passes its own to both hooks of a query (a hook may
  // key on it, to time the query, say).
  const optionsOf = new WeakMap<HookedStatement, object>();
  const run = (name: string, statement: HookedStatement) => {
    let options = optionsOf.get(statement);
    if (!options) optionsOf.set(statement, (options = { sql: statement.sql, replacements: statement.values }));
    return hooked.runHooks(name, options, { sql: statement.sql });
  };
  return { before: (statement) => run('beforeQuery', statement), after: (statement) => run('afterQuery', statement) };
}

/**
 * Runs a statement sent around Sequelize between its query hooks, as Sequelize runs its own: `afterQuery`
 * whether it succeeded or not. Without hooks, only the statement.
 */
export async function withQueryHooks<T>(
  sequelize: Sequelize,
  statement: HookedStatement,
  run: () => Promise<T>,
): Promise<T> {
  const hooks = queryHooks(sequelize);
  if (!hooks) return run();
  await hooks.before(statement);
  try {
    return await run();
  } finally {
    await hooks.after(statement);
  }
}
