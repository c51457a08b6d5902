import { randomBytes } from 'node:crypto';
import { Op } from 'sequelize';
import type { Logger } from '../core/logger.ts';
import { registerDirectory } from '../gateway/directories/register-directory.ts';
import { bindPasswordSealer } from '../gateway/directories/secrets.ts';
import { syncDirectory } from '../gateway/directories/sync-directory.ts';
import { summarize, type SyncReport } from '../gateway/directories/sync-report.ts';
import { updateDirectory } from '../gateway/directories/update-directory.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import type { GatewayContext } from '../gateway/context.ts';
import type { Io } from './command.ts';
import { SLAPD_INSTALL_HINT, slapdInstalled, startPrivateSlapd, type PrivateSlapd } from './private-slapd.ts';
import type { RunningUnit, UnitStarter } from './run-units.ts';
import { withSession } from './session.ts';

export const DEMO_DIRECTORY = 'demo-library';
export const DEMO_DIRECTORY_PASSWORD = 'library-demo';
const SUFFIX = 'dc=library,dc=campus,dc=test';
const SERVICE_DN = `cn=atrium,ou=Services,${SUFFIX}`;
const PEOPLE_BASE = `ou=People,${SUFFIX}`;

/**
 * Each start builds the directory afresh, and slapadd would give every entry a new entryUUID: the ids the
 * gateway linked the people to on the first start would name nobody, and the sync would refuse a directory
 * that looks rebuilt. slapadd keeps an entryUUID the LDIF gives, so each person keeps theirs (lower case,
 * as slapd writes it back). Not a secret: the demo's entries are public anyway.
 */
export const DEMO_DIRECTORY_PEOPLE = [
  {
    uid: 'ines',
    name: 'Ines Ibarra',
    ous: ['Library'],
    what: 'librarian (staff), unit admin of the Library',
    entryUUID: '5d1c7a9e-3b2f-4c6d-8e41-0a7b9c2d1e01',
  },
  {
    uid: 'jonas',
    name: 'Jonas Jung',
    ous: ['Library', 'Archives'],
    what: 'student, Library archives',
    entryUUID: '5d1c7a9e-3b2f-4c6d-8e41-0a7b9c2d1e02',
  },
  {
    uid: 'kemal',
    name: 'Kemal Kaya',
    ous: ['Library'],
    what: 'student, Library',
    entryUUID: '5d1c7a9e-3b2f-4c6d-8e41-0a7b9c2d1e03',
  },
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
        entryUUID: p.entryUUID,
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
 * with a temp folder, built afresh on every start with the same entries and entry ids, registered with the
 * gateway (its new URL on every start) and synced before the gateway starts, so its people sign in with
 * the directory's password. Without slapd the demo goes on and says how to install it; stopping the unit
 * stops slapd and removes its folder.
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
      if (!installed()) return notRunning(`slapd is not installed; to see directory sign-in, ${SLAPD_INSTALL_HINT}`);
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
        return notRunning(`the demo directory did not start (${(error as Error).message.split('\n')[0]})`);
      }
      try {
        const sync = ({ ctx }: { ctx: GatewayContext }) =>
          registerAndSync(ctx, config, logger, slapd.url, servicePassword);
        const report = await withSession(io, sync, { config });
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

function notRunning(reason: string): RunningUnit & { state: DemoDirectoryState } {
  return { name: 'directory', endpoints: [], close: async () => undefined, state: { running: false, reason } };
}

/** Registers the demo's directory, or points it at this start's slapd (another port, another password), and syncs it. */
async function registerAndSync(
  ctx: GatewayContext,
  config: GatewayConfig,
  logger: Logger,
  url: string,
  servicePassword: string,
): Promise<SyncReport> {
  const sealer = bindPasswordSealer(config.secretKey);
  const settings = {
    url,
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
  const directory = await ctx.models.Directory.findOne({ where: { name: DEMO_DIRECTORY } });
  if (!directory) await registerDirectory(ctx, sealer, { name: DEMO_DIRECTORY, ...settings });
  else {
    const stale = await linksToOtherIds(ctx, directory.id);
    // Demos before the fixed ids drew new ones on every start; their links name entries gone for good,
    // and the sync would refuse the directory as rebuilt, leaving the library's people locked out.
    if (stale > 0)
      logger.info(
        { directory: DEMO_DIRECTORY, links: stale },
        'forgot the entry ids an older demo linked its directory people to; matching them by username',
      );
    await updateDirectory(ctx, sealer, DEMO_DIRECTORY, { ...settings, ...(stale > 0 ? { forgetEntryIds: true } : {}) });
  }
  return syncDirectory(ctx, { sealer, logger }, DEMO_DIRECTORY);
}

/** The demo directory's links that keep an entry id none of its entries has. */
function linksToOtherIds(ctx: GatewayContext, directoryId: string): Promise<number> {
  // Links keep the hex of the id's bytes (gateway/directories/entry-id.ts); a NULL id is never counted.
  const ours = DEMO_DIRECTORY_PEOPLE.map((p) => Buffer.from(p.entryUUID, 'utf8').toString('hex'));
  return ctx.models.DirectoryAccount.count({ where: { directoryId, entryId: { [Op.notIn]: ours } } });
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
