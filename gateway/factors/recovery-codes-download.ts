import { utcText } from '../../core/utc-text.ts';

/**
 * What the recovery codes page offers to save: a text file, made in the page itself (a data: URL), and
 * when the codes were made (`made`, ISO), for the page's script to write it in the reader's own zone.
 */
export type RecoveryCodesDownload = { href: string; filename: string; made: string };

/**
 * The person's new recovery codes as a text file to download. It is made from the codes on the page, never
 * served from a route: the gateway keeps only their hashes, and a file left in a cache would outlive the
 * page (which is no-store).
 */
export function recoveryCodesDownload(codes: string[], username: string, now = new Date()): RecoveryCodesDownload {
  const text = [
    // In UTC, said so; where the page's script runs, it writes the browser's time and zone instead.
    `Atrium recovery codes for ${username}, made ${utcText(now)}`,
    'Each works once, after your password, in place of a code from an authenticator app or a passkey.',
    'New codes made on Sign-in security replace these.',
    '',
    ...codes,
    '',
  ].join('\n');
  return {
    href: `data:text/plain;charset=utf-8,${encodeURIComponent(text)}`,
    filename: `atrium-recovery-codes-${username.replace(/[^a-z0-9._-]/gi, '_')}.txt`,
    made: now.toISOString(),
  };
}
