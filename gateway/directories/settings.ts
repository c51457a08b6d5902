import { ValidationError } from '../../core/errors.ts';
import { isLoopbackHost } from '../../core/loopback.ts';
import { fieldErrorsOf } from '../../core/validate.ts';
import type { Directory } from '../models/directories.ts';
import { PRESET_DEFAULTS, type Preset, type PresetDefaults } from './presets.ts';
import { directorySettingsSchema, type Changes, type DirectorySettings } from './schemas.ts';

/**
 * The stored settings of a registration (validated again: a hand-edited row must not reach the directory).
 * Registrations stored before the password change time was read take their preset's attribute: unlike
 * nested groups, which could give people new roles, it can only end sessions, and not at the first sync,
 * which only notes the times it reads (password-changes.ts).
 */
export function directorySettingsOf(directory: Directory): DirectorySettings {
  const stored = JSON.parse(directory.settings) as Record<string, unknown>;
  const preset = PRESET_DEFAULTS[stored.preset as Preset] as PresetDefaults | undefined;
  if (!('passwordChangedAttribute' in stored) && preset)
    stored.passwordChangedAttribute = preset.passwordChangedAttribute;
  return directorySettingsSchema.parse(stored);
}

/**
 * Settings from what the form or the command line gave, over what the registration had (`base`):
 * the preset fills what neither says, and a change of preset starts its mapping afresh.
 */
export function composeSettings(
  input: Changes,
  url: string,
  base: DirectorySettings | null,
  baseUrl: string | null,
): DirectorySettings {
  const preset = input.preset ?? base?.preset ?? 'openldap';
  const from = base && base.preset === preset ? base : null;
  const defaults = PRESET_DEFAULTS[preset];
  const ldaps = url.startsWith('ldaps://');
  const schemeChanged = baseUrl !== null && baseUrl.startsWith('ldaps://') !== ldaps;
  const startTls = input.startTls ?? (base && !schemeChanged ? base.startTls : !ldaps);
  const pick = <K extends keyof Changes & keyof DirectorySettings>(
    key: K,
    fallback: DirectorySettings[K],
  ): DirectorySettings[K] =>
    (input[key] !== undefined ? input[key] : from ? from[key] : fallback) as DirectorySettings[K];
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
