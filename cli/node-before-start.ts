import { openDatabase } from '../core/database.ts';
import { migrate } from '../core/migrator.ts';
import type { GatewayContext } from '../gateway/context.ts';
import { pinKeysDocument } from '../gateway/federation/pin-domain.ts';
import type { NodeConfig } from '../node/config.ts';
import { keysDocumentBeforeStart, type KeysDocument } from '../node/federation/node-keys.ts';

/**
 * A node made ready before it starts, for a composition root that then pins its keys at the gateway
 * (the demo, the benchmarks): its database migrated and its keys document, its first key created as the
 * node itself would at its first start.
 */
export async function prepareNode(config: NodeConfig): Promise<{ applied: string[]; keys: KeysDocument }> {
  const sequelize = await openDatabase(config.database);
  try {
    const applied = (await migrate(sequelize, 'node', config.domain)).map((name) => `${config.domain}/${name}`);
    return { applied, keys: await keysDocumentBeforeStart(sequelize, config) };
  } finally {
    await sequelize.close();
  }
}

/**
 * Pins nodes' keys from the documents prepareNode gave, checked as a document read from a running node
 * is: the nodes' first requests to the gateway (ended sessions, the registry) are then accepted, rather
 * than refused and retried with a warning.
 */
export async function pinKeysBeforeStart(ctx: GatewayContext, documents: KeysDocument[]): Promise<void> {
  // As the node serves it: through JSON, which the proof was computed over.
  for (const doc of documents) await pinKeysDocument(ctx, doc.domain, JSON.parse(JSON.stringify(doc)));
}
