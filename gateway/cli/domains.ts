import { addDomain, listDomains } from '../domains/domains.ts';
import type { CommandGroup } from './command.ts';
import { withSession } from './session.ts';
import { table } from './table.ts';

export const domainCommands: CommandGroup = {
  add: {
    summary: 'Registers an IM domain node: its name, its URL (the audience of its access tokens) and the units it serves.',
    args: ['NAME'],
    options: {
      url: { type: 'string', value: 'URL', required: true, help: 'base URL of the node, such as https://eng.campus.example' },
      unit: { type: 'string', value: 'PATH', multiple: true, required: true, help: 'org unit the node serves (with its subunits)' },
    },
    async run(args, io) {
      const domain = await withSession(io, async ({ ctx }) => {
        const created = await addDomain(ctx, { name: args.positionals[0], url: args.string('url'), units: args.list('unit') });
        return (await listDomains(ctx)).find((d) => d.id === created.id)!;
      });
      return { json: domain, text: `Added domain ${domain.name} at ${domain.url}, serving ${domain.units.join(', ')}.` };
    },
  },
  list: {
    summary: 'Lists the IM domain nodes and the units they serve.',
    async run(_args, io) {
      const domains = await withSession(io, ({ ctx }) => listDomains(ctx));
      const text =
        domains.length === 0
          ? 'No domains yet. Add one with: atrium domains add NAME --url URL --unit PATH'
          : table(['NAME', 'URL', 'UNITS'], domains.map((d) => [d.name, d.url, d.units.join(', ')]));
      return { json: { domains }, text };
    },
  },
};
