import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { inspectDatabase, jsonOf, runAtrium } from '../helpers/cli.ts';
import { listDomains } from '../../gateway/domains/domains.ts';
import { isSubgroup } from '../../cli/command.ts';
import { COMMANDS } from '../../cli/commands.ts';
import { createTestDatabase as createNodeFolder, testDialect } from '../helpers/database.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('cli-basics');
});
afterAll(async () => db?.drop());

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at /m);

async function counts() {
  const inspect = await inspectDatabase(db);
  try {
    const { OrgUnit, User, Domain, AuditEvent } = inspect.ctx.models;
    return {
      units: await OrgUnit.count(),
      users: await User.count(),
      domains: await Domain.count(),
      audit: await AuditEvent.count(),
    };
  } finally {
    await inspect.close();
  }
}

// The steps build on each other (a fresh database, then migrated, then seeded), so they run in order.
describe('atrium on a fresh database', () => {
  it('prints help for the CLI, a command group and a command, exiting 0', async () => {
    const [top, group, command] = await Promise.all([
      runAtrium(db, ['--help'], { process: true }),
      runAtrium(db, ['users', '--help'], { process: true }),
      runAtrium(db, ['users', 'add', '--help'], { process: true }),
    ]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: atrium COMMAND/);
    expect(top.stdout).toContain('migrate');
    expect(group.code).toBe(0);
    expect(group.stdout).toContain('reset-password');
    expect(command.code).toBe(0);
    expect(command.stdout).toContain(
      'Usage: atrium users add USERNAME --name NAME --email EMAIL --unit PATH... --role ROLE... [--password-stdin]',
    );
  });

  it('lists every command of every group in the top help, which "atrium help" prints too', async () => {
    const [top, help, helpAdd] = await Promise.all([
      runAtrium(db, ['--help']),
      runAtrium(db, ['help']),
      runAtrium(db, ['help', 'users', 'add']),
    ]);
    const lines = new Map(top.stdout.split('\n').map((line) => [line.trim().split(/\s+/)[0]!, line.trim()] as const));
    for (const [name, entry] of Object.entries(COMMANDS)) {
      const line = lines.get(name);
      expect(line, name).toBeDefined();
      for (const [word, item] of Object.entries(entry.group ? await entry.group() : {})) {
        expect(line, `${name} ${word}`).toMatch(new RegExp(`[:,] ${word}\\b`));
        if (isSubgroup(item)) for (const sub of Object.keys(item.group)) expect(line).toContain(sub);
      }
    }
    expect(lines.get('units')).toBe('units        Org units: add, rename, remove, move-members, list');
    expect(help).toEqual(top);
    expect(helpAdd.code).toBe(0);
    expect(helpAdd.stdout).toMatch(/^Usage: atrium users add USERNAME /);
  });

  it('answers an unknown command, an unknown option or a missing argument with exit 2 and a pointer to --help', async () => {
    const [command, option, missing, json, seed] = await Promise.all([
      runAtrium(db, ['frobnicate'], { process: true }),
      runAtrium(db, ['units', 'list', '--bogus'], { process: true }),
      runAtrium(db, ['units', 'add', 'campus/x'], { process: true }),
      runAtrium(db, ['users', 'frob', '--json'], { process: true }),
      runAtrium(db, ['seed'], { process: true }),
    ]);
    expect(command).toMatchObject({ code: 2, stdout: '' });
    expect(command.stderr).toContain('unknown command "frobnicate"');
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('atrium: unknown option "--bogus" (atrium units list takes --json)');
    expect(option.stderr).toContain('Run "atrium units list --help" for usage.');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing --name NAME');
    expect(json.code).toBe(2);
    expect(jsonOf(json)).toEqual({
      error: { code: 'usage', message: expect.stringContaining('unknown command "users frob"') },
    });
    expect(seed.code).toBe(2);
    expect(seed.stderr).toContain('atrium seed --demo');
  });

  it('stops on a bad configuration value with a message naming the variable', async () => {
    const [text, json] = await Promise.all([
      runAtrium(db, ['gateway'], { process: true, env: { GATEWAY_PORT: 'abc' } }),
      runAtrium(db, ['migrate', '--json'], { process: true, env: { GATEWAY_PORT: 'abc' } }),
    ]);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain('GATEWAY_PORT: expected a port number');
    noStackTrace(text.stderr);
    expect(json.code).toBe(2);
    expect(jsonOf(json)).toEqual({
      error: {
        code: 'invalid_config',
        message: 'Invalid configuration',
        fields: { GATEWAY_PORT: 'expected a port number' },
      },
    });
  });

  it('refuses to start the gateway, or to run a command, while migrations are pending', async () => {
    const [gateway, users] = await Promise.all([
      runAtrium(db, ['gateway'], { process: true }),
      runAtrium(db, ['users', 'list', '--json'], { process: true }),
    ]);
    expect(gateway.code).toBe(1);
    expect(gateway.stderr).toMatch(/pending migration\(s\).*run "atrium migrate" first/);
    noStackTrace(gateway.stderr);
    expect(users.code).toBe(1);
    expect(jsonOf(users).error.code).toBe('not_migrated');
  });

  it('migrates, listing what it applied, and has nothing to apply the second time', async () => {
    const first = await runAtrium(db, ['migrate', '--json']);
    expect(first.code).toBe(0);
    expect(jsonOf(first).applied).toEqual(expect.arrayContaining(['0001-accounts-and-units.ts', '0002-oidc-store.ts']));
    const second = await runAtrium(db, ['migrate']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('up to date; no migration applied');
  });

  it('refuses to start on, or migrate, a database a newer Atrium migrated, saying what to do', async () => {
    const inspect = await inspectDatabase(db);
    const ledger = 'atrium_gateway_migrations';
    const newer = '9999-from-a-newer-version.ts';
    await inspect.sequelize.getQueryInterface().bulkInsert(ledger, [{ name: newer }]);
    try {
      const [gateway, migrate, users] = await Promise.all([
        runAtrium(db, ['gateway']),
        runAtrium(db, ['migrate']),
        runAtrium(db, ['users', 'list', '--json']),
      ]);
      for (const refused of [gateway, migrate]) {
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain(
          `The gateway database was migrated by a newer version of Atrium (${newer}, which this version does not have): run that version, or restore the backup taken before the upgrade`,
        );
        noStackTrace(refused.stderr);
      }
      expect(users.code).toBe(1);
      expect(jsonOf(users).error.code).toBe('database_newer');
    } finally {
      await inspect.sequelize.getQueryInterface().bulkDelete(ledger, { name: newer });
      await inspect.close();
    }
  });

  it('refuses to make the demo accounts, with their published password, where ATRIUM_MODE is production', async () => {
    const production = {
      ATRIUM_MODE: 'production',
      ATRIUM_SECRET_KEY: 'a'.repeat(40),
      ATRIUM_COOKIE_KEYS: 'b'.repeat(40),
      ATRIUM_ISSUER: 'https://id.campus.test',
    };
    const [seed, demo] = await Promise.all([
      runAtrium(db, ['seed', '--demo'], { env: production }),
      runAtrium(db, ['demo'], { env: production }),
    ]);
    for (const [result, command] of [
      [seed, 'atrium seed --demo'],
      [demo, 'atrium demo'],
    ] as const) {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(
        `${command} makes the demo accounts, admin included, with the published password`,
      );
    }
    expect(await counts()).toMatchObject({ units: 0, users: 0, domains: 0 });
  });

  it('seeds the demo campus with the default node URLs, and a second seed changes nothing', async () => {
    const first = await runAtrium(db, ['seed', '--demo', '--json']);
    expect(first.code).toBe(0);
    expect(jsonOf(first)).toMatchObject({
      seeded: true,
      domains: { eng: 'http://localhost:4201', arts: 'http://localhost:4202' },
      users: expect.arrayContaining(['admin', 'alice', 'carol']),
    });
    const before = await counts();
    expect(before).toMatchObject({ units: 7, users: 6, domains: 2 });

    const second = await runAtrium(db, ['seed', '--demo', '--eng-url', 'http://localhost:9999']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('already seeded; nothing changed');
    expect(await counts()).toEqual(before);
    const inspect = await inspectDatabase(db);
    expect((await listDomains(inspect.ctx)).map((d) => d.url)).toEqual([
      'http://localhost:4202',
      'http://localhost:4201',
    ]);
    await inspect.close();
  });

  it('adds a unit under an existing parent and lists the tree', async () => {
    const added = await runAtrium(db, ['units', 'add', 'campus/eng/ai', '--name', 'AI Lab', '--json']);
    expect(added.code).toBe(0);
    expect(jsonOf(added)).toEqual({ id: expect.any(String), path: 'campus/eng/ai', name: 'AI Lab' });
    const [tree, json] = await Promise.all([
      runAtrium(db, ['units', 'list']),
      runAtrium(db, ['units', 'list', '--json']),
    ]);
    expect(tree.stdout.split('\n')[0]).toMatch(/^campus\s+Atrium University\s+campus$/);
    expect(tree.stdout).toMatch(
      /\n {2}eng\s+College of Engineering\s+campus\/eng\n {4}ai\s+AI Lab\s+campus\/eng\/ai\n/,
    );
    expect(jsonOf(json).units.map((u: { path: string }) => u.path)).toEqual([
      'campus',
      'campus/arts',
      'campus/arts/history',
      'campus/arts/music',
      'campus/eng',
      'campus/eng/ai',
      'campus/eng/cs',
      'campus/eng/ee',
    ]);
  });

  it('refuses a malformed unit path or a missing parent with exit 2 and creates nothing', async () => {
    const before = await counts();
    const [malformed, orphan, json] = await Promise.all([
      runAtrium(db, ['units', 'add', 'Campus/Bad Path', '--name', 'Bad']),
      runAtrium(db, ['units', 'add', 'campus/nowhere/lab', '--name', 'Lab']),
      runAtrium(db, ['units', 'add', 'campus/eng/ai', '--name', 'Again', '--json']),
    ]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('path: a path of lowercase segments separated by "/"');
    expect(orphan.code).toBe(2);
    expect(orphan.stderr).toContain('Parent unit campus/nowhere does not exist');
    noStackTrace(orphan.stderr);
    expect(json.code).toBe(2);
    expect(jsonOf(json)).toEqual({ error: { code: 'conflict', message: 'Unit campus/eng/ai already exists' } });
    expect(await counts()).toEqual(before);
  });

  it('registers a domain node for units and lists the domains', async () => {
    const added = await runAtrium(db, [
      'domains',
      'add',
      'ai.campus.test',
      '--url',
      'http://localhost:4209/',
      '--unit',
      'campus/eng/ai',
      '--json',
    ]);
    expect(added.code).toBe(0);
    expect(jsonOf(added)).toEqual({
      id: expect.any(String),
      name: 'ai.campus.test',
      url: 'http://localhost:4209',
      units: ['campus/eng/ai'],
    });
    const [list, unknownUnit] = await Promise.all([
      runAtrium(db, ['domains', 'list']),
      runAtrium(db, ['domains', 'add', 'x.campus.test', '--url', 'http://x.campus.test', '--unit', 'campus/none']),
    ]);
    expect(list.stdout).toMatch(/^NAME\s+URL\s+UNITS\s+PINNED KEYS\n/);
    expect(list.stdout).toMatch(/ai\.campus\.test\s+http:\/\/localhost:4209\s+campus\/eng\/ai\s+\(not pinned\)/);
    expect(unknownUnit.code).toBe(2);
    expect(unknownUnit.stderr).toBe('atrium: Unknown unit campus/none\n');
    expect((await counts()).domains).toBe(3);
  });

  // A node's SQLite file is named after its domain: a misspelt domain would get a new, empty database.
  it.skipIf(testDialect === 'mariadb')(
    "makes a node's database only for a domain the gateway here registers, or with --new, and says it made one",
    async () => {
      const [typo, known] = await Promise.all([
        runAtrium(db, ['migrate', '--node', 'eng.campus.tset']),
        runAtrium(db, ['migrate', '--node', 'ai.campus.test']),
      ]);
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain(
        'has no domain eng.campus.tset (it has: ai.campus.test, arts.campus.test, eng.campus.test)',
      );
      expect(typo.stderr).toContain('pass --new to create');
      expect(readdirSync(db.dataDir).filter((f) => f.includes('tset'))).toEqual([]);
      expect(known.code).toBe(0);
      expect(known.stdout).toMatch(/^Created a new database for ai\.campus\.test: .*node-ai\.campus\.test\.sqlite\.\n/);
      const [again, partner] = await Promise.all([
        runAtrium(db, ['migrate', '--node', 'ai.campus.test', '--json']),
        runAtrium(db, ['migrate', '--node', 'partner.example.org', '--new', '--json']),
      ]);
      expect(jsonOf(again)).toMatchObject({ created: false, applied: [] });
      expect(jsonOf(partner)).toMatchObject({
        created: true,
        database: expect.stringMatching(/partner\.example\.org/),
      });
      // With no gateway database beside it, the name cannot be checked: it is made, and the output says so.
      const alone = await createNodeFolder('cli-node-alone');
      try {
        const made = await runAtrium(alone, ['migrate', '--node', 'solo.campus.test']);
        expect(made.code).toBe(0);
        expect(made.stdout).toContain('Created a new database for solo.campus.test:');
        expect(made.stdout).toContain('no gateway database in');
      } finally {
        await alone.drop();
      }
    },
  );

  // On a network filesystem the data directory's clock can be behind this machine's: a file made now
  // then looks older than the command that made it. Here the command's clock runs a minute ahead.
  it.skipIf(testDialect === 'mariadb')(
    "leaves no secret behind for a refused node name, whatever the data directory's clock says",
    async () => {
      const aheadByAMinute = 'data:text/javascript,Date.now=((now)=>()=>now()+60000)(Date.now)';
      const typo = await runAtrium(db, ['migrate', '--node', 'arts.campus.tset'], {
        env: { NODE_OPTIONS: `--import=${aheadByAMinute}` },
      });
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain('has no domain arts.campus.tset');
      expect(readdirSync(db.dataDir).filter((f) => f.includes('tset'))).toEqual([]);
    },
  );
});
