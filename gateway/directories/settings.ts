import { ValidationError } from '../../core/errors.ts';
import { isLoopbackHost } from '../../core/loopback.ts';
import { fieldErrorsOf } from '../../core/validate.ts';
import type { Directory } from '../models/directories.ts';
import { PRESET_DEFAULTS, type Preset, type PresetDefaults } from './presets.ts';
import { DEFAULT_MASS_CHANGE_LIMIT, directorySettingsSchema, type Changes, type DirectorySettings } from './schemas.ts';

/**
 * The stored settings of a registration (validated again: a hand-edited row must not reach the directory).
 * Registrations stored before the password change time was read take their preset's attribute: unlike
 * nested groups, which could give people new roles, it can only end sessions, and not at the first sync,
 * which only notes the times it reads (password-changes.ts).
 *
 * Likewise registrations stored before the account expiry was read take their preset's (AD's
 * accountExpires; none for OpenLDAP): it only ever disables people whose account the directory itself
 * ended, and whose password it refuses already, and gives them back as soon as their date is moved on.
 * Left unread, they would keep their sessions and chat after an upgrade meant to end them. The first sync
 * after the upgrade may disable many at once (expired accounts left in place for years): unless turned off,
 * the mass change limit (10% for registrations from before it too) stops such a sync until an administrator
 * has seen whom it disables.
 */
export function directorySettingsOf(directory: Directory): DirectorySettings {
  const stored = JSON.parse(directory.settings) as Record<string, unknown>;
  const preset = PRESET_DEFAULTS[stored.preset as Preset] as PresetDefaults | undefined;
  if (!('passwordChangedAttribute' in stored) && preset)
    stored.passwordChangedAttribute = preset.passwordChangedAttribute;
  if (!('expiryAttribute' in stored) && preset) stored.expiryAttribute = preset.expiryAttribute;
  return directorySettingsSchema.parse(stored);
}

/** The settings a preset gives a value for (PresetDefaults), each of which may also be set by hand. */
export const PRESET_FIELDS = Object.keys(PRESET_DEFAULTS.openldap) as (keyof PresetDefaults)[];

/** One preset field's value as compared: attribute names are case-insensitive (a filter is compared as written). */
const comparable = (key: keyof PresetDefaults, value: unknown) => {
  const json = JSON.stringify(value ?? null);
  return key === 'userFilter' ? json : json.toLowerCase();
};

/**
 * Whether the registration's value of a preset field is its preset's own (nobody set it), so that a change
 * of preset may give it the new preset's. A value set by hand differs from it, and stays.
 */
export const isPresetValue = (base: DirectorySettings, key: keyof PresetDefaults) =>
  comparable(key, base[key]) === comparable(key, PRESET_DEFAULTS[base.preset][key]);

/**
 * Settings from what the form or the command line gave, over what the registration had (`base`): the
 * preset fills what neither says. A change of preset gives its values to the fields that held the old
 * preset's, and keeps those an administrator set (a filter that leaves out locked accounts must not be
 * dropped by a change of preset); what it keeps is said (keptThroughPresetChange).
 */
export function composeSettings(
  input: Changes,
  url: string,
  base: DirectorySettings | null,
  baseUrl: string | null,
): DirectorySettings {
  const preset = input.preset ?? base?.preset ?? 'openldap';
  const defaults = PRESET_DEFAULTS[preset];
  const ldaps = url.startsWith('ldaps://');
  const schemeChanged = baseUrl !== null && baseUrl.startsWith('ldaps://') !== ldaps;
  const startTls = input.startTls ?? (base && !schemeChanged ? base.startTls : !ldaps);
  const pick = <K extends keyof PresetDefaults>(key: K, fallback: DirectorySettings[K]): DirectorySettings[K] => {
    if (input[key] !== undefined) return input[key] as DirectorySettings[K];
    if (!base) return fallback;
    return base.preset === preset || !isPresetValue(base, key) ? base[key] : fallback;
  };
  const candidate = {
    preset,
    startTls,
    userBase: input.userBase ?? base?.userBase,
    userFilter: pick('userFilter', defaults.userFilter),
    groupBase: input.groupBase !== undefined ? input.groupBase : (base?.groupBase ?? null),
    usernameAttribute: pick('usernameAttribute', defaults.usernameAttribute),
    nameAttributes: pick('nameAttributes', defaults.nameAttributes),
    emailAttributes: pick('emailAttributes', defaults.emailAttributes),
    disabledAttribute: pick('disabledAttribute', defaults.disabledAttribute),
    expiryAttribute: pick('expiryAttribute', defaults.expiryAttribute),
    idAttribute: pick('idAttribute', defaults.idAttribute),
    passwordChangedAttribute: pick('passwordChangedAttribute', defaults.passwordChangedAttribute),
    groupMembership: pick('groupMembership', defaults.groupMembership),
    unitFrom: input.unitFrom ?? base?.unitFrom ?? 'ou',
    unitAttribute: input.unitAttribute !== undefined ? input.unitAttribute : (base?.unitAttribute ?? null),
    unitRoot: input.unitRoot ?? base?.unitRoot,
    roleGroups: input.roleGroups ?? base?.roleGroups ?? [],
    nestedGroups: input.nestedGroups ?? base?.nestedGroups ?? true,
    defaultRole: input.defaultRole ?? base?.defaultRole ?? 'student',
    timeoutSeconds: input.timeoutSeconds ?? base?.timeoutSeconds ?? 5,
    massChangeLimit:
      input.massChangeLimit !== undefined
        ? input.massChangeLimit
        : base
          ? base.massChangeLimit
          : DEFAULT_MASS_CHANGE_LIMIT,
  };
  const parsed = directorySettingsSchema.safeParse(candidate);
  if (!parsed.success) throw new ValidationError('Some fields are invalid', fieldErrorsOf(parsed.error));
  const settings = parsed.data;
  const problems: Record<string, string> = {};
  if (ldaps && settings.startTls) problems.startTls = 'ldaps:// is TLS already; StartTLS is for ldap:// URLs';
  if (!ldaps && !settings.startTls && !isLoopbackHost(new URL(url).hostname)) {
    problems.startTls =
      'without StartTLS, passwords would cross the network in clear; plain ldap:// is only allowed to this machine (127.0.0.1, localhost)';
  }
  if (settings.unitFrom === 'attribute' && !settings.unitAttribute)
    problems.unitAttribute = 'required when the unit comes from an attribute (such as department)';
  if (Object.keys(problems).length > 0) throw new ValidationError('Some fields are invalid', problems);
  return settings;
}

/**
 * The preset fields a change of preset left as they were, because an administrator had set them and the
 * update did not give them again: each differs from what the new preset would have given.
 */
export function keptThroughPresetChange(
  base: DirectorySettings,
  next: DirectorySettings,
  input: Changes,
): (keyof PresetDefaults)[] {
  if (base.preset === next.preset) return [];
  return PRESET_FIELDS.filter(
    (key) =>
      input[key] === undefined &&
      !isPresetValue(base, key) &&
      comparable(key, next[key]) !== comparable(key, PRESET_DEFAULTS[next.preset][key]),
  );
}
