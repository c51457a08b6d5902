import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Op } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../core/migrator.ts';
import { ValidationError } from '../../core/errors.ts';
import { importUsers, ImportRejectedError, type ImportProgress } from '../../gateway/accounts/import-users.ts';
import { membershipsOf } from '../../gateway/accounts/memberships.ts';
import { verifyPassword } from '../../gateway/accounts/passwords.ts';
import { operator, type GatewayContext } from '../../gateway/context.ts';
import { registerApp } from '../../gateway/apps-registry/register-app.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { unusedUrl } from '../helpers/ports.ts';
import { inspectDatabase, jsonOf, runAtrium, type Inspector } from '../helpers/cli.ts';

let db: TestDatabase;
let inspect: Inspector;
let ctx: GatewayContext;

const HEADER = 'username,name,email,units,roles,password';
const csv = (...lines: string[]) => `${lines.join('\n')}\n`;

const usernames = async (names: string[]) =>
  (await ctx.models.User.findAll({ where: { username: { [Op.in]: names } }, order: [['username', 'ASC']] })).map(
    (u) => u.username,
  );

async function rejection(input: string | Uint8Array): Promise<ImportRejectedError> {
  const error = await importUsers(ctx, input).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImportRejectedError);
  return error as ImportRejectedError;
}

beforeAll(async () => {
  db = await createTestDatabase('cli-import');
  inspect = await inspectDatabase(db);
  ctx = inspect.ctx;
  await migrate(inspect.sequelize, 'gateway');
  await seedDemo(ctx, { eng: await unusedUrl('localhost'), arts: await unusedUrl('localhost') });
});
afterAll(async () => {
  await inspect?.close();
  await db?.drop();
});

