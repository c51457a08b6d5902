import { setTimeout as sleep } from 'node:timers/promises';
import { QueryTypes } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { loadNodeConfig } from '../../node/config.ts';
import type { AtriumClient } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';

describe('SEARCH_INDEX_BACKLOG', () => {
  let gateway: TestGateway;
  let eng: TestNode;
  let alice: AtriumClient;

  beforeAll(async () => {
    gateway = await startTestGateway('im-search-backlog');
    eng = await startTestNode(gateway, 'eng.campus.test', { SEARCH_INDEX_BACKLOG: '4' });
    alice = await connectAs(gateway, eng, 'alice');
  });
  afterAll(async () => {
    alice?.close();
    await eng?.stop();
    await gateway?.stop();
  });

  const indexed = async () => {
    const [row] = await eng.sequelize.query<{ n: number }>('SELECT COUNT(*) AS n FROM message_search', {
      type: QueryTypes.SELECT,
    });
    return Number(row!.n);
  };

  it('indexes what its flushes queued once that many wait, while messages keep coming', async () => {
    // A send every 100 ms: the indexer's quiet time (250 ms) never passes while they go on, so only the
    // backlog sets it going; with the default of 20,000 nothing would be indexed before the sends stop.
    for (let i = 0; i < 16; i++) {
      await alice.send({ to: 'dave@eng.campus.test', text: `lab notes part ${i}` });
      await sleep(100);
    }
    expect(await indexed()).toBeGreaterThanOrEqual(4);
  });

  it('refuses a backlog that is not a positive whole number, naming it', () => {
    for (const value of ['0', '-5', 'lots', '2.5', '2000000']) {
      const load = () =>
        loadNodeConfig({ NODE_DOMAIN: 'eng.campus.test', GATEWAY_ISSUER: gateway.issuer, SEARCH_INDEX_BACKLOG: value });
      expect(load, value).toThrow(ConfigError);
      try {
        load();
      } catch (error) {
        expect((error as ConfigError).problems.join('\n'), value).toMatch(/SEARCH_INDEX_BACKLOG/);
      }
    }
  });
});
