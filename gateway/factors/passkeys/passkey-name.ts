import { CONTROL_CHARACTER } from '../../../core/control-characters.ts';

/** The longest name a passkey may have, as the page's field (`maxlength`) and the database allow. */
export const PASSKEY_NAME_MAX = 64;

/**
 * What is wrong with a passkey's name, trimmed as the server keeps it; null when nothing is. The one rule,
 * used by the server (registration.ts) and by the page's script before it asks for a ceremony, so that a
 * name refused is said while the person can still change it, before any authenticator made a key for it.
 * Control and bidi characters (core/control-characters.ts) would show it turned around.
 */
export function passkeyNameProblem(trimmed: string): string | null {
  if (trimmed.length === 0) return 'Give the passkey a name.';
  if (trimmed.length > PASSKEY_NAME_MAX) return `A name has at most ${PASSKEY_NAME_MAX} characters.`;
  if (CONTROL_CHARACTER.test(trimmed))
    return 'A name cannot contain control characters, such as those that turn text around. Type it as plain text.';
  return null;
}
