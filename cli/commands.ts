import type { Entry } from './command.ts';

/**
 * Every command of `atrium`; modules load on demand so a quick command never pays for the HTTP stack.
 * A group's summary names no subcommands: help lists them from the group itself (help.ts).
 */
export const COMMANDS: Record<string, Entry> = {
  migrate: {
    summary: "Apply pending database migrations (the gateway's, or a domain node's with --node)",
    command: async () => (await import('./migrate.ts')).migrateCommand,
  },
  seed: {
    summary: 'Seed the demo campus (units, domains, users)',
    command: async () => (await import('./seed.ts')).seedCommand,
  },
  units: { summary: 'Org units', group: async () => (await import('./units.ts')).unitCommands },
  users: {
    summary: 'Accounts',
    group: async () => (await import('./users.ts')).userCommands,
  },
  directories: {
    summary: 'Campus directories (LDAP, Active Directory)',
    group: async () => (await import('./directories.ts')).directoryCommands,
  },
  mfa: {
    summary: 'Second-factor policy',
    group: async () => (await import('./mfa.ts')).mfaCommands,
  },
  domains: {
    summary: 'IM domain nodes and the federation policy',
    group: async () => (await import('./domains.ts')).domainCommands,
  },
  proxies: {
    summary: 'Federation proxies',
    group: async () => (await import('./proxies.ts')).proxyCommands,
  },
  apps: {
    summary: 'Apps (OIDC clients, bots)',
    group: async () => (await import('./apps.ts')).appCommands,
  },
  keys: { summary: 'Signing keys', group: async () => (await import('./keys.ts')).keyCommands },
  secrets: {
    summary: 'Sealing secrets (ATRIUM_SECRET_KEY, NODE_SECRET_KEY)',
    group: async () => (await import('./secrets.ts')).secretCommands,
  },
  gateway: { summary: 'Run the gateway unit', command: async () => (await import('./gateway.ts')).gatewayCommand },
  node: {
    summary: 'Run an IM domain node (--domain NAME)',
    command: async () => (await import('./node.ts')).nodeCommand,
    group: async () => ({
      keys: {
        summary: "A domain node's signing keys",
        group: (await import('./node-keys.ts')).nodeKeyCommands,
      },
    }),
  },
  proxy: { summary: 'Run the federation proxy unit', command: async () => (await import('./proxy.ts')).proxyCommand },
  demo: {
    summary: 'Run the whole demo campus in one process (what npm start runs)',
    command: async () => (await import('./demo.ts')).demoCommand,
  },
};
