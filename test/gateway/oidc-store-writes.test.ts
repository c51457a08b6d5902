import { join } from 'node:path';
import type { AdapterPayload } from 'oidc-provider';
import type { Sequelize } from 'sequelize';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { defineGatewayModels, type GatewayModels } from '../../gateway/models/index.ts';
import { createAdapterClass } from '../../gateway/oidc/adapter.ts';
import { stored } from '../../gateway/oidc/sqlite-statements.ts';
import { oidcStatementsFor } from '../../gateway/oidc/statements.ts';
import { createTestDatabase, testDialect, type TestDatabase } from '../helpers/database.ts';

let db: TestDatabase;
let sequelize: Sequelize;
let models: GatewayModels;
let Store: ReturnType<typeof createAdapterClass>;

beforeAll(async () => {
  db = await createTestDatabase('oidc-writes');
  sequelize = await openDatabase({ url: db.url, sqliteFile: join(db.dataDir, 'gateway.sqlite') });
  await migrate(sequelize, 'gateway');
  models = defineGatewayModels(sequelize);
  Store = createAdapterClass(models);
});
afterAll(async () => {
  await sequelize?.close();
  await db?.drop();
});
afterEach(() => {
  sequelize.removeHook('beforeQuery', 'test');
  sequelize.removeHook('afterQuery', 'test');
});

const token = (jti: string): AdapterPayload => ({ jti, kind: 'AccessToken', grantId: `grant-of-${jti}` });
const sqlOf = (query: unknown) => String((query as { sql?: string }).sql ?? '');

/** Rows of the store as Sequelize's model reads them: what any other part of the gateway sees. */
const rowsNamed = (ids: string[]) => models.OidcPayload.findAll({ where: { model: 'AccessToken', id: ids } });

describe("the provider's store, written", () => {
  it('keeps the expiry in the form Sequelize keeps dates, so both read the same instant', async () => {
    const store = new Store('AccessToken');
    const before = Date.now();
    await store.upsert('dated', token('dated'), 600);
    const [row] = await rowsNamed(['dated']);
    const expires = row!.expiresAt!.getTime();
    expect(expires).toBeGreaterThanOrEqual(before + 600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 600_000 + 1000);

    // Written by the model a moment past and a minute ahead: the store finds only the one still valid.
    const payload = (id: string) => JSON.stringify(token(id));
    await models.OidcPayload.bulkCreate([
      { model: 'AccessToken', id: 'past', payload: payload('past'), expiresAt: new Date(Date.now() - 2000) },
      { model: 'AccessToken', id: 'ahead', payload: payload('ahead'), expiresAt: new Date(Date.now() + 60_000) },
    ] as never);
    expect(await store.find('past')).toBeUndefined();
    expect(await store.find('ahead')).toMatchObject({ jti: 'ahead' });

    await store.consume('ahead');
    const consumed = (await store.find('ahead'))?.consumed as number;
    expect(Math.abs(consumed * 1000 - Date.now())).toBeLessThan(5000);
  });

  it('answers every one of many writes at once, each stored when it is answered', async () => {
    const store = new Store('AccessToken');
    const ids = Array.from({ length: 40 }, (_, i) => `many-${i}`);
    const answered = await Promise.all(
      ids.map(async (id) => {
        await store.upsert(id, token(id), 600);
        // Answered: another connection sees it at once.
        return (await rowsNamed([id])).length;
      }),
    );
    expect(answered).toEqual(ids.map(() => 1));
  });

  it('takes writes from two stores over one database at once, as a provider rebuilt with new keys has', async () => {
    const OtherStore = createAdapterClass(models);
    const [one, other] = [new Store('AccessToken'), new OtherStore('AccessToken')];
    const ids = Array.from({ length: 20 }, (_, i) => `two-stores-${i}`);
    await Promise.all(ids.map((id, i) => (i % 2 ? one : other).upsert(id, token(id), 600)));
    expect(await rowsNamed(ids)).toHaveLength(20);
  });

  it('refuses a write the database refuses, and keeps the others sent with it', async () => {
    const store = new Store('AccessToken');
    sequelize.addHook('beforeQuery', 'test', (options) => {
      const values = (options as { replacements?: unknown[] }).replacements;
      if (values?.[1] === 'refused') throw new Error('the database refused it');
    });
    const outcomes = await Promise.allSettled(
      ['kept-1', 'refused', 'kept-2'].map((id) => store.upsert(id, token(id), 600)),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await rowsNamed(['kept-1', 'refused', 'kept-2'])).map((r) => r.id).sort()).toEqual(['kept-1', 'kept-2']);
  });
});

