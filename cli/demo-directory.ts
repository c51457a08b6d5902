import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/logger.ts';
import { registerDirectory } from '../gateway/directories/register-directory.ts';
import { bindPasswordSealer } from '../gateway/directories/secrets.ts';
import { syncDirectory } from '../gateway/directories/sync-directory.ts';
import { summarize } from '../gateway/directories/sync-report.ts';
import { updateDirectory } from '../gateway/directories/update-directory.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import type { Io } from './command.ts';
import { SLAPD_INSTALL_HINT, slapdInstalled, startPrivateSlapd, type PrivateSlapd } from './private-slapd.ts';
import type { RunningUnit, UnitStarter } from './run-units.ts';
import { withSession } from './session.ts';

export const DEMO_DIRECTORY = 'demo-library';
export const DEMO_DIRECTORY_PASSWORD = 'library-demo';
const SUFFIX = 'dc=library,dc=campus,dc=test';
const SERVICE_DN = `cn=atrium,ou=Services,${SUFFIX}`;
const PEOPLE_BASE = `ou=People,${SUFFIX}`;

export const DEMO_DIRECTORY_PEOPLE = [
  { uid: 'ines', name: 'Ines Ibarra', ous: ['Library'], what: 'librarian (staff), unit admin of the Library' },
  { uid: 'jonas', name: 'Jonas Jung', ous: ['Library', 'Archives'], what: 'student, Library archives' },
  { uid: 'kemal', name: 'Kemal Kaya', ous: ['Library'], what: 'student, Library' },
] as const;

/** What the banner says about the demo's directory. */
export type DemoDirectoryState =
  | { running: true; url: string; sync: string; people: { username: string; what: string }[] }
  | { running: false; reason: string };

