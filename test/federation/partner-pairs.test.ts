import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { operator } from '../../gateway/context.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { buildRegistry } from '../../gateway/federation/registry.ts';
import { policyCheck } from '../../node/federation/relay-checks.ts';
import type { Registry, RegistryClient } from '../../protocol/registry-client.ts';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway('partner-pairs');
});
afterAll(async () => gateway?.stop());

/** A node's registry client that always has this copy. */
const holding = (registry: Registry) =>
  ({ get: async () => registry, refreshSoon: async () => registry }) as unknown as RegistryClient;

describe('pairs of domains a node judges by its own policy', () => {
  it("the gateway marks a partner organization's domains (those serving none of its units) in the registry", async () => {
    await addDomain(
      { ...gateway.context(null), actor: operator('test') },
      { name: 'sales.acme.test', url: 'http://127.0.0.1:9/acme-proxy', units: [] },
    );
    const registry = await buildRegistry(gateway.context(null));
    const entry = (name: string) => registry.domains.find((d) => d.name === name);
    expect(entry('sales.acme.test')?.partner).toBe(true);
    expect(entry('eng.campus.test')?.partner).toBeUndefined();
    expect(entry('arts.campus.test')?.partner).toBeUndefined();
  });

  it("are its own domain's pairs and its own organization's; how a partner organization's domains talk to each other is theirs to decide", async () => {
    // The company's node: the university's eng and arts are partner domains there, each allowed with sales.
    const company: Registry = {
      version: 'c1',
      domains: [
        { name: 'sales.acme.test', url: 'http://sales', keys: [] },
        { name: 'hr.acme.test', url: 'http://hr', keys: [] },
        { name: 'eng.campus.test', url: 'http://uni-proxy', keys: [], partner: true },
        { name: 'arts.campus.test', url: 'http://uni-proxy', keys: [], partner: true },
      ],
      policy: [
        ['arts.campus.test', 'sales.acme.test'],
        ['eng.campus.test', 'sales.acme.test'],
      ],
      proxies: [],
    };
    const mayExchange = policyCheck(holding(company), 'sales.acme.test');
    // A group of the university with a salesperson in it: eng and arts are the university's business.
    expect(await mayExchange('eng.campus.test', 'arts.campus.test')).toBe(true);
    expect(await mayExchange('eng.campus.test', 'sales.acme.test')).toBe(true);
    // The company's own pairs are judged: hr may not talk with the university, nor is sales let reach a stranger.
    expect(await mayExchange('eng.campus.test', 'hr.acme.test')).toBe(false);
    expect(await mayExchange('hr.acme.test', 'sales.acme.test')).toBe(false);
    expect(await mayExchange('law.campus.test', 'sales.acme.test')).toBe(false);
  });
});
