import { availableParallelism } from 'node:os';
import { CsvError, parse } from 'csv-parse/sync';
import { Op } from 'sequelize';
import type { z } from 'zod';
import { ForbiddenError, ValidationError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { assertMayGrant, insertUser } from './create-user.ts';
import { hashPassword } from './passwords.ts';
import { addressNameProblems } from './reserved-names.ts';
import { assertCovers } from './scope.ts';
import { newUserSchema, passwordSchema, roleSchema, unitPathSchema, type NewUser } from './schemas.ts';
import { campusWords, weakPasswordReason } from './weak-passwords.ts';
import type { Role, User } from '../models/index.ts';
import { welcomeNewPeople, type NewAccountMail, type WelcomeSent } from './new-account-link.ts';
import { temporaryPasswordUntil } from './temporary-password.ts';

export const IMPORT_COLUMNS = ['username', 'name', 'email', 'units', 'roles', 'password'] as const;
type Column = (typeof IMPORT_COLUMNS)[number];
const REQUIRED_COLUMNS: Column[] = ['username', 'name', 'email', 'units', 'roles'];
const HEADER_HINT = `expected the header ${IMPORT_COLUMNS.join(',')}`;

export type LineError = { line: number; field: Column | null; message: string };
export type ImportProgress = { phase: 'hashing' | 'importing' | 'welcoming'; done: number; total: number };
/** `welcomes`: how mailing each person imported without a password went, where `welcome` was given. */
export type ImportResult = {
  imported: number;
  withPassword: number;
  withoutPassword: number;
  welcomes?: WelcomeSent[];
};
/**
 * `welcome`: where the gateway mails (SMTP_URL), each person imported without a password is mailed the
 * welcome a console-made account gets, with a link to choose their password (new-account-link.ts).
 */
export type ImportOptions = {
  onProgress?: (progress: ImportProgress) => void;
  hashConcurrency?: number;
  welcome?: NewAccountMail | null;
};

/** The whole file is refused: every problem is listed by its line, and nothing was written. */
export class ImportRejectedError extends ValidationError {
  readonly lines: LineError[];

  constructor(lines: LineError[]) {
    const fields: Record<string, string> = {};
    for (const e of lines) {
      const key = e.field ? `line ${e.line}: ${e.field}` : `line ${e.line}`;
      fields[key] = fields[key] ? `${fields[key]}; ${e.message}` : e.message;
    }
    const count = lines.length === 1 ? '1 error' : `${lines.length} errors`;
    super(`The file has ${count}; no user was imported`, fields);
    this.lines = lines;
  }
}

type Row = { line: number; data: NewUser };

/**
 * Imports users from CSV (header username,name,email,units,roles,password; units and roles `;`-separated;
 * password optional). Every row is checked first, against the schema, the file itself and the database;
 * any problem rejects the whole file. Passwords are hashed before the transaction so it stays short,
 * then all rows are written in one transaction.
 */
export async function importUsers(
  ctx: GatewayContext,
  input: string | Uint8Array,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const rows = await validateRows(ctx, parseRows(decode(input)));
  const withPassword = rows.filter((r) => r.data.password);
  const hashes = new Map<Row, string>();
  const hashing = { done: 0, total: withPassword.length };
  await forEachLimited(withPassword, options.hashConcurrency ?? Math.max(1, availableParallelism()), async (row) => {
    hashes.set(row, await hashPassword(row.data.password!));
    hashing.done += 1;
    options.onProgress?.({ phase: 'hashing', ...hashing });
  });
  const withoutPassword: User[] = [];
  await inTransaction(ctx, async (ctx) => {
    const temporary: string[] = [];
    for (const [i, row] of rows.entries()) {
      const user = await insertUser(ctx, row.data, hashes.get(row) ?? null);
      if (hashes.has(row)) temporary.push(user.id);
      else withoutPassword.push(user);
      options.onProgress?.({ phase: 'importing', done: i + 1, total: rows.length });
    }
    // A password in a file was chosen for them and read by others: they choose their own at first sign-in.
    for (const ids of chunks(temporary, 500))
      await ctx.models.User.update(
        { mustChangePassword: true, temporaryPasswordUntil: temporaryPasswordUntil(true) },
        { where: { id: { [Op.in]: ids } }, transaction: ctx.tx },
      );
    await audit(ctx, {
      action: 'user.import',
      details: { imported: rows.length, withoutPassword: rows.length - withPassword.length },
    });
  });
  const result = {
    imported: rows.length,
    withPassword: withPassword.length,
    withoutPassword: rows.length - withPassword.length,
  };
  if (!options.welcome) return result;
  // Only once every row is in: a file refused, or rolled back, has welcomed nobody to an account it lacks.
  const total = withoutPassword.length;
  const welcomes = await welcomeNewPeople(ctx, options.welcome, withoutPassword, (done) =>
    options.onProgress?.({ phase: 'welcoming', done, total }),
  );
  return { ...result, welcomes };
}

function decode(input: string | Uint8Array): string {
  const fileProblem = (problem: string) => new ValidationError(`The file is not a CSV text file: ${problem}`);
  if (typeof input === 'string' ? input.includes('\0') : input.includes(0))
    throw fileProblem('it contains binary data');
  let text: string;
  try {
    text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw fileProblem('it is not UTF-8 text (save it as "CSV UTF-8")');
  }
  // csv-parse counts a CRLF inside a quoted field as two lines; with plain LF its line numbers are exact.
  return text.replace(/\r\n?/g, '\n');
}

type RawRow = { line: number; cells: Record<Column, string> };
type Parsed = { rows: RawRow[]; errors: LineError[] };

function parseRows(text: string): Parsed {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // With `info`, csv-parse yields { record, info } per row, which its typings do not express.
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as typeof records;
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const line = (error as CsvError & { lines?: number }).lines ?? 1;
    throw new ImportRejectedError([
      { line, field: null, message: line === 1 ? `not a CSV header; ${HEADER_HINT}` : csvProblem(error) },
    ]);
  }
  const [head, ...body] = records;
  if (!head) throw new ValidationError(`The file is empty; ${HEADER_HINT}`);
  const columns = readHeader(head.record);

  const errors: LineError[] = [];
  const rows: RawRow[] = [];
  for (const { record, info } of body) {
    // info.lines is where the record ends; a quoted field may span lines, and the error names the first.
    const line = info.lines - record.reduce((n, field) => n + field.split('\n').length - 1, 0);
    if (record.every((field) => field.trim() === '')) continue;
    if (record.length !== columns.length) {
      errors.push({ line, field: null, message: `has ${record.length} fields, but the header has ${columns.length}` });
      continue;
    }
    const cells = { password: '' } as Record<Column, string>;
    columns.forEach((column, i) => (cells[column] = record[i]!));
    rows.push({ line, cells });
  }
  if (rows.length === 0 && errors.length === 0) throw new ValidationError('The file has a header but no users');
  return { rows, errors };
}