/** Makes the database itself refuse to store the row `id` (a trigger), until the returned undo. */
async function refuseRow(id: string): Promise<() => Promise<void>> {
  const check =
    testDialect === 'sqlite'
      ? `WHEN NEW.id = '${id}' BEGIN SELECT RAISE(ABORT, 'refused'); END`
      : `FOR EACH ROW BEGIN IF NEW.id = '${id}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END`;
  await sequelize.query(`CREATE TRIGGER refuse_row BEFORE INSERT ON oidc_payloads ${check}`);
  return async () => {
    await sequelize.query('DROP TRIGGER refuse_row');
  };
}

describe("a request's statements", () => {
  it('do not go on after one the database refused: a token is not spent when its successor was not stored', async () => {
    const store = new Store('AccessToken');
    await store.upsert('presented', token('presented'), 600);
    const undo = await refuseRow('successor');
    try {
      const written = oidcStatementsFor(sequelize).write([
        {
          sql: 'INSERT INTO oidc_payloads (model, id, payload) VALUES (?, ?, ?)',
          values: ['AccessToken', 'successor', JSON.stringify(token('successor'))],
        },
        {
          sql: 'UPDATE oidc_payloads SET consumed_at = ? WHERE model = ? AND id = ? AND consumed_at IS NULL',
          values: [new Date(), 'AccessToken', 'presented'],
        },
      ]);
      await expect(written).rejects.toThrow(/refused/);
    } finally {
      await undo();
    }
    expect(await store.find('presented')).not.toHaveProperty('consumed');
    expect(await rowsNamed(['successor'])).toHaveLength(0);
  });
});

describe("a request's statements, sent together", () => {
  const upsert = (id: string, note: string) => ({
    sql: 'INSERT INTO oidc_payloads (model, id, payload, expires_at) VALUES (?, ?, ?, ?)',
    values: ['AccessToken', id, JSON.stringify({ ...token(id), note }), new Date(Date.now() + 60_000)],
  });
  const spend = (id: string) => ({
    sql: 'UPDATE oidc_payloads SET consumed_at = ? WHERE model = ? AND id = ? AND consumed_at IS NULL',
    values: [new Date(), 'AccessToken', id],
  });

  it('each answer how many rows it changed: of two rotating one token, one spends it', async () => {
    const store = new Store('AccessToken');
    await store.upsert('rotated', token('rotated'), 600);
    const statements = oidcStatementsFor(sequelize);
    const answers = await Promise.all([
      statements.write([upsert('successor-a', 'a'), spend('rotated')]),
      statements.write([upsert('successor-b', 'b'), spend('rotated')]),
    ]);
    expect(answers.map((changed) => changed[1]).sort()).toEqual([0, 1]);
    expect(answers.map((changed) => changed[0])).toEqual([1, 1]);
    expect(await store.find('rotated')).toHaveProperty('consumed');
  });

  it('store their values exactly as given: quotes, backslashes, question marks, NUL, emoji', async () => {
    const store = new Store('AccessToken');
    const odd = [
      "it's \\' \\",
      'what? "quoted" `ticked`',
      'nul\u0000inside',
      '漢字 😀',
      "'; DROP TABLE oidc_payloads; --",
    ];
    for (const [i, note] of odd.entries()) {
      await oidcStatementsFor(sequelize).write([upsert(`exact-${i}`, note), spend(`exact-${i}`)]);
      expect(await store.find(`exact-${i}`)).toMatchObject({ jti: `exact-${i}`, note });
    }
    const [row] = await rowsNamed(['exact-0']);
    expect(Math.abs(row!.expiresAt!.getTime() - (Date.now() + 60_000))).toBeLessThan(5000);
  });

  it.runIf(testDialect === 'mariadb')('go to MariaDB in one round trip', async () => {
    const sent: string[] = [];
    sequelize.addHook('beforeQuery', 'test', (_options, query) => {
      sent.push(sqlOf(query));
    });
    const changed = await oidcStatementsFor(sequelize).write([upsert('one-trip', 'x'), spend('one-trip')]);
    expect(changed).toEqual([1, 1]);
    expect(sent).toHaveLength(1);
  });
});

