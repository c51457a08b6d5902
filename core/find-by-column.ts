import { QueryTypes, type Model, type ModelStatic, type Transaction } from 'sequelize';

/**
 * One row by one column, as a model instance, through a plain statement. Sequelize's `findOne` spends
 * about twice the CPU of the statement itself building and cloning its options and the instance; on
 * the paths every token request takes (the person, the app, the node), that adds up. The instance is
 * the one `findOne` gives (getters and all): columns read under their attribute names, dates as Dates
 * and booleans as booleans on both databases (SQLite hands dates as text, MariaDB booleans as 0/1).
 */
export async function findByColumn<M extends Model>(
  model: ModelStatic<M>,
  attribute: string,
  value: string,
  transaction?: Transaction,
): Promise<M | null> {
  const plan = planOf(model);
  const field = plan.fieldOf.get(attribute);
  if (!field) throw new Error(`${model.name} has no attribute ${attribute}`);
  const rows = await model.sequelize!.query<Record<string, unknown>>(`${plan.select} WHERE \`${field}\` = ? LIMIT 1`, {
    replacements: [value],
    type: QueryTypes.SELECT,
    transaction,
  });
  const row = rows[0];
  if (!row) return null;
  for (const name of plan.dates) if (typeof row[name] === 'string') row[name] = new Date(row[name] as string);
  for (const name of plan.booleans) if (typeof row[name] === 'number') row[name] = row[name] !== 0;
  return model.build(row as never, { isNewRecord: false, raw: true });
}

type Plan = { select: string; fieldOf: Map<string, string>; dates: string[]; booleans: string[] };
const plans = new WeakMap<object, Plan>();

function planOf(model: ModelStatic<Model>): Plan {
  let plan = plans.get(model);
  if (plan) return plan;
  const fieldOf = new Map<string, string>();
  const dates: string[] = [];
  const booleans: string[] = [];
  for (const [name, attribute] of Object.entries(model.getAttributes())) {
    const key = (attribute.type as { key?: string }).key;
    if (key === 'VIRTUAL') continue;
    fieldOf.set(name, attribute.field ?? name);
    if (key === 'DATE') dates.push(name);
    if (key === 'BOOLEAN') booleans.push(name);
  }
  const columns = [...fieldOf].map(([name, field]) => `\`${field}\` AS \`${name}\``).join(', ');
  plan = { select: `SELECT ${columns} FROM \`${model.getTableName() as string}\``, fieldOf, dates, booleans };
  plans.set(model, plan);
  return plan;
}
