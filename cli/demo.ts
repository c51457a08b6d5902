import { loadEnv } from '../core/config.ts';
import { migrate } from '../core/migrator.ts';
import { createLogger } from '../core/logger.ts';
import { DEMO_PASSWORD, DEMO_USERS, seedDemo } from '../gateway/seed/demo.ts';
import type { Command, Output } from './command.ts';
import { alignDemoDomains, demoCampus, linkDemoCampus, linkDemoNodes } from './demo-campus.ts';
import { seedDemoConversations } from './demo-conversations.ts';
import { gatewayUnit } from './gateway.ts';
import { nodeUnit } from './node.ts';
import { printOutput } from './output.ts';
import { proxyUnit } from './proxy.ts';
import { loadProxyKey, publicPart } from '../proxy/proxy-key.ts';
import { runUntilSignal, shutdownSignal, startUnits, stopUnits, type RunningUnit } from './run-units.ts';
import { describeDatabase, withSession } from './session.ts';
import { table } from './table.ts';
import { leaveApprovalUnit } from './leave-approval-unit.ts';
import { prepareNode } from './node-before-start.ts';
import {
  DEMO_DIRECTORY_PASSWORD,
  demoDirectoryUnit,
  describeDemoDirectory,
  type DemoDirectoryState,
} from './demo-directory.ts';
import { DEMO_HOST, demoGatewayConfig, reachableFromNetwork, refuseInProduction } from './demo-host.ts';

type Prepared = {
  applied: string[];
  seeded: boolean;
  conversationsSeeded: boolean;
  moved: string[];
  databases: string[];
};

/**
 * What this start did to the demo's data, if anything: a first start seeds the campus; a later one that
 * applies migrations is an upgrade of the data already there, and says so.
 */
export function setupNote(prepared: Pick<Prepared, 'applied' | 'seeded' | 'conversationsSeeded'>): string | null {
  const done = [
    prepared.applied.length > 0 ? `applied ${prepared.applied.length} migration(s)` : null,
    prepared.seeded ? 'seeded the demo campus' : null,
    prepared.conversationsSeeded ? 'seeded its conversations' : null,
  ].filter(Boolean);
  if (done.length === 0) return null;
  return prepared.seeded ? `(First start: ${done.join(', ')}.)` : `(Updated the demo's data: ${done.join(', ')}.)`;
}

/** Said first when GATEWAY_HOST puts the demo on the network, where its printed passwords open every account. */
function networkWarning(host: string, directory: DemoDirectoryState): string[] {
  return [
    `WARNING: every unit listens on ${host} (GATEWAY_HOST), so other machines on the network reach them: anyone`,
    `there can sign in as any demo account, admin included, with the password ${DEMO_PASSWORD}.`,
    ...(directory.running ? [`The library's people can too, with ${DEMO_DIRECTORY_PASSWORD}.`] : []),
    `Unset GATEWAY_HOST to keep the demo on this machine (${DEMO_HOST}).`,
  ];
}

