/**
 * Some messages reach the console only as text (a directory's test result, a sync report stored for
 * later) and name what to change by the CLI's option, since the use-case cannot know who reads it. The
 * console says instead what to change on its own form. Each entry: the words as the messages write
 * them, and the console's.
 */
const CONSOLE_WORDS: readonly (readonly [cli: string, console: string])[] = [
  // connection.ts: a directory that offers no StartTLS.
  ['turn StartTLS off (--starttls no)', 'set StartTLS to "no"'],
  // connection.ts: a certificate signed by a CA the gateway does not know; the form's field is "CA file".
  ['as the CA file (--ca-file)', 'as the CA file'],
  // sync-report.ts: the last administrator kept against the directory; the console makes one under Users.
  ['atrium users add USERNAME --role admin', 'Users → New user, with the admin role'],
];

/** A message as the console says it: the CLI's options replaced by what to change on the form. */
export function inConsoleWords(message: string): string {
  return CONSOLE_WORDS.reduce((said, [cli, console]) => said.replaceAll(cli, console), message);
}