describe('importing users from CSV', () => {
  it("refuses rows whose username is reserved or an app's bot address, and imports nothing", async () => {
    await registerApp(
      { ...ctx, actor: operator('test') },
      { name: 'Room Booking', slug: 'rooms', redirectUris: ['http://localhost:9/cb'] },
    );
    const error = await rejection(
      csv(
        HEADER,
        'res-ok,Fine Row,res-ok@campus.test,campus/eng,student,',
        'hook-7a,Webhook Twin,hook@campus.test,campus/eng,student,',
        'system,System Twin,system@campus.test,campus/eng,student,',
        'rooms,Bot Twin,rooms@campus.test,campus/eng,student,',
      ),
    );
    expect(error.lines).toEqual([
      { line: 3, field: 'username', message: '"hook-" is reserved: it names webhook senders in conversations' },
      { line: 4, field: 'username', message: '"system" is reserved for Atrium itself' },
      { line: 5, field: 'username', message: 'rooms: an app has this name (its bot address)' },
    ]);
    expect(await usernames(['res-ok', 'hook-7a', 'system', 'rooms'])).toEqual([]);
  });

  it('reports every problem of every row in one pass, schema or not, and imports nothing', async () => {
    const error = await rejection(
      csv(
        HEADER,
        'imp2,Imp Two,imp2@campus.test,campus/eng/zz,studnet,short',
        'alice,Alice Again,not-an-email,campus/eng;campus/nowhere,student,',
        'imp4,Imp Four,alice@campus.test,campus/eng,student,too-short',
        'imp5,Imp Five,imp2@campus.test,Bad Unit,student,',
      ),
    );
    expect(error.lines).toEqual([
      { line: 2, field: 'password', message: 'at least 10 characters' },
      { line: 2, field: 'roles', message: '"studnet": expected one of student, staff, admin, unit-admin' },
      { line: 2, field: 'units', message: 'unknown unit campus/eng/zz' },
      { line: 3, field: 'email', message: 'not a valid email address' },
      { line: 3, field: 'units', message: 'unknown unit campus/nowhere' },
      { line: 3, field: 'username', message: 'alice is already taken' },
      { line: 4, field: 'password', message: 'at least 10 characters' },
      { line: 4, field: 'email', message: 'alice@campus.test is already used by another account' },
      {
        line: 5,
        field: 'units',
        message: '"Bad Unit": expected a path of lowercase segments separated by "/", such as campus/eng/cs',
      },
      { line: 5, field: 'email', message: 'imp2@campus.test is also on line 2' },
    ]);
    expect(await usernames(['imp2', 'imp4', 'imp5'])).toEqual([]);
  });

  it('imports every row with its units (the first primary), roles and optional password', async () => {
    const progress: ImportProgress[] = [];
    const result = await importUsers(
      ctx,
      csv(
        HEADER,
        'imp-ann,Ann Lee,Ann@Campus.Test,campus/eng/cs;campus/arts,student;staff,ann-maple-lantern-1',
        'imp-ben,Ben Ode,ben@campus.test,campus/arts/history,student,',
        'imp-cy,Cy Tan,cy@campus.test, campus/eng/ee ; campus/eng/cs ,staff,cy-teal-harbour-22',
      ),
      { onProgress: (p) => progress.push(p) },
    );
    expect(result).toEqual({ imported: 3, withPassword: 2, withoutPassword: 1 });

    const users = await ctx.models.User.findAll({
      where: { username: { [Op.like]: 'imp-%' } },
      order: [['username', 'ASC']],
    });
    const memberships = await membershipsOf(
      ctx,
      users.map((u) => u.id),
    );
    const shape = users.map((u) => ({
      username: u.username,
      email: u.email,
      roles: u.roles,
      units: memberships.get(u.id)!.map((m) => `${m.unit.path}${m.primary ? '*' : ''}`),
      hash: u.passwordHash?.slice(0, 10) ?? null,
    }));
    expect(shape).toEqual([
      {
        username: 'imp-ann',
        email: 'ann@campus.test',
        roles: ['staff', 'student'],
        units: ['campus/eng/cs*', 'campus/arts'],
        hash: '$argon2id$',
      },
      {
        username: 'imp-ben',
        email: 'ben@campus.test',
        roles: ['student'],
        units: ['campus/arts/history*'],
        hash: null,
      },
      {
        username: 'imp-cy',
        email: 'cy@campus.test',
        roles: ['staff'],
        units: ['campus/eng/ee*', 'campus/eng/cs'],
        hash: '$argon2id$',
      },
    ]);
    expect(await verifyPassword(users[0]!.passwordHash, 'ann-maple-lantern-1')).toBe(true);
    expect(progress.filter((p) => p.phase === 'hashing').at(-1)).toEqual({ phase: 'hashing', done: 2, total: 2 });
    expect(progress.filter((p) => p.phase === 'importing').map((p) => p.done)).toEqual([1, 2, 3]);
    expect(await ctx.models.AuditEvent.count({ where: { action: 'user.import' } })).toBe(1);
  });

  it('reports every bad row by line, and imports nothing from the file', async () => {
    const before = await ctx.models.User.count();
    const error = await rejection(
      csv(
        HEADER,
        'bad-ok,Fine Row,fine@campus.test,campus/eng,student,',
        'bad-email,Bad Email,not-an-email,campus/eng,student,',
        'bad-unit,Bad Unit,bad-unit@campus.test,campus/nowhere,student,',
        'bad-role,Bad Role,bad-role@campus.test,campus/eng,teacher,',
        'bad-ok,Same Name,other@campus.test,campus/eng,student,',
        'alice,Taken Name,alice-again@campus.test,campus/eng,student,',
        'bad-few,Too Few,few@campus.test,campus/eng',
        'bad-many,Too Many,many@campus.test,campus/eng,student,long-enough-pw,extra',
        'bad-mail2,Same Mail,FINE@campus.test,campus/eng,student,',
        'bad-pw,Short Password,pw@campus.test,campus/eng,student,short',
      ),
    );
    expect(error.lines).toEqual([
      { line: 3, field: 'email', message: 'not a valid email address' },
      { line: 4, field: 'units', message: 'unknown unit campus/nowhere' },
      { line: 5, field: 'roles', message: '"teacher": expected one of student, staff, admin, unit-admin' },
      { line: 6, field: 'username', message: 'bad-ok is also on line 2' },
      { line: 7, field: 'username', message: 'alice is already taken' },
      { line: 8, field: null, message: 'has 4 fields, but the header has 6' },
      { line: 9, field: null, message: 'has 7 fields, but the header has 6' },
      { line: 10, field: 'email', message: 'fine@campus.test is also on line 2' },
      { line: 11, field: 'password', message: 'at least 10 characters' },
    ]);
    expect(error.message).toBe('The file has 9 errors; no user was imported');
    expect(error.fields['line 3: email']).toBe('not a valid email address');
    expect(error.fields['line 8']).toBe('has 4 fields, but the header has 6');
    expect(await ctx.models.User.count()).toBe(before);
    expect(await usernames(['bad-ok', 'bad-email', 'bad-unit', 'bad-role'])).toEqual([]);
  });

  it('reads a BOM, CRLF line ends, quoted fields and blank trailing lines, numbering lines as an editor does', async () => {
    const text = [
      '\ufeffUsername,Name,Email,Units,Roles', // no password column at all
      'fmt-dee,"Dee, ""the"" Dean",dee@campus.test,campus/eng,staff',
      '',
      'fmt-eve,"Eve',
      'Multi",eve@campus.test,campus/eng,student',
      ' , , , , ',
      'fmt-fay,Fay,fay@@campus.test,campus/eng,student',
      '',
      '',
    ].join('\r\n');
    const error = await rejection(text);
    // A name is one line of plain text (core/plain-names.ts): the quoted line break is read, then refused.
    expect(error.lines).toEqual([
      { line: 4, field: 'name', message: expect.stringContaining('cannot contain control characters (line breaks') },
      { line: 7, field: 'email', message: 'not a valid email address' },
    ]);

    await importUsers(ctx, text.replace('fay@@', 'fay@').replace('"Eve\r\nMulti"', '"Eve Multi"'));
    const dee = await ctx.models.User.findOne({ where: { username: 'fmt-dee' } });
    expect(dee!.displayName).toBe('Dee, "the" Dean');
    expect(await usernames(['fmt-dee', 'fmt-eve', 'fmt-fay'])).toEqual(['fmt-dee', 'fmt-eve', 'fmt-fay']);
  });

  it('rejects what is not a usable CSV file with a clear reason', async () => {
    const reasons = async (input: string | Uint8Array) => {
      const error = await importUsers(ctx, input).then(
        () => null,
        (e: unknown) => e as ValidationError,
      );
      expect(error).toBeInstanceOf(ValidationError);
      return error instanceof ImportRejectedError ? error.lines.map((l) => `${l.line}: ${l.message}`) : error!.message;
    };
    expect(await reasons(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]))).toBe(
      'The file is not a CSV text file: it contains binary data',
    );
    expect(await reasons(new Uint8Array([0x75, 0x73, 0xff, 0xfe, 0x2c]))).toContain('it is not UTF-8 text');
    expect(await reasons('')).toBe('The file is empty; expected the header username,name,email,units,roles,password');
    expect(await reasons('\n\n')).toContain('The file is empty');
    expect(await reasons(`${HEADER}\n`)).toBe('The file has a header but no users');
    expect(await reasons('{"users": [{"username": "x"}]}\n')).toEqual([
      '1: not a CSV header; expected the header username,name,email,units,roles,password',
    ]);
    expect(await reasons('username,name,mail,units,roles\nx,y,z,campus,student\n')).toEqual([
      '1: missing column email; unknown column "mail"; expected the header username,name,email,units,roles,password',
    ]);
    expect(await reasons(`${HEADER}\nq1,"Unclosed,q1@campus.test,campus,student,\n`)).toEqual([
      '2: a quoted field is never closed (a " is missing)',
    ]);
  });

  it('writes all rows or none: a row the database refuses mid-way rolls back the rows before it', async () => {
    // Validation passed, then the database refuses the third row (as if a concurrent write had taken it).
    const attempted: string[] = [];
    const refusing = new Proxy(ctx.models.User, {
      get(target, prop, receiver) {
        if (prop !== 'create') return Reflect.get(target, prop, receiver);
        return (values: { username: string }, options: object) => {
          attempted.push(values.username);
          if (values.username === 'tx-3') return Promise.reject(new Error('simulated write failure'));
          return target.create(values as never, options);
        };
      },
    });
    const lines = [1, 2, 3, 4].map((i) => `tx-${i},Tx ${i},tx${i}@campus.test,campus/eng,student,`);
    await expect(
      importUsers({ ...ctx, models: { ...ctx.models, User: refusing } }, csv(HEADER, ...lines)),
    ).rejects.toThrow('simulated write failure');
    expect(attempted).toEqual(['tx-1', 'tx-2', 'tx-3']);
    expect(await usernames(['tx-1', 'tx-2', 'tx-3', 'tx-4'])).toEqual([]);
  });
});

