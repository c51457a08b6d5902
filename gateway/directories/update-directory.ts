import { Op } from 'sequelize';
import { ConflictError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import { parseInput } from '../../core/validate.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import { inTransaction } from '../transaction.ts';
import { checkAgainstSystem } from './check-registration.ts';
import { findDirectory } from './find-directory.ts';
import { presentDirectory, type PresentedDirectory } from './present-directory.ts';
import { changesSchema, roleGroupLine, type Changes, type DirectorySettings, type RoleGroup } from './schemas.ts';
import { composeSettings, directorySettingsOf, keptThroughPresetChange } from './settings.ts';
import { counted } from './sync-report.ts';
import { takeLease, type Lease } from './sync-lease.ts';
import { sealedIs, testBeforeSaving } from './test-before-saving.ts';

/** One field an update changed, in words: `user filter`, from `(objectClass=user)` to `(objectClass=person)`. */
export type SettingChange = { field: keyof Changes; label: string; before: string; after: string };

export type UpdatedDirectory = PresentedDirectory & {
  changed: (keyof Changes)[];
  /** The changed fields with their values before and after (the bind password never shown). */
  changes: SettingChange[];
  /** Fields a change of preset left as an administrator had set them (settings.ts keptThroughPresetChange). */
  kept: { field: keyof Changes; label: string; value: string }[];
  /** How many links' entry ids the update forgot (a new id attribute, or asked); absent when none were. */
  entryIdsCleared?: number;
};

/** What an update that changed nothing says, in the console and the CLI alike. */
export const nothingChanged = (name: string) => `Directory ${name} already had these settings; nothing changed.`;

/** What a registration holds that an update may change: its own columns and its settings, as stored. */
type Stored = DirectorySettings & Pick<Directory, 'url' | 'caFile' | 'bindDn' | 'resetUrl'>;

/** Every field an update takes, in the order the form and the CLI give them. */
const FIELDS = Object.keys(changesSchema.shape) as (keyof Changes)[];

/**
 * Changes what is given; an empty bind password keeps the sealed one. Full administrators only.
 *
 * The entry ids the links keep are cleared only when the id attribute really changes (its name is
 * case-insensitive) or when asked (`forgetEntryIds`, for a directory rebuilt with new ids): the next sync
 * then matches people by username, which a username given to someone else can fool. Another URL is the
 * same directory by another name (a host alias, ldaps, a replica), so it keeps them. Clearing holds the
 * directory's sync lease: a sync running meanwhile would write ids of the old attribute into the cleared
 * links, and the next one would disable those people.
 *
 * Likewise the password change times the links keep are cleared when the attribute they come from changes:
 * the next sync only notes the new attribute's values, where comparing them with the old one's would sign
 * out everyone. Under the lease too, so that no running sync writes an old attribute's value after it.
 *
 * `changed` names the fields whose values differ (the console's form gives every field, changed or not);
 * when none does, nothing is written, not even to the audit log.
 */
export async function updateDirectory(
  ctx: GatewayContext,
  sealer: Sealer,
  name: string,
  input: unknown,
  options: { untested?: boolean } = {},
): Promise<UpdatedDirectory> {
  assertFullAdmin(ctx.actor);
  const changes = parseInput(changesSchema, input);
  const current = await findDirectory(ctx, name);
  const next = composed(changes, current);
  if (!options.untested) await testBeforeSaving(sealer, current, changes, next);
  const clearing = clearsEntryIds(changes, current, next) || forgetsPasswordChanges(current, next);
  const lease = clearing ? await takeLease(ctx, current) : null;
  try {
    const updated = await inTransaction(ctx, (ctx) => apply(ctx, sealer, name, changes, lease));
    // The row was read under the update's own hold of the lease, which is no sync: none ran meanwhile.
    return lease ? { ...updated, syncRunning: false } : updated;
  } finally {
    await lease?.release();
  }
}

async function apply(
  ctx: GatewayContext,
  sealer: Sealer,
  name: string,
  changes: Changes,
  lease: Lease | null,
): Promise<UpdatedDirectory> {
  const directory = await findDirectory(ctx, name);
  const settings = composed(changes, directory);
  const url = changes.url ?? directory.url;
  const caFile = changes.caFile !== undefined ? changes.caFile : directory.caFile;
  await checkAgainstSystem(ctx, settings, caFile);
  const clears = clearsEntryIds(changes, directory, settings);
  const forgets = forgetsPasswordChanges(directory, settings);
  // Someone changed an attribute between the first look and this one, without the lease taken for it.
  if ((clears || forgets) && !lease)
    throw new ConflictError(`directory ${directory.name} changed meanwhile; try again`);
  const after: Stored = {
    ...settings,
    url,
    caFile,
    bindDn: changes.bindDn ?? directory.bindDn,
    resetUrl: changes.resetUrl ?? directory.resetUrl,
  };
  const newPassword = changes.bindPassword ? !sealedIs(sealer, directory, changes.bindPassword) : false;
  const before = storedOf(directory);
  const changed = changedFields(before, after, changes, newPassword);
  const people = () => ctx.models.DirectoryAccount.count({ where: { directoryId: directory.id }, transaction: ctx.tx });
  if (changed.length === 0) return { ...presentDirectory(directory, await people()), changed, changes: [], kept: [] };
  const kept = keptThroughPresetChange(before, settings, changes).map((field) => ({
    field,
    label: SETTING_LABELS[field],
    value: inWords(after[field]),
  }));
  directory.url = url;
  directory.caFile = caFile;
  directory.bindDn = after.bindDn;
  directory.resetUrl = after.resetUrl;
  if (newPassword) directory.bindPasswordSealed = sealer.seal(changes.bindPassword!);
  const [entryIdsCleared] = clears
    ? await ctx.models.DirectoryAccount.update(
        { entryId: null },
        { where: { directoryId: directory.id, entryId: { [Op.ne]: null } }, transaction: ctx.tx },
      )
    : [0];
  const [passwordChangesCleared] = forgets
    ? await ctx.models.DirectoryAccount.update(
        { passwordChanged: null },
        { where: { directoryId: directory.id, passwordChanged: { [Op.ne]: null } }, transaction: ctx.tx },
      )
    : [0];
  directory.settings = JSON.stringify(settings);
  await directory.save({ transaction: ctx.tx });
  await audit(ctx, {
    action: 'directory.update',
    target: directory.name,
    details: {
      changed,
      url,
      bindDn: directory.bindDn,
      settings,
      ...(clears ? { entryIdsCleared } : {}),
      ...(forgets ? { passwordChangesCleared } : {}),
      ...(kept.length > 0 ? { keptThroughPresetChange: kept.map((k) => k.field) } : {}),
    },
  });
  return {
    ...presentDirectory(directory, await people()),
    changed,
    changes: changed.map((field) => changeOf(field, before, after)),
    kept,
    ...(clears ? { entryIdsCleared } : {}),
  };
}

/** What an update says of a field in the CLI and the console (the console's form labels, in lowercase). */
export const SETTING_LABELS: Record<keyof Changes, string> = {
  url: 'URL',
  startTls: 'StartTLS',
  caFile: 'CA file',
  bindDn: 'service account',
  bindPassword: 'service account password',
  preset: 'preset',
  userBase: 'user base',
  userFilter: 'user filter',
  groupBase: 'group base',
  usernameAttribute: 'username attribute',
  nameAttributes: 'name attributes',
  emailAttributes: 'email attributes',
  disabledAttribute: 'disabled flag attribute',
  expiryAttribute: 'account expiry attribute',
  idAttribute: 'entry id attribute',
  passwordChangedAttribute: 'password changed attribute',
  groupMembership: 'group membership',
  nestedGroups: 'follow nested groups',
  unitFrom: 'unit from',
  unitAttribute: 'unit attribute',
  unitRoot: 'unit root',
  roleGroups: 'role groups',
  defaultRole: 'role of people in no group',
  timeoutSeconds: 'timeout',
  massChangeLimit: 'mass change limit',
  resetUrl: 'password reset page',
  forgetEntryIds: 'entry ids',
};

/** A stored value in words: a list by commas, nothing as `none`, a flag as on or off. */
function inWords(value: unknown): string {
  if (value === null || value === undefined || value === '') return 'none';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map(inWords).join(', ');
  if (typeof value === 'object') return roleGroupLine(value as RoleGroup);
  return String(value);
}

function changeOf(field: keyof Changes, before: Stored, after: Stored): SettingChange {
  const label = SETTING_LABELS[field];
  if (field === 'bindPassword') return { field, label, before: 'set', after: 'replaced' };
  if (field === 'forgetEntryIds') return { field, label, before: 'kept', after: 'forgotten' };
  if (field === 'massChangeLimit') {
    const limit = (value: number | null) => (value === null ? 'off' : `${value}%`);
    return { field, label, before: limit(before.massChangeLimit), after: limit(after.massChangeLimit) };
  }
  return { field, label, before: inWords(before[field]), after: inWords(after[field]) };
}

/** What turning off an attribute that ends people's access means, said whenever an update does it. */
const TURNED_OFF: Partial<Record<keyof Changes, string>> = {
  disabledAttribute:
    'The disabled flag is no longer read: people locked or disabled in the directory keep their access here until they leave the directory.',
  expiryAttribute:
    'The account expiry is no longer read: people whose account ended in the directory keep their access here until they leave the directory.',
  passwordChangedAttribute:
    'The password change time is no longer read: a password changed in the directory no longer signs its person out here.',
};

/**
 * What an update did, in a few sentences for the CLI and the console: each field changed from what to
 * what, the entry ids it forgot, and what a change of preset kept as an administrator had set it.
 */
export function describeUpdate(updated: UpdatedDirectory): string[] {
  if (updated.changed.length === 0) return [nothingChanged(updated.name)];
  const changes = updated.changes.map((c) =>
    c.field === 'bindPassword' || c.field === 'forgetEntryIds'
      ? `${c.label} ${c.after}`
      : `${c.label} ${c.before} → ${c.after}`,
  );
  const lines = [`Saved directory ${updated.name}. Changed: ${changes.join('; ')}.`];
  for (const c of updated.changes) {
    const meaning = TURNED_OFF[c.field];
    if (meaning && c.after === 'none' && c.before !== 'none') lines.push(meaning);
  }
  if (updated.entryIdsCleared !== undefined)
    lines.push(
      `Forgot the entry ids of ${counted(updated.entryIdsCleared, 'person', 'people')}: the next sync matches ` +
        'each by the DN it last read for them, else by username.',
    );
  if (updated.kept.length > 0)
    lines.push(
      `Kept as set, not the ${updated.preset} preset's: ${updated.kept.map((k) => `${k.label} ${k.value}`).join('; ')}` +
        ' (give them again to change them).',
    );
  return lines;
}

/**
 * The fields whose values the update changes, compared as stored (a URL as normalized, settings as the
 * preset fills them in). The bind password counts when it differs from the sealed one; only its name is
 * ever recorded. Forgetting the entry ids counts when asked for: it changes the links, not a field.
 */
function changedFields(before: Stored, after: Stored, changes: Changes, newPassword: boolean) {
  return FIELDS.filter((field) => {
    if (field === 'bindPassword') return newPassword;
    if (field === 'forgetEntryIds') return changes.forgetEntryIds === true;
    return JSON.stringify(before[field] ?? null) !== JSON.stringify(after[field] ?? null);
  });
}

const storedOf = (directory: Directory): Stored => ({
  ...directorySettingsOf(directory),
  url: directory.url,
  caFile: directory.caFile,
  bindDn: directory.bindDn,
  resetUrl: directory.resetUrl,
});

const composed = (changes: Changes, directory: Directory) =>
  composeSettings(changes, changes.url ?? directory.url, directorySettingsOf(directory), directory.url);

function forgetsPasswordChanges(directory: Directory, settings: DirectorySettings): boolean {
  const before = directorySettingsOf(directory).passwordChangedAttribute;
  return before?.toLowerCase() !== settings.passwordChangedAttribute?.toLowerCase();
}

function clearsEntryIds(changes: Changes, directory: Directory, settings: DirectorySettings): boolean {
  const before = directorySettingsOf(directory).idAttribute;
  return changes.forgetEntryIds === true || before?.toLowerCase() !== settings.idAttribute?.toLowerCase();
}
