import { createSealer, type Sealer } from '../core/seal.ts';
import { defineFederationModels, type FederationModels } from '../node/federation/models.ts';
import { KEY_GRACE_MS, rotateNodeKey } from '../node/federation/node-keys.ts';
import { RuntimeFailure, type CommandGroup, type OptionSpec } from './command.ts';
import { readNodeConfig, withNodeDatabase } from './node-session.ts';
import { table } from './table.ts';

const domainOption: Record<string, OptionSpec> = {
  domain: { type: 'string', value: 'NAME', required: true, help: 'the domain whose node database holds the keys' },
};

/**
 * A key sealed under another secret could never be opened by the node, which would then sign nothing;
 * so before adding one, the secret at hand must open the key the node signs with now.
 */
async function assertSameSecret(models: FederationModels, sealer: Sealer, domain: string): Promise<void> {
  const current = await models.NodeKey.findOne({ where: { state: 'active' }, order: [['createdAt', 'DESC']] });
  if (!current) return;
  try {
    sealer.open(current.privateJwkSealed);
  } catch {
    throw new RuntimeFailure(
      'wrong_secret',
      `This is not the sealing secret the ${domain} node uses (NODE_SECRET_KEY, or the development secret file in ATRIUM_DATA_DIR); nothing changed`,
    );
  }
}

function stateOf(
  key: { state: 'next' | 'active' | 'retired'; retiredAt: Date | null },
  now: number,
): 'next' | 'active' | 'retiring' | 'retired' {
  if (key.state !== 'retired') return key.state;
  return key.retiredAt && key.retiredAt.getTime() > now - KEY_GRACE_MS ? 'retiring' : 'retired';
}

export const nodeKeyCommands: CommandGroup = {
  rotate: {
    summary:
      'Creates a new Ed25519 signing key for a domain node; once the gateway has pinned it, it signs, and the previous key keeps verifying for 24 hours.',
    options: domainOption,
    notes: [
      "Run it where the node's configuration is (same DATABASE_URL or ATRIUM_DATA_DIR, same NODE_SECRET_KEY).",
      'The new key is published at once but signs only after the gateway has pinned it: the running node asks the gateway within a minute (the current key vouches for the new one); "atrium domains pin NAME" pins it at once.',
    ].join('\n'),
    async run(args, io) {
      const config = readNodeConfig(io, args.string('domain')!);
      const result = await withNodeDatabase(config, async (sequelize) => {
        const models = defineFederationModels(sequelize);
        const sealer = createSealer(config.secretKey, 'node-keys');
        await assertSameSecret(models, sealer, config.domain);
        const created = await rotateNodeKey(models, sealer);
        return { domain: config.domain, kid: created.kid };
      });
      return {
        json: result,
        text: [
          `New signing key ${result.kid} for ${result.domain}, published; the running node starts signing with it once the gateway has pinned it (within a minute).`,
          `To pin it at once: atrium domains pin ${result.domain}`,
        ].join('\n'),
      };
    },
  },
  list: {
    summary: "Lists a domain node's signing keys, newest first: active (signs), retiring (still verifies), retired.",
    options: domainOption,
    async run(args, io) {
      const config = readNodeConfig(io, args.string('domain')!);
      const keys = await withNodeDatabase(config, async (sequelize) => {
        const rows = await defineFederationModels(sequelize).NodeKey.findAll({ order: [['createdAt', 'DESC']] });
        const now = Date.now();
        return rows.map((k) => ({
          kid: k.kid,
          state: stateOf(k, now),
          createdAt: k.createdAt.toISOString(),
          retiredAt: k.retiredAt?.toISOString() ?? null,
          verifiesUntil: k.retiredAt ? new Date(k.retiredAt.getTime() + KEY_GRACE_MS).toISOString() : null,
        }));
      });
      const text =
        keys.length === 0
          ? `The ${config.domain} node has no signing key yet; it creates one when it first starts.`
          : table(
              ['KID', 'STATE', 'CREATED', 'VERIFIES UNTIL'],
              keys.map((k) => [k.kid, k.state, k.createdAt, k.verifiesUntil ?? '']),
            );
      return { json: { domain: config.domain, keys }, text };
    },
  },
};
