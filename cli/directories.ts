import { AppError, ValidationError } from '../core/errors.ts';
import { listDirectories, showDirectory } from '../gateway/directories/list-directories.ts';
import { MASS_CHANGE_FLOOR, stoppedByLimit, summarizeDryRun, wouldNames } from '../gateway/directories/mass-change.ts';
import type { PresentedDirectory } from '../gateway/directories/present-directory.ts';
import { PRESETS } from '../gateway/directories/presets.ts';
import { disabledThere } from '../gateway/directories/read-entry.ts';
import { registerDirectory } from '../gateway/directories/register-directory.ts';
import { relinkPerson } from '../gateway/directories/relink-person.ts';
import { describeRemoval, removeDirectory } from '../gateway/directories/remove-directory.ts';
import { notSyncedYet } from '../gateway/directories/schedule-words.ts';
import { bindPasswordSealer } from '../gateway/directories/secrets.ts';
import { syncDirectory } from '../gateway/directories/sync-directory.ts';
import { namedPeople, summarize, unservedNote, type SyncReport } from '../gateway/directories/sync-report.ts';
import { testDirectory, type DirectoryTest } from '../gateway/directories/test-directory.ts';
import { describeUpdate, updateDirectory } from '../gateway/directories/update-directory.ts';
import { ROLES } from '../gateway/models/index.ts';
import { RuntimeFailure, type Args, type CommandGroup, type Io, type OptionSpec } from './command.ts';
import { createProgressBar } from './progress.ts';
import { withSession } from './session.ts';
import { readPasswordFromStdin } from './stdin.ts';
import { table } from './table.ts';

/** The options `add` and `update` share; `update` changes only what is given ("" clears an optional one). */
const settings: Record<string, OptionSpec> = {
  url: { type: 'string', value: 'URL', help: 'ldap://host[:port] (with StartTLS) or ldaps://host[:port]' },
  starttls: {
    type: 'string',
    value: 'yes|no',
    help: 'StartTLS on an ldap:// URL (default yes; "no" only for a directory on this machine)',
  },
  'ca-file': {
    type: 'string',
    value: 'PATH',
    help: "PEM file of the CA that signed the directory's certificate (default: the system's CAs)",
  },
  'bind-dn': {
    type: 'string',
    value: 'DN',
    help: 'the service account the gateway searches with, such as cn=atrium,ou=Services,dc=campus,dc=example',
  },
  'bind-password-stdin': {
    type: 'boolean',
    help: "read the service account's password from the first line of stdin (it is sealed at rest, never shown)",
  },
  preset: {
    type: 'string',
    value: 'PRESET',
    help: `${PRESETS.join(' or ')}: the attribute mapping to start from (default openldap)`,
  },
  'user-base': {
    type: 'string',
    value: 'DN',
    help: 'where people are searched, such as ou=People,dc=campus,dc=example',
  },
  'user-filter': {
    type: 'string',
    value: 'FILTER',
    help: 'which entries are people (openldap: (objectClass=inetOrgPerson); active-directory: (&(objectCategory=person)(objectClass=user)))',
  },
  'group-base': {
    type: 'string',
    value: 'DN',
    help: 'where the groups are (shown by "test"; role groups are read by their DN)',
  },
  'username-attribute': {
    type: 'string',
    value: 'ATTR',
    help: 'the username (openldap: uid; active-directory: sAMAccountName)',
  },
  'name-attribute': {
    type: 'string',
    value: 'ATTR',
    multiple: true,
    help: 'the display name, first present wins (default displayName, cn)',
  },
  'email-attribute': {
    type: 'string',
    value: 'ATTR',
    multiple: true,
    help: 'the email, first present wins (openldap: mail; active-directory: mail, userPrincipalName)',
  },
  'disabled-attribute': {
    type: 'string',
    value: 'ATTR',
    help: 'what marks an account disabled: userAccountControl bit 2 (active-directory), pwdAccountLockedTime, a ppolicy lock (openldap), nsAccountLock TRUE (389-ds); none to not read it (people locked or disabled there then keep their access here until they leave the directory); "" the preset\'s (update: unchanged)',
  },
  'expiry-attribute': {
    type: 'string',
    value: 'ATTR',
    help: 'when an account ends; an account ended there is disabled here as a disabled one (active-directory: accountExpires; another attribute holds an LDAP time, such as ppolicy\'s pwdEndTime); none to not read it; "" the preset\'s (update: unchanged)',
  },
  'id-attribute': {
    type: 'string',
    value: 'ATTR',
    help: 'what names an entry for its whole life (openldap: entryUUID; active-directory: objectGUID); none if the directory has no such id; "" the preset\'s (update: unchanged)',
  },
  'password-changed-attribute': {
    type: 'string',
    value: 'ATTR',
    help: 'when an entry\'s password last changed; a later change signs the person out everywhere (openldap: pwdChangedTime, kept by the ppolicy overlay; active-directory: pwdLastSet); none to not read it; "" the preset\'s (update: unchanged)',
  },
  'group-membership': {
    type: 'string',
    value: 'member|memberOf',
    help: "where a person's groups are read: the groups' member lists (openldap) or the person's memberOf (active-directory)",
  },
  'nested-groups': {
    type: 'string',
    value: 'on|off',
    help: 'members of the groups nested in a role group get its role too, at any depth up to 16 (default on; directories registered before this option stay off until it is turned on)',
  },
  'unit-from': {
    type: 'string',
    value: 'ou|attribute',
    help: "a person's unit: the OUs above their entry (default), or an attribute",
  },
  'unit-attribute': {
    type: 'string',
    value: 'ATTR',
    help: 'with --unit-from attribute: the attribute, such as department',
  },
  'unit-root': {
    type: 'string',
    value: 'PATH',
    help: "the existing unit under which the directory's units go, such as campus",
  },
  'role-group': {
    type: 'string',
    value: 'ROLE=DN',
    multiple: true,
    help: `members of the group get the role (${ROLES.join(', ')}); unit-admin:PATH=DN for a unit admin`,
  },
  'default-role': {
    type: 'string',
    value: 'ROLE',
    help: 'the role of people in no student/staff/admin group: student (default) or staff',
  },
  timeout: { type: 'string', value: 'SECONDS', help: 'how long to wait for the directory, per operation (default 5)' },
  'mass-change-limit': {
    type: 'string',
    value: 'PERCENT|off',
    help: 'a sync that would disable, or move to other units, more than this share of the active people (and more than 5) changes nothing until confirmed with sync --allow-mass-change (default 10)',
  },
  'reset-url': {
    type: 'string',
    value: 'URL',
    help: "the directory's own password reset page; its people are sent there",
  },
};

