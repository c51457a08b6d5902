/** What the recovery codes page offers to save: a text file, made in the page itself (a data: URL). */
export type RecoveryCodesDownload = { href: string; filename: string };

/**
 * The person's new recovery codes as a text file to download. It is made from the codes on the page, never
 * served from a route: the gateway keeps only their hashes, and a file left in a cache would outlive the
 * page (which is no-store).
 */
export function recoveryCodesDownload(codes: string[], username: string, now = new Date()): RecoveryCodesDownload {
  const text = [
    `Atrium recovery codes for ${username}, made ${now.toISOString().slice(0, 10)}`,
    'Each works once, after your password, in place of a code from an authenticator app or a passkey.',
    'New codes made on Sign-in security replace these.',
    '',
    ...codes,
    '',
  ].join('\n');
  return {
    href: `data:text/plain;charset=utf-8,${encodeURIComponent(text)}`,
    filename: `atrium-recovery-codes-${username.replace(/[^a-z0-9._-]/gi, '_')}.txt`,
  };
}
