import { createLogger } from '../../core/logger.ts';
import { migrate } from '../../core/migrator.ts';
import { DEMO_PASSWORD, DEMO_USERS, seedDemo } from '../seed/demo.ts';
import type { Command, Output } from './command.ts';
import { gatewayUnit } from './gateway.ts';
import { printOutput } from './output.ts';
import { runUntilSignal, startUnits, type RunningUnit } from './run-units.ts';
import { DEMO_NODE_URLS } from './seed.ts';
import { describeDatabase, readConfig, withSession } from './session.ts';
import { table } from './table.ts';

type Prepared = { applied: string[]; seeded: boolean; database: string };

function banner(units: RunningUnit[], prepared: Prepared): Output {
  const endpoints = units.flatMap((u) => u.endpoints);
  const logins = DEMO_USERS.map((u) => ({ username: u.username, password: DEMO_PASSWORD, what: u.what }));
  const setup = [
    prepared.applied.length > 0 ? `applied ${prepared.applied.length} migration(s)` : null,
    prepared.seeded ? 'seeded the demo campus' : null,
  ].filter(Boolean);
  const width = Math.max(...endpoints.map((e) => e.label.length));
  return {
    json: { endpoints: Object.fromEntries(endpoints.map((e) => [e.label, e.url])), logins, ...prepared },
    text: [
      '',
      'Atrium demo campus is running.',
      ...(setup.length > 0 ? [`(First start: ${setup.join(' and ')}.)`] : []),
      '',
      ...endpoints.map((e) => `  ${e.label.padEnd(width)}  ${e.url}`),
      '',
      `Demo logins (every password is ${DEMO_PASSWORD}):`,
      table(['USERNAME', 'PASSWORD', 'WHO'], logins.map((l) => [l.username, l.password, l.what]))
        .split('\n')
        .map((line) => `  ${line}`)
        .join('\n'),
      '',
      `Data: ${prepared.database}`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  };
}

export const demoCommand: Command = {
  summary: 'Runs a demo campus in one process: migrates, seeds the demo (once), starts the units and prints the URLs and demo logins.',
  notes: 'Data lives in ./data (SQLite) unless ATRIUM_DATA_DIR or DATABASE_URL say otherwise; the gateway listens on GATEWAY_PORT (4000).',
  async run(args, io) {
    const config = readConfig(io);
    const logger = createLogger('atrium', config.logLevel);
    const prepared = await withSession(
      io,
      async ({ sequelize, ctx }) => {
        const applied = await migrate(sequelize, 'gateway');
        const { seeded } = await seedDemo(ctx, DEMO_NODE_URLS);
        return { applied, seeded, database: describeDatabase(config) };
      },
      { migrated: false, config },
    );
    // Started in this order and stopped in reverse; the IM nodes, proxy and example app join this list.
    const units = await startUnits([gatewayUnit(config, logger.child({ unit: 'gateway' }))], logger);
    printOutput(io, args.json, banner(units, prepared));
    await runUntilSignal(units, logger);
  },
};
