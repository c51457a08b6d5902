import { ValidationError } from '../core/errors.ts';
import { addProxy, removeProxy } from '../gateway/federation/policy.ts';
import type { CommandGroup } from './command.ts';
import { withSession } from './session.ts';
import { table } from './table.ts';

function parseKey(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ValidationError('--key is not JSON', {
      key: 'the public key JWK the proxy prints at start, as one JSON object',
    });
  }
}

export const proxyCommands: CommandGroup = {
  add: {
    summary:
      "Registers a federation proxy at the gateway: this organization's proxy by its public key, or a peer organization's proxy by its URL.",
    args: ['NAME'],
    options: {
      key: {
        type: 'string',
        value: 'JWK-JSON',
        help: 'the public key (Ed25519 JWK) that "atrium proxy" prints at start',
      },
      'peer-url': {
        type: 'string',
        value: 'URL',
        help: "a peer organization's proxy, which forwards to that organization's domains",
      },
    },
    notes: 'Registering the same NAME again replaces its key or URL (a proxy whose key was replaced).',
    async run(args, io) {
      const name = args.positionals[0]!;
      const publicJwk = parseKey(args.string('key'));
      const peerUrl = args.string('peer-url');
      await withSession(io, ({ ctx }) => addProxy(ctx, { name, publicJwk, peerUrl }));
      const kid = (publicJwk as { kid?: string } | undefined)?.kid;
      return {
        json: { name, kid: kid ?? null, peerUrl: peerUrl ?? null },
        text: `Registered proxy ${name}${kid ? ` with key ${kid}` : ''}${peerUrl ? ` at ${peerUrl}` : ''}.`,
      };
    },
  },
  remove: {
    summary:
      'Takes a federation proxy off the gateway: it is refused the registry from its next request, and a peer organization is no longer reached through it.',
    args: ['NAME'],
    options: { yes: { type: 'boolean', required: true, help: 'confirm the removal' } },
    notes: 'A proxy whose key leaked is better given a new key: "atrium proxies add NAME --key JWK" with the new one.',
    async run(args, io) {
      const name = args.positionals[0]!;
      const removed = await withSession(io, ({ ctx }) => removeProxy(ctx, name));
      return {
        json: { name, ...removed },
        text: `Removed proxy ${name}${removed.kid ? ` (key ${removed.kid})` : ''}${removed.peerUrl ? ` (${removed.peerUrl})` : ''}: the gateway refuses it from its next request.`,
      };
    },
  },
  list: {
    summary: 'Lists the registered federation proxies.',
    async run(_args, io) {
      const proxies = await withSession(io, async ({ models }) =>
        (await models.FederationProxy.findAll({ order: [['name', 'ASC']] })).map((p) => ({
          name: p.name,
          kid: p.publicJwk ? (JSON.parse(p.publicJwk) as { kid: string }).kid : null,
          peerUrl: p.peerUrl,
          createdAt: p.createdAt.toISOString(),
        })),
      );
      const text =
        proxies.length === 0
          ? 'No proxies registered. Start one with "atrium proxy" and register the key it prints: atrium proxies add NAME --key JWK'
          : table(
              ['NAME', 'KEY', 'PEER URL', 'REGISTERED'],
              proxies.map((p) => [p.name, p.kid ?? '', p.peerUrl ?? '', p.createdAt]),
            );
      return { json: { proxies }, text };
    },
  },
};
