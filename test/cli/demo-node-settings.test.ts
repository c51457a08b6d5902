import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoCampus } from '../../cli/demo-campus.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'atrium-demo-settings-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The demo's units as `npm start` would configure them with `env` set. */
function demoWith(env: Record<string, string>) {
  const all = { ATRIUM_DATA_DIR: dataDir, GATEWAY_PORT: '4000', ...env };
  return demoCampus(all, loadGatewayConfig(all));
}

describe('the demo campus', () => {
  it('gives both nodes the node settings in the environment, as a node started alone takes them', () => {
    const { nodes } = demoWith({ ATTACHMENT_STORAGE_QUOTA_MB: '1024', RECALL_WINDOW_SECONDS: '30' });
    for (const node of [nodes.eng, nodes.arts]) {
      expect(node.attachments.storageQuotaBytes).toBe(1024 * 1024 * 1024);
      expect(node.recallWindowSeconds).toBe(30);
    }
  });

  it('keeps each node on its own SQLite file, port and domain whatever the environment names', () => {
    const { nodes } = demoWith({
      DATABASE_URL: 'mysql://root@127.0.0.1:3306/test',
      NODE_DOMAIN: 'other.campus.test',
      NODE_PORT: '5999',
      NODE_SECRET_KEY: 'a'.repeat(43),
    });
    expect(nodes.eng.database.url).toBeUndefined();
    expect(nodes.eng.database.sqliteFile).toBe(join(dataDir, 'node-eng.campus.test.sqlite'));
    expect([nodes.eng.domain, nodes.arts.domain]).toEqual(['eng.campus.test', 'arts.campus.test']);
    expect([nodes.eng.port, nodes.arts.port]).toEqual([4201, 4202]);
    expect(nodes.eng.secretKey).not.toBe('a'.repeat(43));
  });
});
