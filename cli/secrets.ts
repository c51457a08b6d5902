import { existsSync } from 'node:fs';
import { resealAll, type ResealCount } from '../core/reseal.ts';
import { gatewaySealedFields } from '../gateway/secrets/sealed-fields.ts';
import { defineFederationModels } from '../node/federation/models.ts';
import { nodeSealedFields } from '../node/federation/sealed-fields.ts';
import { RuntimeFailure, type CommandGroup, type Output } from './command.ts';
import { readNodeConfig, withNodeDatabase } from './node-session.ts';
import { describeDatabase, withSession } from './session.ts';
import { table } from './table.ts';

function resealReport(what: string, variable: string, counts: ResealCount[]): Output {
  const unopened = counts.flatMap((c) => c.unopened.map((row) => ({ kind: c.kind, row })));
  const resealed = counts.reduce((n, c) => n + c.resealed, 0);
  const lines = [
    table(
      ['KIND', 'RESEALED', 'ALREADY CURRENT', 'CHANGED MEANWHILE', 'UNOPENED'],
      counts.map((c) => [c.kind, c.resealed, c.current, c.changedMeanwhile, c.unopened.length].map(String)),
    ),
    `Resealed ${resealed} value${resealed === 1 ? '' : 's'} of the ${what} with the current ${variable}.`,
  ];
  if (unopened.length > 0)
    lines.push(
      `${unopened.length} value${unopened.length === 1 ? '' : 's'} opened with none of the configured secrets and ${unopened.length === 1 ? 'was' : 'were'} left as ${unopened.length === 1 ? 'it was' : 'they were'}:`,
      ...unopened.map((u) => `  ${u.kind} ${u.row}`),
      `Add the secret they were sealed with to ${variable}_PREVIOUS and run this again, or replace them.`,
    );
  else
    lines.push(
      `Nothing in the database needs ${variable}_PREVIOUS any more: drop it, then restart the processes that have it.`,
    );
  return { json: { database: what, kinds: counts, unopened }, text: lines.join('\n') };
}

export const secretCommands: CommandGroup = {
  reseal: {
    summary:
      'Seals every sealed value in the database again with the current secret (ATRIUM_SECRET_KEY, or NODE_SECRET_KEY with --node), after a rotation.',
    options: {
      node: {
        type: 'string',
        value: 'NAME',
        help: 'reseal the database of the domain node NAME (as "atrium node --domain NAME" finds it)',
      },
    },
    notes: [
      'Values are opened with the current secret or one of the previous ones (ATRIUM_SECRET_KEY_PREVIOUS,',
      'NODE_SECRET_KEY_PREVIOUS: comma-separated) and sealed with the current one, in batches; running it',
      'again changes nothing. A value no configured secret opens is listed and left untouched. Processes may',
      'keep running meanwhile, if they already have the new secret (and the previous ones).',
    ].join('\n'),
    async run(args, io) {
      const domain = args.string('node');
      if (domain === undefined)
        return withSession(io, async ({ config, sequelize, models }) =>
          resealReport(
            'gateway',
            'ATRIUM_SECRET_KEY',
            await resealAll(sequelize, gatewaySealedFields(models, config.secretKey)),
          ),
        );
      const config = readNodeConfig(io, domain, '--node');
      // A misspelt name must not leave an empty SQLite file behind.
      if (!config.database.url && !existsSync(config.database.sqliteFile))
        throw new RuntimeFailure('not_found', `The ${domain} node has no database ${describeDatabase(config)}`);
      return withNodeDatabase(config, async (sequelize) =>
        resealReport(
          `${domain} node`,
          'NODE_SECRET_KEY',
          await resealAll(sequelize, nodeSealedFields(defineFederationModels(sequelize), config.secretKey)),
        ),
      );
    },
  },
};