const record = (dn: string, attributes: Record<string, string | string[]>) =>
  [
    `dn: ${dn}`,
    ...Object.entries(attributes).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`)),
    '',
  ].join('\n');
const personDn = (p: (typeof DEMO_DIRECTORY_PEOPLE)[number]) =>
  [`uid=${p.uid}`, ...[...p.ous].reverse().map((ou) => `ou=${ou}`), PEOPLE_BASE].join(',');

function libraryLdif(servicePassword: string): string {
  return [
    record(SUFFIX, { objectClass: ['dcObject', 'organization'], o: 'Atrium University Library', dc: 'library' }),
    record(`ou=Services,${SUFFIX}`, { objectClass: 'organizationalUnit', ou: 'Services' }),
    record(SERVICE_DN, { objectClass: 'inetOrgPerson', cn: 'atrium', sn: 'Atrium', userPassword: servicePassword }),
    record(PEOPLE_BASE, { objectClass: 'organizationalUnit', ou: 'People' }),
    record(`ou=Library,${PEOPLE_BASE}`, { objectClass: 'organizationalUnit', ou: 'Library' }),
    record(`ou=Archives,ou=Library,${PEOPLE_BASE}`, { objectClass: 'organizationalUnit', ou: 'Archives' }),
    ...DEMO_DIRECTORY_PEOPLE.map((p) =>
      record(personDn(p), {
        objectClass: 'inetOrgPerson',
        uid: p.uid,
        cn: p.name,
        sn: p.name.split(' ')[1]!,
        displayName: p.name,
        mail: `${p.uid}@library.campus.test`,
        userPassword: DEMO_DIRECTORY_PASSWORD,
      }),
    ),
    record(`ou=Groups,${SUFFIX}`, { objectClass: 'organizationalUnit', ou: 'Groups' }),
    record(`cn=library-staff,ou=Groups,${SUFFIX}`, {
      objectClass: 'groupOfNames',
      cn: 'library-staff',
      member: personDn(DEMO_DIRECTORY_PEOPLE[0]),
    }),
    record(`cn=library-admins,ou=Groups,${SUFFIX}`, {
      objectClass: 'groupOfNames',
      cn: 'library-admins',
      member: personDn(DEMO_DIRECTORY_PEOPLE[0]),
    }),
  ].join('\n');
}

/**
 * The demo campus's library keeps its people in a directory of its own: a private slapd on a free port
 * with a temp folder, registered with the gateway (its new URL on every start) and synced before the
 * gateway starts, so its people sign in with the directory's password. Without slapd the demo goes on
 * and says how to install it; stopping the unit stops slapd and removes its folder.
 */
export function demoDirectoryUnit(
  config: GatewayConfig,
  io: Io,
  logger: Logger,
  installed: () => boolean = slapdInstalled,
): UnitStarter<RunningUnit & { state: DemoDirectoryState }> {
  return {
    name: 'directory',
    async start() {
      if (!installed()) {
        return {
          name: 'directory',
          endpoints: [],
          close: async () => undefined,
          state: { running: false, reason: `slapd is not installed; to see directory sign-in, ${SLAPD_INSTALL_HINT}` },
        };
      }
      const servicePassword = randomBytes(18).toString('base64url');
      let slapd: PrivateSlapd;
      try {
        slapd = await startPrivateSlapd({
          suffix: SUFFIX,
          rootPassword: randomBytes(18).toString('base64url'),
          ldif: libraryLdif(servicePassword),
        });
      } catch (error) {
        // The demo campus is worth running without its library directory.
        logger.warn({ err: error }, 'the demo directory did not start');
        return {
          name: 'directory',
          endpoints: [],
          close: async () => undefined,
          state: {
            running: false,
            reason: `the demo directory did not start (${(error as Error).message.split('\n')[0]})`,
          },
        };
      }
      try {
        const report = await withSession(
          io,
          async ({ ctx }) => {
            const sealer = bindPasswordSealer(config.secretKey);
            const settings = {
              url: slapd.url,
              startTls: 'no',
              bindDn: SERVICE_DN,
              bindPassword: servicePassword,
              userBase: PEOPLE_BASE,
              unitRoot: 'campus/arts',
              roleGroups: [
                `staff=cn=library-staff,ou=Groups,${SUFFIX}`,
                `unit-admin:campus/arts/library=cn=library-admins,ou=Groups,${SUFFIX}`,
              ],
              resetUrl: 'https://password.library.campus.test/',
            };
            if (await ctx.models.Directory.findOne({ where: { name: DEMO_DIRECTORY } }))
              await updateDirectory(ctx, sealer, DEMO_DIRECTORY, settings);
            else await registerDirectory(ctx, sealer, { name: DEMO_DIRECTORY, ...settings });
            return syncDirectory(ctx, { sealer, logger }, DEMO_DIRECTORY);
          },
          { config },
        );
        logger.info({ directory: DEMO_DIRECTORY, url: slapd.url }, summarize(report));
        return {
          name: 'directory',
          endpoints: [{ label: 'demo directory (OpenLDAP)', url: slapd.url }],
          close: () => slapd.stop(),
          state: {
            running: true,
            url: slapd.url,
            sync: summarize(report),
            people: DEMO_DIRECTORY_PEOPLE.map((p) => ({ username: p.uid, what: p.what })),
          },
        };
      } catch (error) {
        await slapd.stop();
        throw error;
      }
    },
  };
}

/** The banner's lines about the directory. */
export function describeDemoDirectory(state: DemoDirectoryState): string[] {
  if (!state.running) return ['Directory sign-in: not shown, since ' + state.reason + '.'];
  return [
    `Directory sign-in: the Library's people come from the demo directory at ${state.url} (${DEMO_DIRECTORY}).`,
    `They sign in with the directory's password, ${DEMO_DIRECTORY_PASSWORD}, which Atrium never stores:`,
    ...state.people.map((p) => `  ${p.username.padEnd(8)} ${p.what}`),
    `Its last sync: ${state.sync}`,
    'See it under Directories in the admin console, or: npx atrium directories show demo-library',
  ];
}