describe('atrium users import', () => {
  it('imports a file, prints a summary, and draws no progress bar when stderr is not a terminal', async () => {
    const file = join(db.dataDir, 'good.csv');
    writeFileSync(
      file,
      csv(
        HEADER,
        'cli-a,Cli A,cli-a@campus.test,campus/eng,student,cli-a-quiet-orchard',
        'cli-b,Cli B,cli-b@campus.test,campus/arts,staff,',
      ),
    );
    const other = join(db.dataDir, 'more.csv');
    writeFileSync(other, csv(HEADER, 'cli-c,Cli C,cli-c@campus.test,campus/eng,student,'));
    // One after the other: concurrent SQLite write transactions can fail with SQLITE_BUSY (see the report on core/database.ts).
    const text = await runAtrium(db, ['users', 'import', file]);
    const json = await runAtrium(db, ['users', 'import', other, '--json']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^Imported 2 user\(s\) from good\.csv in [\d.]+ s\.\nNo welcome was mailed to the 1 person without a password: this command has no SMTP_URL \(the gateway's mail server\); they can ask for a link with "Forgot your password\?" when signing in\.\n$/,
    );
    expect(text.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(jsonOf(json)).toEqual({
      file: 'more.csv',
      imported: 1,
      withPassword: 0,
      withoutPassword: 1,
      seconds: expect.any(Number),
      welcome: 'no_smtp',
      welcomes: [],
    });
    expect(await usernames(['cli-a', 'cli-b', 'cli-c'])).toEqual(['cli-a', 'cli-b', 'cli-c']);
  });

  it('lists every error by line with exit 2, and names a file that cannot be read', async () => {
    const file = join(db.dataDir, 'bad.csv');
    writeFileSync(
      file,
      csv(
        HEADER,
        'cli-d,Cli D,cli-d@example,campus/eng,student,',
        'cli-e,Cli E,cli-e@campus.test,campus/mars,student,',
      ),
    );
    const [text, json, missing] = await Promise.all([
      runAtrium(db, ['users', 'import', file]),
      runAtrium(db, ['users', 'import', file, '--json']),
      runAtrium(db, ['users', 'import', join(db.dataDir, 'nope.csv')]),
    ]);
    expect(text.code).toBe(2);
    expect(text.stderr).toBe(
      'atrium: The file has 2 errors; no user was imported\n  line 2: email: not a valid email address\n  line 3: units: unknown unit campus/mars\n',
    );
    expect(jsonOf(json)).toEqual({
      error: {
        code: 'invalid_input',
        message: 'The file has 2 errors; no user was imported',
        fields: { 'line 2: email': 'not a valid email address', 'line 3: units': 'unknown unit campus/mars' },
      },
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`atrium: Cannot read ${join(db.dataDir, 'nope.csv')}: no such file\n`);
    expect(await usernames(['cli-d', 'cli-e'])).toEqual([]);
  });
});
