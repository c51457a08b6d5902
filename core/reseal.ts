import { Op, type Model, type ModelStatic, type Sequelize, type Transaction, type WhereOptions } from 'sequelize';
import type { Logger } from './logger.ts';
import type { Sealer } from './seal.ts';

/** One kind of value a database holds sealed: a column, or a value inside a column's JSON text. */
export type SealedField = {
  /** How the report names it (the sealer's purpose). */
  kind: string;
  sealer: Sealer;
  model: ModelStatic<Model>;
  /** A unique attribute, to name a row and to page by. */
  key: string;
  /** The attribute that holds the value (or the JSON text around it). */
  column: string;
  /** Which rows hold one, when not all do. */
  where?: WhereOptions;
  /** For a value inside JSON text: how to take it out (null when absent) and put a new one in. */
  inside?: { read(text: string): string | null; write(text: string, sealed: string): string };
};

export type ResealCount = {
  kind: string;
  /** Sealed afresh with the current secret. */
  resealed: number;
  /** Already sealed with the current secret. */
  current: number;
  /** Changed by a running process while being resealed (so sealed with the current secret): left as it was. */
  changedMeanwhile: number;
  /** The rows whose value no configured secret opens: left untouched. */
  unopened: string[];
};

const BATCH = 200;

/**
 * Seals again, with the current secret, every value that only a previous secret opens (core/seal.ts), in
 * batches of one transaction each, so that the previous secret can then be dropped. Idempotent: a value
 * the current secret opens is left alone. A row is rewritten only if it still holds what was read, so a
 * value a running process changed meanwhile (sealing it with the current secret) is never overwritten.
 */
export async function resealAll(sequelize: Sequelize, fields: SealedField[]): Promise<ResealCount[]> {
  const counts: ResealCount[] = [];
  for (const field of fields) counts.push(await resealField(sequelize, field));
  return counts;
}

async function resealField(sequelize: Sequelize, field: SealedField): Promise<ResealCount> {
  const count: ResealCount = { kind: field.kind, resealed: 0, current: 0, changedMeanwhile: 0, unopened: [] };
  let after: string | null = null;
  for (;;) {
    const page: Model[] = await field.model.findAll({
      where: { ...field.where, ...(after === null ? {} : { [field.key]: { [Op.gt]: after } }) },
      attributes: [field.key, field.column],
      order: [[field.key, 'ASC']],
      limit: BATCH,
    });
    if (page.length === 0) return count;
    await sequelize.transaction(async (transaction) => {
      for (const row of page) {
        const outcome = await resealRow(field, row, transaction);
        if (outcome === 'unopened') count.unopened.push(String(row.get(field.key)));
        else if (outcome !== 'none') count[outcome]++;
      }
    });
    after = String(page.at(-1)!.get(field.key));
  }
}

async function resealRow(
  field: SealedField,
  row: Model,
  transaction: Transaction,
): Promise<'resealed' | 'current' | 'changedMeanwhile' | 'unopened' | 'none'> {
  const text = row.get(field.column) as string | null;
  const sealed = text === null ? null : field.inside ? field.inside.read(text) : text;
  if (text === null || sealed === null) return 'none';
  let plain: string;
  try {
    if (field.sealer.opensWithCurrent(sealed)) return 'current';
    plain = field.sealer.open(sealed);
  } catch {
    // No configured secret opens it, or it is no sealed value at all: either way it is left as it is.
    return 'unopened';
  }
  const fresh = field.sealer.seal(plain);
  const [changed] = await field.model.update(
    { [field.column]: field.inside ? field.inside.write(text, fresh) : fresh },
    { where: { [field.key]: row.get(field.key), [field.column]: text }, transaction },
  );
  return changed === 1 ? 'resealed' : 'changedMeanwhile';
}

/**
 * At a start with previous secrets configured: says, at warn, that values only a previous secret opens
 * are due for a reseal, and how; the previous secret cannot be dropped before.
 */
export function warnIfResealDue(
  logger: Logger,
  sealer: Sealer,
  sealed: string[],
  how: { variable: string; command: string },
): void {
  // One that no secret opens is not due but unusable: the start's own check refuses it, with its own words.
  const due = sealed.filter((value) => !sealer.opensWithCurrent(value) && opens(sealer, value)).length;
  if (due === 0) return;
  logger.warn(
    { due },
    `${due} signing key(s) opened only with a secret of ${how.variable}_PREVIOUS: run "${how.command}", then drop ${how.variable}_PREVIOUS`,
  );
}

function opens(sealer: Sealer, sealed: string): boolean {
  try {
    sealer.open(sealed);
    return true;
  } catch {
    return false;
  }
}
