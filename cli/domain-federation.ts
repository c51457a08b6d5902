import { pinDomainKeys, unpinDomain } from '../gateway/federation/pin-domain.ts';
import { allowPair, denyPair, listPolicy } from '../gateway/federation/policy.ts';
import type { Command, CommandGroup } from './command.ts';
import { withSession } from './session.ts';
import { table } from './table.ts';

function pairCommand(verb: 'allow' | 'deny'): Command {
  const change = verb === 'allow' ? allowPair : denyPair;
  return {
    summary:
      verb === 'allow'
        ? "Lets two domains exchange messages and find each other's people (the federation policy)."
        : 'Stops two domains from exchanging messages; what is queued between them is refused at the proxy.',
    args: ['DOMAIN', 'OTHER_DOMAIN'],
    notes: 'Nodes and proxies pick the policy up within REGISTRY_TTL_SECONDS (30 s by default).',
    async run(args, io) {
      const [domain, otherDomain] = args.positionals as [string, string];
      const policy = await withSession(io, async ({ ctx }) => {
        // The use-case names the two `a` and `b`; a refusal's field (`b`: "two different domains") is kept
        // as it is, the console and `--json` readers depending on it.
        await change(ctx, { a: domain, b: otherDomain });
        return listPolicy(ctx);
      });
      const pair = [domain, otherDomain].sort();
      return {
        json: { [verb === 'allow' ? 'allowed' : 'denied']: pair, policy },
        text: verb === 'allow' ? `Allowed ${pair[0]} <-> ${pair[1]}.` : `Denied ${pair[0]} <-> ${pair[1]}.`,
      };
    },
  };
}

export const domainFederationCommands: CommandGroup = {
  pin: {
    summary:
      "Pins a domain node's signing keys at the gateway, read from its well-known URL (the node must be running).",
    args: ['NAME'],
    notes:
      'A domain that is pinned already accepts only a key set signed by a pinned key (a rotation); a rebuilt node needs "atrium domains unpin NAME" first.',
    async run(args, io) {
      const name = args.positionals[0]!;
      const { keys, changed } = await withSession(io, ({ ctx }) => pinDomainKeys(ctx, name));
      const kids = keys.map((k) => k.kid);
      return {
        json: { domain: name, kids, changed },
        text: changed
          ? `Pinned ${name}: ${kids.join(', ')}.`
          : `${name} is pinned already with ${kids.join(', ')}; nothing changed.`,
      };
    },
  },
  unpin: {
    summary: "Forgets a domain's pinned keys: nothing it signs is trusted until it is pinned again.",
    args: ['NAME'],
    async run(args, io) {
      const name = args.positionals[0]!;
      await withSession(io, ({ ctx }) => unpinDomain(ctx, name));
      return {
        json: { domain: name, unpinned: true },
        text: `Unpinned ${name}; pin it again with: atrium domains pin ${name}`,
      };
    },
  },
  allow: pairCommand('allow'),
  deny: pairCommand('deny'),
  policy: {
    summary: 'Lists the pairs of domains allowed to exchange messages; every other pair is denied.',
    async run(_args, io) {
      const policy = await withSession(io, ({ ctx }) => listPolicy(ctx));
      const text =
        policy.length === 0
          ? 'No pair of domains may exchange messages yet. Allow one with: atrium domains allow DOMAIN OTHER_DOMAIN'
          : table(
              ['DOMAIN A', 'DOMAIN B'],
              policy.map(([a, b]) => [a, b]),
            );
      return { json: { policy }, text };
    },
  },
};
