import { addDomain, listDomains } from '../gateway/domains/domains.ts';
import { pinnedKeysOf } from '../gateway/federation/pin-domain.ts';
import type { CommandGroup } from './command.ts';
import { domainFederationCommands } from './domain-federation.ts';
import { withSession } from './session.ts';
import { table } from './table.ts';

export const domainCommands: CommandGroup = {
  add: {
    summary:
      'Registers an IM domain node: its name, its URL (the audience of its access tokens) and the units it serves.',
    args: ['NAME'],
    options: {
      url: {
        type: 'string',
        value: 'URL',
        required: true,
        help: 'base URL of the node, such as https://eng.campus.example',
      },
      unit: {
        type: 'string',
        value: 'PATH',
        multiple: true,
        required: true,
        help: 'org unit the node serves (with its subunits)',
      },
    },
    async run(args, io) {
      const domain = await withSession(io, async ({ ctx }) => {
        const created = await addDomain(ctx, {
          name: args.positionals[0],
          url: args.string('url'),
          units: args.list('unit'),
        });
        return (await listDomains(ctx)).find((d) => d.id === created.id)!;
      });
      return {
        json: domain,
        text: `Added domain ${domain.name} at ${domain.url}, serving ${domain.units.join(', ')}.`,
      };
    },
  },
  list: {
    summary: 'Lists the IM domain nodes, the units they serve and their pinned key ids.',
    async run(_args, io) {
      const domains = await withSession(io, async ({ ctx, models }) => {
        const pins = new Map((await models.Domain.findAll()).map((d) => [d.name, pinnedKeysOf(d).map((k) => k.kid)]));
        return (await listDomains(ctx)).map((d) => ({ ...d, pinnedKids: pins.get(d.name) ?? [] }));
      });
      const text =
        domains.length === 0
          ? 'No domains yet. Add one with: atrium domains add NAME --url URL --unit PATH'
          : table(
              ['NAME', 'URL', 'UNITS', 'PINNED KEYS'],
              domains.map((d) => [d.name, d.url, d.units.join(', '), d.pinnedKids.join(', ') || '(not pinned)']),
            );
      return { json: { domains }, text };
    },
  },
  ...domainFederationCommands,
};