const clearable = (args: Args, name: string) => {
  const value = args.string(name);
  return value === undefined ? undefined : value.trim() === '' ? null : value;
};
const listed = (args: Args, name: string) => {
  const values = args.list(name);
  if (values.length === 0) return undefined;
  return values.length === 1 && values[0]!.trim() === '' ? [] : values;
};

async function inputOf(args: Args, io: Io, adding: boolean): Promise<Record<string, unknown>> {
  const bindPassword = args.flag('bind-password-stdin') ? await readPasswordFromStdin(io) : undefined;
  if (adding && bindPassword === undefined)
    throw new ValidationError('Some fields are invalid', {
      bindPassword: 'required: give it with --bind-password-stdin',
    });
  return {
    url: args.string('url'),
    startTls: args.string('starttls'),
    caFile: clearable(args, 'ca-file'),
    bindDn: args.string('bind-dn'),
    bindPassword,
    preset: args.string('preset'),
    userBase: args.string('user-base'),
    userFilter: args.string('user-filter'),
    groupBase: clearable(args, 'group-base'),
    usernameAttribute: args.string('username-attribute'),
    nameAttributes: listed(args, 'name-attribute'),
    emailAttributes: listed(args, 'email-attribute'),
    disabledAttribute: args.string('disabled-attribute'),
    expiryAttribute: args.string('expiry-attribute'),
    idAttribute: args.string('id-attribute'),
    passwordChangedAttribute: args.string('password-changed-attribute'),
    groupMembership: args.string('group-membership'),
    nestedGroups: args.string('nested-groups'),
    unitFrom: args.string('unit-from'),
    unitAttribute: clearable(args, 'unit-attribute'),
    unitRoot: args.string('unit-root'),
    roleGroups: listed(args, 'role-group'),
    defaultRole: args.string('default-role'),
    timeoutSeconds: args.string('timeout'),
    massChangeLimit: args.string('mass-change-limit'),
    resetUrl: args.string('reset-url'),
  };
}