function readHeader(record: string[]): Column[] {
  const names = record.map((name) => name.trim().toLowerCase());
  const known = new Set<string>(IMPORT_COLUMNS);
  const unknown = names.filter((n) => !known.has(n));
  const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c));
  const repeated = names.filter((n, i) => names.indexOf(n) !== i);
  const problems = [
    missing.length > 0 ? `missing column ${missing.join(', ')}` : null,
    unknown.length > 0 ? `unknown column ${unknown.map((n) => JSON.stringify(n)).join(', ')}` : null,
    repeated.length > 0 ? `repeated column ${repeated.join(', ')}` : null,
  ].filter((p): p is string => p !== null);
  if (problems.length > 0)
    throw new ImportRejectedError([{ line: 1, field: null, message: `${problems.join('; ')}; ${HEADER_HINT}` }]);
  return names as Column[];
}

function csvProblem(error: CsvError): string {
  if (error.code === 'CSV_QUOTE_NOT_CLOSED') return 'a quoted field is never closed (a " is missing)';
  if (error.code === 'INVALID_OPENING_QUOTE' || error.code === 'CSV_INVALID_CLOSING_QUOTE') {
    return 'a stray " inside a field (quote the whole field and double the quotes inside it)';
  }
  return error.message;
}

const splitList = (cell: string) =>
  cell
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);

const columnOfField: Record<string, Column> = { displayName: 'name' };

function issuesOf(line: number, error: z.ZodError, input: Record<string, unknown>): LineError[] {
  const seen = new Set<string>();
  const out: LineError[] = [];
  for (const issue of error.issues) {
    const key = String(issue.path[0] ?? '');
    const column = columnOfField[key] ?? key;
    const field = (IMPORT_COLUMNS as readonly string[]).includes(column) ? (column as Column) : null;
    const item = issue.path.length > 1 ? (input[key] as unknown[])[issue.path[1] as number] : undefined;
    const message = item === undefined ? issue.message : `${JSON.stringify(item)}: expected ${issue.message}`;
    if (seen.has(`${field}|${message}`)) continue;
    seen.add(`${field}|${message}`);
    out.push({ line, field, message });
  }
  return out;
}

/**
 * What of a row can be checked against the file and the database: every value that passed the schema,
 * so that a row with a bad role still hears that its unit is unknown or its username taken.
 */
type Checkable = {
  line: number;
  username?: string;
  email?: string;
  units: string[];
  roles: Role[];
  /** Each valid unit path as the file wrote it (`campus/eng/CS-dept`), to name an unknown one as typed. */
  typedUnits: Map<string, string>;
};

