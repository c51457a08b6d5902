import { DEMO_PASSWORD, DEMO_UNITS, DEMO_USERS, seedDemo, type DemoDomains } from '../gateway/seed/demo.ts';
import { UsageError, type Command } from './command.ts';
import { refuseInProduction } from './demo-host.ts';
import { readConfig, withSession } from './session.ts';

/** Where the demo's two IM domain nodes listen (the demo command starts them there). */
export const DEMO_NODE_URLS: DemoDomains = { eng: 'http://localhost:4201', arts: 'http://localhost:4202' };

export const seedCommand: Command = {
  summary:
    'Seeds the demo campus: units, the eng and arts IM domains, and the demo users. Running it again changes nothing.',
  options: {
    demo: { type: 'boolean', help: 'seed the demo campus (the only seed there is)' },
    'eng-url': {
      type: 'string',
      value: 'URL',
      help: `URL of the eng.campus.test domain node (default ${DEMO_NODE_URLS.eng})`,
    },
    'arts-url': {
      type: 'string',
      value: 'URL',
      help: `URL of the arts.campus.test domain node (default ${DEMO_NODE_URLS.arts})`,
    },
  },
  async run(args, io) {
    if (!args.flag('demo')) throw new UsageError('say what to seed: atrium seed --demo');
    const config = readConfig(io);
    refuseInProduction(config, 'atrium seed --demo');
    const domains = {
      eng: args.string('eng-url') ?? DEMO_NODE_URLS.eng,
      arts: args.string('arts-url') ?? DEMO_NODE_URLS.arts,
    };
    const { seeded } = await withSession(io, ({ ctx }) => seedDemo(ctx, domains), { config });
    if (!seeded) return { json: { seeded: false }, text: 'The demo campus is already seeded; nothing changed.' };
    return {
      json: { seeded: true, units: DEMO_UNITS.length, domains, users: DEMO_USERS.map((u) => u.username) },
      text: [
        `Seeded the demo campus: ${DEMO_UNITS.length} units, 2 IM domains, ${DEMO_USERS.length} users.`,
        `  eng.campus.test   ${domains.eng}`,
        `  arts.campus.test  ${domains.arts}`,
        `Demo users: ${DEMO_USERS.map((u) => u.username).join(', ')} (password ${DEMO_PASSWORD}).`,
      ].join('\n'),
    };
  },
};