/** A registration in words; `syncIntervalSeconds` (DIRECTORY_SYNC_INTERVAL) for what it says of one not synced yet. */
export function describeDirectory(d: PresentedDirectory, syncIntervalSeconds?: number): string {
  const steps = `Test it (atrium directories test ${d.name}), then sync it (atrium directories sync ${d.name})`;
  return [
    `${d.name}  ${d.url} (${d.tls === 'none' ? 'plain LDAP, this machine only' : d.tls === 'starttls' ? 'StartTLS' : 'LDAPS'})${d.syncRunning ? '  [sync running]' : ''}`,
    `  preset:        ${d.preset}`,
    `  service bind:  ${d.bindDn} (password ${d.bindPassword})`,
    `  CA file:       ${d.caFile ?? '(system CAs)'}`,
    `  people:        ${d.userBase} ${d.userFilter}`,
    `  groups:        ${d.groupBase ?? '-'} (membership from ${d.groupMembership}; nested groups ${d.nestedGroups ? 'followed' : 'not followed'})`,
    `  attributes:    username ${d.attributes.username}; name ${d.attributes.name.join(', ')}; email ${d.attributes.email.join(', ')}; disabled flag ${d.attributes.disabled ?? 'not read'}; account expiry ${d.attributes.expiry ?? 'not read'}; entry id ${d.attributes.id ?? 'none (matched by username)'}; password changed ${d.attributes.passwordChanged ?? 'not read'}`,
    `  units:         below ${d.unitRoot}, from ${d.unitFrom === 'ou' ? 'the OU path' : `attribute ${d.unitAttribute}`}`,
    `  role groups:   ${d.roleGroups.length > 0 ? d.roleGroups.join('\n                 ') : '(none)'}`,
    `  default role:  ${d.defaultRole}`,
    `  timeout:       ${d.timeoutSeconds} s`,
    `  mass changes:  ${d.massChangeLimit === null ? 'no limit' : `a sync stops, changing nothing, before it disables or moves more than ${d.massChangeLimit}% of the active people (and more than ${MASS_CHANGE_FLOOR})`}`,
    `  reset page:    ${d.resetUrl}`,
    `  people synced: ${d.people}`,
    `  last sync:     ${d.lastReport ? summarize(d.lastReport) : notSyncedYet(syncIntervalSeconds, steps)}`,
  ].join('\n');
}

function describeReport(report: SyncReport): string {
  return [report.dryRun ? summarizeDryRun(report) : summarize(report), ...reportDetails(report)].join('\n');
}

/** What a report names beyond its one-sentence summary: who was refused, disabled, renamed, signed out; groups. */
function reportDetails(report: SyncReport): string[] {
  const lines: string[] = [];
  if (report.names.refused.length > 0) {
    lines.push('Refused:');
    for (const r of report.names.refused) lines.push(`  ${r.username ?? r.dn}: ${r.reason}`);
    if (report.refused > report.names.refused.length)
      lines.push(`  … and ${report.refused - report.names.refused.length} more (see the audit log)`);
  }
  const named = report.dryRun ? wouldNames(report) : [...namedPeople(report), ...wouldNames(report)];
  for (const { label, names } of named) lines.push(`${label}: ${names}`);
  for (const note of report.groupNotes ?? []) lines.push(`Gave no role: ${note}`);
  const unserved = unservedNote(report);
  if (unserved) lines.push(unserved);
  return lines;
}

