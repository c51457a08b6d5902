import {
  addDomain,
  domainsServing,
  listDomains,
  updateDomain,
  type PresentedDomain,
} from '../gateway/domains/domains.ts';
import { HomeMoveError, type HomeMoves } from '../gateway/domains/home-moves.ts';
import { removeDomain } from '../gateway/domains/remove-domain.ts';
import { describeSharedUnit, sharedUnits } from '../gateway/domains/shared-units.ts';
import { pinnedKeysOf } from '../gateway/federation/pin-domain.ts';
import type { CommandGroup, OptionSpec } from './command.ts';
import { domainFederationCommands } from './domain-federation.ts';
import { withSession } from './session.ts';
import { table } from './table.ts';

const movePeople: OptionSpec = {
  type: 'boolean',
  help: 'confirms moving people whose IM home domain the change moves (their chat history stays on the old node)',
};

/** The use-cases' refusal to move people, saying how to confirm on the command line. */
async function confirmedBy<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof HomeMoveError)
      throw new HomeMoveError(error.moves, 'run again with --move-people to move them');
    throw error;
  }
}

function movedText(moved: HomeMoves): string {
  if (moved.people === 0) return '';
  const parts = moved.moves.map((m) => `${m.people} from ${m.from} to ${m.to ?? 'no domain'}`);
  return ` Moved the IM home of ${moved.people} ${moved.people === 1 ? 'person' : 'people'} (${parts.join('; ')}).`;
}

const served = (d: PresentedDomain) => (d.units.length > 0 ? `serving ${d.units.join(', ')}` : 'serving no unit');

/** What an operator does after adding a domain, so that its people can chat: its node, its keys, its pairs. */
function nextSteps(domain: PresentedDomain, others: string[]): string {
  const peers = others.length > 0 ? others.join(', ') : 'none yet';
  return [
    'Next:',
    `  1. Start its node with this URL: atrium migrate --node ${domain.name}, then`,
    `     NODE_PUBLIC_URL=${domain.url} atrium node --domain ${domain.name}`,
    "     (GATEWAY_ISSUER set to this gateway's issuer, NODE_SECRET_KEY to a secret of its own).",
    `  2. While it runs, pin its keys here: atrium domains pin ${domain.name}`,
    `  3. For each domain its people may exchange messages with: atrium domains allow ${domain.name} OTHER_DOMAIN`,
    `     (the other domains: ${peers}).`,
  ].join('\n');
}

/** Which chat domain serves each unit a removed domain served, now that it is gone (one above it, or none). */
function unitsLeftText(units: string[], servedNow: (string | null)[]): string {
  if (units.length === 0) return '';
  const each = units.map((unit, i) => `${unit} (${servedNow[i] ? `now served by ${servedNow[i]}` : 'no chat domain'})`);
  return ` Its units stay, with their people: ${each.join(', ')}.`;
}

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
      'move-people': movePeople,
    },
    notes:
      'Refused, with the count, when the new domain would become the IM home of people who have one now, unless --move-people is given.',
    async run(args, io) {
      const domain = await withSession(io, async ({ ctx }) => {
        const created = await confirmedBy(() =>
          addDomain(ctx, {
            name: args.positionals[0],
            url: args.string('url'),
            units: args.list('unit'),
            movePeople: args.flag('move-people'),
          }),
        );
        const all = await listDomains(ctx);
        return { ...all.find((d) => d.id === created.id)!, others: all.filter((d) => d.id !== created.id) };
      });
      const { others, ...json } = domain;
      return {
        json,
        text: `Added domain ${domain.name} at ${domain.url}, ${served(domain)}.\n${nextSteps(
          domain,
          others.map((d) => d.name),
        )}`,
      };
    },
  },
  update: {
    summary: "Changes a domain node's URL or the units it serves (the units given replace the ones it serves).",
    args: ['NAME'],
    options: {
      url: { type: 'string', value: 'URL', help: 'new base URL of the node' },
      unit: { type: 'string', value: 'PATH', multiple: true, help: 'org unit the node serves (with its subunits)' },
      'move-people': movePeople,
    },
    notes:
      'Refused, with the count, when the new units would change the IM home domain of anyone, unless --move-people is given.',
    async run(args, io) {
      const name = args.positionals[0]!;
      const units = args.list('unit');
      const url = args.string('url');
      const domain = await withSession(io, async ({ ctx }) => {
        await confirmedBy(() =>
          updateDomain(ctx, name, {
            ...(url === undefined ? {} : { url }),
            ...(units.length > 0 ? { units } : {}),
            movePeople: args.flag('move-people'),
          }),
        );
        return (await listDomains(ctx)).find((d) => d.name === name)!;
      });
      return { json: domain, text: `Saved domain ${domain.name} at ${domain.url}, ${served(domain)}.` };
    },
  },
  remove: {
    summary:
      'Removes a domain node with its pinned keys and its federation pairs; nodes stop routing to it. The units it served stay, with their people, served by a domain above them or by none.',
    args: ['NAME'],
    options: { 'move-people': movePeople },
    notes:
      'Refused, with the count, while the domain is the IM home of anyone, unless --move-people is given (their chat history stays on its node).',
    async run(args, io) {
      const name = args.positionals[0]!;
      const { removed, units, servedNow } = await withSession(io, async ({ ctx }) => {
        const units = (await listDomains(ctx)).find((d) => d.name === name)?.units ?? [];
        const removed = await confirmedBy(() => removeDomain(ctx, name, { movePeople: args.flag('move-people') }));
        return { removed, units, servedNow: await domainsServing(ctx, units) };
      });
      const pairs = removed.federationPairs.length;
      const pairsText = pairs > 0 ? ` Removed its ${pairs} federation pair${pairs === 1 ? '' : 's'}.` : '';
      return {
        json: {
          removed: name,
          movedPeople: removed.moved.people,
          moves: removed.moved.moves,
          federationPairs: removed.federationPairs,
        },
        text: `Removed domain ${name}.${pairsText}${movedText(removed.moved)}${unitsLeftText(units, servedNow)}`,
      };
    },
  },
  list: {
    summary: 'Lists the IM domain nodes, the units they serve and their pinned key ids.',
    notes:
      "Flags a unit served by two domains (possible only in a database from before that was refused): the first domain by name is its people's IM home.",
    async run(_args, io) {
      const { domains, shared } = await withSession(io, async ({ ctx, models }) => {
        const pins = new Map((await models.Domain.findAll()).map((d) => [d.name, pinnedKeysOf(d).map((k) => k.kid)]));
        const domains = (await listDomains(ctx)).map((d) => ({ ...d, pinnedKids: pins.get(d.name) ?? [] }));
        return { domains, shared: await sharedUnits(ctx) };
      });
      const text =
        domains.length === 0
          ? 'No domains yet. Add one with: atrium domains add NAME --url URL --unit PATH'
          : table(
              ['NAME', 'URL', 'UNITS', 'PINNED KEYS'],
              domains.map((d) => [d.name, d.url, d.units.join(', '), d.pinnedKids.join(', ') || '(not pinned)']),
            ) + shared.map((s) => `\nWarning: ${describeSharedUnit(s)}`).join('');
      return { json: { domains, sharedUnits: shared }, text };
    },
  },
  ...domainFederationCommands,
};
