import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNodeOn } from '../helpers/node.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import type { DomainNode } from '../../node/main.ts';

let gateway: TestGateway;
let db: TestDatabase;
let node: DomainNode | undefined;

beforeAll(async () => {
  gateway = await startTestGateway('missing-files');
  db = await createTestDatabase('eng-missing-files');
});
afterAll(async () => {
  await node?.close();
  await db?.drop();
  await gateway?.stop();
});

describe('a node started without its files', () => {
  it('says at start that the files its database lists are not in its attachments folder, and where', async () => {
    node = await startTestNodeOn(gateway, 'eng.campus.test', db);
    const alice = await connectAs(gateway, node, 'alice');
    await alice.upload(new TextEncoder().encode('week 3 notes'), 'notes.txt', 'text/plain');
    await alice.upload(new TextEncoder().encode('week 4 notes'), 'notes-4.txt', 'text/plain');
    alice.close();
    const folder = node.config.attachments.dir;
    await node.close();

    // Restored from the database's backup alone: the folder is empty.
    rmSync(folder, { recursive: true, force: true });
    const logs: { level: number; msg: string; dir?: string; missing?: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    node = await startTestNodeOn(gateway, 'eng.campus.test', db, {}, { logger });
    await expect
      .poll(() => logs.find((l) => l.level === 50))
      .toMatchObject({
        dir: folder,
        missing: 2,
        msg: expect.stringContaining(
          `2 of the 2 newest files this node's database lists are not in ${folder}: downloads of them fail.`,
        ),
      });
  });
});