describe.runIf(testDialect === 'sqlite')('on SQLite', () => {
  it("writes dates in the text Sequelize's models write", async () => {
    const dates = [new Date(0), new Date(Date.UTC(2026, 11, 5, 6, 7, 8, 9)), new Date()];
    await models.OidcPayload.bulkCreate(
      dates.map((expiresAt, i) => ({ model: 'AccessToken', id: `text-${i}`, payload: '{}', expiresAt })) as never,
    );
    const [rows] = await sequelize.query("SELECT id, expires_at FROM oidc_payloads WHERE id LIKE 'text-%' ORDER BY id");
    expect((rows as { expires_at: string }[]).map((r) => r.expires_at)).toEqual(dates.map(stored));
  });

  it('commits writes that arrive together in fewer commits than writes', async () => {
    const store = new Store('AccessToken');
    let commits = 0;
    let writes = 0;
    sequelize.addHook('afterQuery', 'test', (_options, query) => {
      if (sqlOf(query) === 'COMMIT') commits += 1;
      if (sqlOf(query).startsWith('INSERT INTO oidc_payloads')) writes += 1;
    });
    const ids = Array.from({ length: 30 }, (_, i) => `together-${i}`);
    await Promise.all(ids.map((id) => store.upsert(id, token(id), 600)));
    expect(writes).toBe(30);
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThan(10);
    expect(await rowsNamed(ids)).toHaveLength(30);
  });

  it('stores every value of writes sent together exactly as given, quotes, question marks and NUL included', async () => {
    const store = new Store('AccessToken');
    const odd = ["it's", 'what? "quoted"', 'nul\u0000inside', '漢字 😀', "'; DROP TABLE oidc_payloads; --"];
    const ids = odd.map((_, i) => `odd-${i}`);
    await Promise.all(ids.map((id, i) => store.upsert(id, { ...token(id), note: odd[i] }, 600)));
    for (const [i, id] of ids.entries()) expect(await store.find(id)).toMatchObject({ jti: id, note: odd[i] });
  });

  it('tells each of writes sent together how many rows it changed: of two spending one token, one spends it', async () => {
    const store = new Store('AccessToken');
    await store.upsert('spent-once', token('spent-once'), 600);
    const spend = {
      sql: 'UPDATE oidc_payloads SET consumed_at = ? WHERE model = ? AND id = ? AND consumed_at IS NULL',
      values: [new Date(), 'AccessToken', 'spent-once'],
    };
    const statements = oidcStatementsFor(sequelize);
    const answers = await Promise.all([
      statements.write([
        { sql: 'DELETE FROM oidc_payloads WHERE model = ? AND id = ?', values: ['AccessToken', 'none'] },
      ]),
      statements.write([spend]),
      statements.write([spend]),
    ]);
    expect(answers[0]).toEqual([0]);
    expect([answers[1], answers[2]].sort()).toEqual([[0], [1]]);
  });

  it('keeps the writes sent together with one the database refuses, and fails that one alone', async () => {
    const store = new Store('AccessToken');
    await store.upsert('warm-up', token('warm-up'), 600);
    const undo = await refuseRow('refused-in-group');
    let outcomes: PromiseSettledResult<void>[];
    try {
      const ids = ['group-1', 'group-2', 'refused-in-group', 'group-3'];
      outcomes = await Promise.allSettled(ids.map((id) => store.upsert(id, token(id), 600)));
    } finally {
      await undo();
    }
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((await rowsNamed(['group-1', 'group-2', 'refused-in-group', 'group-3'])).map((r) => r.id).sort()).toEqual([
      'group-1',
      'group-2',
      'group-3',
    ]);
  });

  it('fails every write of a commit that fails, and keeps none of them', async () => {
    const store = new Store('AccessToken');
    await store.upsert('first', token('first'), 600);
    const ids = ['lost-1', 'lost-2', 'lost-3'];
    let failing = true;
    sequelize.addHook('beforeQuery', 'test', (_options, query) => {
      if (sqlOf(query) === 'COMMIT' && failing) throw new Error('the disk is full');
    });
    const outcomes = await Promise.allSettled(ids.map((id) => store.upsert(id, token(id), 600)));
    failing = false;
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await rowsNamed(ids)).toHaveLength(0);
    // The store goes on: the next write commits.
    await store.upsert('after', token('after'), 600);
    expect(await rowsNamed(['after'])).toHaveLength(1);
  });
});
