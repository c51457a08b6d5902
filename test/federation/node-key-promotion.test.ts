import { join } from 'node:path';
import type { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { createSealer } from '../../core/seal.ts';
import { defineFederationModels, type FederationModels } from '../../node/federation/models.ts';
import {
  ensureNodeKey,
  NODE_KEY_SEAL,
  promoteNextKey,
  publishedKeys,
  rotateNodeKey,
  signingKey,
} from '../../node/federation/node-keys.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const sealer = createSealer('a node secret of this test, long enough to seal with', NODE_KEY_SEAL);

let db: TestDatabase;
/** The process that promotes (the one whose re-pin the gateway answered). */
let promoter: Sequelize;
/** Another process of the same domain, signing its requests meanwhile. */
let other: Sequelize;
let promoterModels: FederationModels;
let otherModels: FederationModels;

beforeAll(async () => {
  db = await createTestDatabase('node-key-promotion');
  const sqliteFile = join(db.dataDir, 'node.sqlite');
  promoter = await openDatabase({ url: db.url, sqliteFile });
  await migrate(promoter, 'node');
  other = await openDatabase({ url: db.url, sqliteFile });
  promoterModels = defineFederationModels(promoter);
  otherModels = defineFederationModels(other);
  await ensureNodeKey(promoterModels, sealer);
});
afterAll(async () => {
  await other?.close();
  await promoter?.close();
  await db?.drop();
});

const kidOf = async (models: FederationModels) => (await signingKey(models, sealer)).kid;

describe('promoting the next node key', () => {
  it('never leaves a moment in which another process, or this one, finds no key to sign with', async () => {
    const found: string[] = [];
    let watching = false;
    // After every statement the promotion sends, both processes ask for the key they would sign with.
    promoter.addHook('afterQuery', 'watch-signing-key', async () => {
      if (!watching) return;
      watching = false;
      try {
        for (const models of [otherModels, promoterModels])
          found.push(await kidOf(models).catch((error: Error) => `none: ${error.message}`));
      } finally {
        watching = true;
      }
    });
    try {
      for (let round = 0; round < 3; round++) {
        const before = await kidOf(promoterModels);
        const next = await rotateNodeKey(promoterModels, sealer);
        found.length = 0;
        watching = true;
        const promoted = await promoteNextKey(promoterModels);
        watching = false;

        expect(found.length).toBeGreaterThan(0);
        expect(found.filter((kid) => kid !== before && kid !== next.kid)).toEqual([]);
        expect(promoted?.kid).toBe(next.kid);
        expect(await kidOf(otherModels)).toBe(next.kid);
        const keys = await publishedKeys(otherModels);
        expect(keys.filter((k) => k.status === 'active').map((k) => k.kid)).toEqual([next.kid]);
        expect(keys.find((k) => k.kid === before)?.status).toBe('retiring');
      }
    } finally {
      watching = false;
      promoter.removeHook('afterQuery', 'watch-signing-key');
    }
  });

  it('leaves one active key when two processes promote at once', async () => {
    const next = await rotateNodeKey(promoterModels, sealer);
    await Promise.all([promoteNextKey(promoterModels), promoteNextKey(otherModels)]);
    const active = await otherModels.NodeKey.findAll({ where: { state: 'active' } });
    expect(active.map((k) => k.kid)).toEqual([next.kid]);
    expect(await kidOf(otherModels)).toBe(next.kid);
  });
});