function describeTest(t: DirectoryTest): string {
  const lines = [
    t.ok
      ? `Directory ${t.directory} answers: ${t.people} people under the user base (${t.durationMs} ms).`
      : `Directory ${t.directory}: ${t.problem}`,
  ];
  if (t.connected && t.sample.length > 0) {
    lines.push('First people as Atrium would see them (roles from groups are applied at sync):');
    lines.push(
      table(
        ['USERNAME', 'NAME', 'EMAIL', 'UNIT', 'NOTE'],
        t.sample.map((p) =>
          'reason' in p
            ? [p.username ?? '-', '', '', '', `refused: ${p.reason} (${p.dn})`]
            : [p.username, p.displayName, p.email, p.unit, p.disabled ? disabledThere(p) : ''],
        ),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  for (const g of t.groups) lines.push(`  role group ${g.group}: ${g.found ? 'found' : 'NOT FOUND'}`);
  if (t.nestedGroups !== null)
    lines.push(`  nested groups: ${t.nestedGroups} found in the role groups (their members get the roles too)`);
  for (const note of t.groupNotes) lines.push(`  not followed: ${note}`);
  return lines.join('\n');
}

export const directoryCommands: CommandGroup = {
  add: {
    summary:
      "Registers a campus directory (OpenLDAP or Active Directory) whose people sign in with the directory's password.",
    args: ['NAME'],
    options: {
      ...settings,
      url: { ...settings.url!, required: true },
      'bind-dn': { ...settings['bind-dn']!, required: true },
      'bind-password-stdin': { ...settings['bind-password-stdin']!, required: true },
      'user-base': { ...settings['user-base']!, required: true },
      'unit-root': { ...settings['unit-root']!, required: true },
      'reset-url': { ...settings['reset-url']!, required: true },
    },
    notes: [
      'Example (OpenLDAP):',
      '  atrium directories add campus-ldap --url ldap://ldap.campus.example --bind-dn cn=atrium,ou=Services,dc=campus,dc=example \\',
      '    --bind-password-stdin --user-base ou=People,dc=campus,dc=example --unit-root campus \\',
      '    --role-group staff=cn=staff,ou=Groups,dc=campus,dc=example --reset-url https://password.campus.example',
      'Then: atrium directories test campus-ldap, and atrium directories sync campus-ldap.',
    ].join('\n'),
    async run(args, io) {
      const input = { name: args.positionals[0], ...(await inputOf(args, io, true)) };
      const { directory, interval } = await withSession(io, async ({ ctx, config }) => ({
        directory: await registerDirectory(ctx, bindPasswordSealer(config.secretKey), input),
        interval: config.directorySyncSeconds,
      }));
      return {
        json: directory,
        text: `Registered directory ${describeDirectory(directory, interval)}\nNext: atrium directories test ${directory.name}`,
      };
    },
  },

  list: {
    summary: 'Lists the registered directories, with their people and last sync.',
    async run(_args, io) {
      const directories = await withSession(io, ({ ctx }) => listDirectories(ctx));
      const text =
        directories.length === 0
          ? 'No directories yet. Register one with: atrium directories add NAME --url URL --bind-dn DN --bind-password-stdin --user-base DN --unit-root PATH --reset-url URL'
          : table(
              ['NAME', 'URL', 'PRESET', 'PEOPLE', 'LAST SYNC'],
              directories.map((d) => [
                d.name,
                d.url,
                d.preset,
                String(d.people),
                d.lastReport ? `${d.lastReport.outcome} ${d.lastSyncAt}` : 'not synced yet',
              ]),
            );
      return { json: { directories }, text };
    },
  },

  show: {
    summary: 'Shows one directory: its settings (never the password), its people and its last sync report.',
    args: ['NAME'],
    async run(args, io) {
      const { directory, interval } = await withSession(io, async ({ ctx, config }) => ({
        directory: await showDirectory(ctx, args.positionals[0]!),
        interval: config.directorySyncSeconds,
      }));
      // The "last sync:" line already gives the report's summary; below it only what the summary does not say.
      const details = directory.lastReport ? reportDetails(directory.lastReport) : [];
      return {
        json: directory,
        text: [describeDirectory(directory, interval), ...(details.length > 0 ? ['', ...details] : [])].join('\n'),
      };
    },
  },

  update: {
    summary:
      'Changes a directory\'s settings; only what is given changes ("" clears an optional one; --role-group "" removes every role group).',
    args: ['NAME'],
    options: {
      ...settings,
      'no-test': {
        type: 'boolean',
        help: 'save without first trying a new URL, StartTLS, CA file, service account or user base on the directory (for a directory down for maintenance: wrong settings break every sign-in through it)',
      },
      'forget-entry-ids': {
        type: 'boolean',
        help: 'forget the entry ids its people are linked by, for a directory rebuilt with new ids: the next sync matches them by username (changing --id-attribute does this too; another --url does not)',
      },
    },
    async run(args, io) {
      const input = { ...(await inputOf(args, io, false)), forgetEntryIds: args.flag('forget-entry-ids') || undefined };
      const directory = await withSession(io, ({ ctx, config }) =>
        updateDirectory(ctx, bindPasswordSealer(config.secretKey), args.positionals[0]!, input, {
          untested: args.flag('no-test'),
        }),
      );
      const said = describeUpdate(directory);
      const text = directory.changed.length > 0 ? [...said, describeDirectory(directory)].join('\n') : said.join('\n');
      return { json: directory, text };
    },
  },

  remove: {
    summary:
      'Removes a directory. One that still has people needs --disable-people: they are disabled and signed out everywhere, except the last active administrator.',
    args: ['NAME'],
    options: {
      'disable-people': {
        type: 'boolean',
        help: "disable the directory's people (they keep their accounts, without a password)",
      },
    },
    async run(args, io) {
      const removed = await withSession(io, ({ ctx }) =>
        removeDirectory(ctx, args.positionals[0]!, { disablePeople: args.flag('disable-people') }),
      );
      const remedy = (username: string) => `set one with atrium users reset-password ${username} --password-stdin`;
      return { json: removed, text: describeRemoval(removed, remedy) };
    },
  },

  relink: {
    summary:
      "Makes the entry that now carries a person's username theirs (they left and came back under a new entry); the next sync brings them back.",
    args: ['NAME', 'USERNAME'],
    notes:
      'A sync never does this by itself: it refuses an entry that carries the username of someone whose account belongs to another entry, since a username given to someone else looks the same.',
    async run(args, io) {
      const relinked = await withSession(io, ({ ctx, config }) =>
        relinkPerson(ctx, bindPasswordSealer(config.secretKey), args.positionals[0]!, args.positionals[1]!),
      );
      return {
        json: relinked,
        text: `${relinked.username} is now the person of ${relinked.dn} (was ${relinked.previousDn}); the next sync brings them back as it says.`,
      };
    },
  },

  test: {
    summary:
      'Connects and binds as the service account, counts the people, shows how the first ones would look, and checks the role groups. Changes nothing.',
    args: ['NAME'],
    async run(args, io) {
      const result = await withSession(io, ({ ctx, config }) =>
        testDirectory(ctx, bindPasswordSealer(config.secretKey), args.positionals[0]!),
      );
      if (!result.ok) throw new RuntimeFailure('directory_test_failed', describeTest(result));
      return { json: result, text: describeTest(result) };
    },
  },

  sync: {
    summary:
      'Syncs people, units and roles from a directory now, with a progress bar; people gone or disabled there are disabled here.',
    args: ['NAME'],
    options: {
      'dry-run': {
        type: 'boolean',
        help: 'only say what a sync now would do (whom it would add, update, move, disable); change nothing',
      },
      'allow-mass-change': {
        type: 'boolean',
        help: "let this one sync disable or move more people than the directory's mass change limit allows",
      },
    },
    notes: [
      'A scheduled sync runs in the gateway every DIRECTORY_SYNC_INTERVAL (default 1h) after the first sync, which',
      'only an administrator starts (this command, or Sync now in the console; a dry run does not count).',
      'Exit status 1 when the sync',
      "failed (nobody is disabled then); 2 when it would disable or move more people than the directory's mass",
      'change limit allows: nothing was changed; see what it would do with --dry-run, then confirm with --allow-mass-change.',
    ].join('\n'),
    async run(args, io) {
      const bar = createProgressBar(io.stderr);
      const phases = { checking: 'checking ', reading: 'reading  ', disabling: 'disabling' } as const;
      let report: SyncReport;
      try {
        report = await withSession(io, ({ ctx, config }) =>
          syncDirectory(
            ctx,
            {
              sealer: bindPasswordSealer(config.secretKey),
              countFirst: bar !== null,
              onProgress: (p) => bar?.update(phases[p.phase], p.entries, p.total ?? p.entries),
              dryRun: args.flag('dry-run'),
              allowMassChange: args.flag('allow-mass-change'),
            },
            args.positionals[0]!,
          ),
        );
      } finally {
        bar?.end();
      }
      // Stopped by the limit: a conflict the operator resolves (exit 2), told apart from a failure (exit 1).
      if (stoppedByLimit(report)) throw new AppError('directory_mass_change', 409, describeReport(report));
      if (report.outcome === 'failure') throw new RuntimeFailure('sync_failed', describeReport(report));
      return { json: report, text: describeReport(report) };
    },
  },
};
