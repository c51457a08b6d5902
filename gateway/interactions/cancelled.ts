/**
 * What the gateway's own pages send back, with access_denied, when someone presses Cancel on the sign-in
 * or the code page. The wording is for other apps' logs; the portal and the console recognise it and
 * tell the person in their own words, with a way to sign in again.
 */
export const SIGN_IN_CANCELLED = 'The user declined the request';

/** Whether a failed sign-in's description (openid-client's passport `info.message`) is a Cancel. */
export const wasCancelled = (description: string | undefined): boolean => description === SIGN_IN_CANCELLED;