function banner(units: RunningUnit[], prepared: Prepared, directory: DemoDirectoryState, host: string): Output {
  const exposed = reachableFromNetwork(host);
  const endpoints = units.flatMap((u) => u.endpoints);
  const logins = DEMO_USERS.map((u) => ({ username: u.username, password: DEMO_PASSWORD, what: u.what }));
  const width = Math.max(...endpoints.map((e) => e.label.length));
  return {
    json: {
      endpoints: Object.fromEntries(endpoints.map((e) => [e.label, e.url])),
      host,
      reachableFromNetwork: exposed,
      logins,
      ...prepared,
      directory,
    },
    text: [
      '',
      'Atrium demo campus is running.',
      ...[setupNote(prepared)].filter((note) => note !== null),
      ...(prepared.moved.length > 0
        ? [`(The registered URL of ${prepared.moved.join(' and ')} now follows the demo's ports.)`]
        : []),
      '',
      ...(exposed ? [...networkWarning(host, directory), ''] : []),
      ...endpoints.map((e) => `  ${e.label.padEnd(width)}  ${e.url}`),
      '',
      `Demo logins (every password is ${DEMO_PASSWORD}):`,
      table(
        ['USERNAME', 'PASSWORD', 'WHO'],
        logins.map((l) => [l.username, l.password, l.what]),
      )
        .split('\n')
        .map((line) => `  ${line}`)
        .join('\n'),
      '',
      'Demo conversations: alice and dave (Engineering), alice and bob (Engineering and Arts),',
      'and the group "Campus Orchestra" on arts.campus.test (carol, bob, alice, dave).',
      '',
      ...describeDemoDirectory(directory),
      '',
      `Data: ${prepared.databases.join(', ')}`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  };
}

export const demoCommand: Command = {
  summary:
    'Runs a demo campus in one process: the gateway, the federation proxy, two domain nodes (eng, arts) and the leave-approval example app; migrates, seeds people and conversations once, and prints the URLs and demo logins.',
  notes: [
    "Data lives in ./data (SQLite) unless ATRIUM_DATA_DIR says otherwise; DATABASE_URL, if set, moves the gateway's database only.",
    'Ports: GATEWAY_PORT (4000), DEMO_PROXY_PORT (4100), DEMO_ENG_PORT (4201), DEMO_ARTS_PORT (4202), DEMO_LEAVE_PORT (4300, the leave-approval example app).',
    `Every unit listens on GATEWAY_HOST, ${DEMO_HOST} (this machine only) unless set; another address puts the demo accounts, admin included, and their printed password on the network.`,
  ].join('\n'),
  async run(args, io) {
    const config = demoGatewayConfig(io);
    refuseInProduction(config, 'atrium demo');
    const shutdown = shutdownSignal();
    const campus = demoCampus(loadEnv(io.env), config);
    const logger = createLogger('atrium', config.logLevel);
    const gatewayPart = await withSession(
      io,
      async ({ sequelize, ctx }) => {
        const applied = (await migrate(sequelize, 'gateway')).map((name) => `gateway/${name}`);
        const { seeded } = await seedDemo(ctx, campus.urls);
        const moved = await alignDemoDomains(ctx, campus.urls);
        return { applied, seeded, moved };
      },
      { migrated: false, config },
    );
    const nodes = [await prepareNode(campus.nodes.eng), await prepareNode(campus.nodes.arts)];
    const nodeMigrations = nodes.flatMap((node) => node.applied);
    const nodeKeys = nodes.map((node) => node.keys);
    const proxyKey = publicPart(loadProxyKey(campus.proxy));
    await withSession(io, ({ ctx }) => linkDemoNodes(ctx, nodeKeys, proxyKey), { config });

    // Started in this order and stopped in reverse: the nodes reach the gateway and the proxy, never the other way round at start.
    const units = await startUnits(
      [
        // First, so that its people are synced before the gateway starts, and it stops last.
        demoDirectoryUnit(config, io, logger.child({ unit: 'directory' })),
        gatewayUnit(config, logger.child({ unit: 'gateway' })),
        proxyUnit(campus.proxy, logger.child({ unit: 'proxy' })),
        nodeUnit(campus.nodes.eng, logger.child({ unit: 'node', domain: campus.nodes.eng.domain })),
        nodeUnit(campus.nodes.arts, logger.child({ unit: 'node', domain: campus.nodes.arts.domain })),
        leaveApprovalUnit({
          gateway: config,
          env: io.env,
          nodes: { [campus.nodes.eng.domain]: campus.urls.eng, [campus.nodes.arts.domain]: campus.urls.arts },
          logger: logger.child({ unit: 'leave-approval' }),
        }),
      ],
      logger,
    );
    const [directory, , proxy, eng, arts] = units;
    let conversationsSeeded: boolean;
    try {
      await withSession(io, ({ ctx }) => linkDemoCampus(ctx, proxy.proxy.publicKey), { config });
      ({ seeded: conversationsSeeded } = await seedDemoConversations({ eng: eng.node, arts: arts.node }));
    } catch (error) {
      await stopUnits(units, logger).catch(() => undefined);
      throw error;
    }
    const databases = [
      describeDatabase(config),
      describeDatabase(campus.nodes.eng),
      describeDatabase(campus.nodes.arts),
    ];
    const prepared = {
      ...gatewayPart,
      applied: [...gatewayPart.applied, ...nodeMigrations],
      conversationsSeeded,
      databases,
    };
    printOutput(io, args.json, banner(units, prepared, directory.state, config.host));
    await runUntilSignal(units, logger, shutdown);
  },
};