function checkableOf(line: number, input: Record<string, unknown> & { units: string[]; roles: string[] }): Checkable {
  const { shape } = newUserSchema;
  const valid = <T>(result: { success: boolean; data?: T }) => (result.success ? [result.data as T] : []);
  return {
    line,
    username: valid(shape.username.safeParse(input.username))[0],
    email: valid(shape.email.safeParse(input.email))[0],
    units: input.units.flatMap((u) => valid(unitPathSchema.safeParse(u))),
    roles: input.roles.flatMap((r) => valid(roleSchema.safeParse(r))),
    typedUnits: new Map(input.units.flatMap((u) => valid(unitPathSchema.safeParse(u)).map((p) => [p, u] as const))),
  };
}

async function validateRows(ctx: GatewayContext, parsed: Parsed): Promise<Row[]> {
  const errors: LineError[] = [...parsed.errors];
  const rows: Row[] = [];
  const checkables: Checkable[] = [];
  const firstLineOf = { username: new Map<string, number>(), email: new Map<string, number>() };
  const place = await campusWords(ctx);

  for (const { line, cells } of parsed.rows) {
    const input = {
      username: cells.username,
      displayName: cells.name,
      email: cells.email,
      password: cells.password === '' ? undefined : cells.password,
      units: splitList(cells.units),
      roles: splitList(cells.roles),
    };
    const result = newUserSchema.safeParse(input);
    let ok = result.success;
    if (!result.success) errors.push(...issuesOf(line, result.error, input));
    const password = passwordSchema.safeParse(input.password);
    const weak = password.success ? weakPasswordReason(password.data, { ...input, place }) : null;
    if (weak) {
      errors.push({ line, field: 'password', message: weak });
      ok = false;
    }
    const row = checkableOf(line, input);
    checkables.push(row);
    for (const field of ['username', 'email'] as const) {
      const value = row[field];
      if (value === undefined) continue;
      const earlier = firstLineOf[field].get(value);
      if (earlier !== undefined) {
        errors.push({ line, field, message: `${value} is also on line ${earlier}` });
        ok = false;
      } else {
        firstLineOf[field].set(value, line);
      }
    }
    for (const [field, check] of [
      ['units', () => assertCovers(ctx.actor, row.units)],
      ['roles', () => assertMayGrant(ctx, row.roles)],
    ] as const) {
      try {
        check();
      } catch (error) {
        if (!(error instanceof ForbiddenError)) throw error;
        errors.push({ line, field, message: error.message });
        ok = false;
      }
    }
    if (ok && result.success) rows.push({ line, data: result.data });
  }

  errors.push(...(await databaseConflicts(ctx, checkables)));
  if (errors.length > 0) throw new ImportRejectedError(errors.sort((a, b) => a.line - b.line));
  return rows;
}

/** Unknown units and accounts that already exist, looked up in batches rather than row by row. */
async function databaseConflicts(ctx: GatewayContext, rows: Checkable[]): Promise<LineError[]> {
  const { OrgUnit, User } = ctx.models;
  const paths = [...new Set(rows.flatMap((r) => r.units))];
  const emails = rows.flatMap((r) => (r.email === undefined ? [] : [r.email]));
  const knownPaths = new Set<string>();
  const takenEmails = new Set<string>();
  for (const chunk of chunks(paths, 500)) {
    const units = await OrgUnit.findAll({
      where: { path: { [Op.in]: chunk } },
      attributes: ['path'],
      transaction: ctx.tx,
    });
    for (const u of units) knownPaths.add(u.path);
  }
  for (const chunk of chunks(emails, 500)) {
    const users = await User.findAll({
      where: { email: { [Op.in]: chunk } },
      attributes: ['email'],
      transaction: ctx.tx,
    });
    for (const u of users) takenEmails.add(u.email);
  }
  const takenNames = await addressNameProblems(
    ctx,
    rows.flatMap((r) => (r.username === undefined ? [] : [r.username])),
  );

  const errors: LineError[] = [];
  for (const { line, username, email, units, typedUnits } of rows) {
    const unknown = units.filter((p) => !knownPaths.has(p)).map((p) => typedUnits.get(p) ?? p);
    if (unknown.length > 0) errors.push({ line, field: 'units', message: `unknown unit ${unknown.join(', ')}` });
    const taken = username === undefined ? undefined : takenNames.get(username);
    if (taken)
      errors.push({
        line,
        field: 'username',
        message:
          taken.kind === 'person'
            ? `${username} is already taken`
            : taken.kind === 'deleted-person'
              ? taken.reason
              : `${username}: ${taken.reason}`,
      });
    if (email !== undefined && takenEmails.has(email))
      errors.push({ line, field: 'email', message: `${email} is already used by another account` });
  }
  return errors;
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Runs `work` over the items with at most `limit` in flight. */
async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
