/**
 * Only a page of the account or the portal on this gateway may be resumed after sign-in: a path of its
 * own, never another site (`//host`, or the absolute form of a request line), nor characters a browser
 * might read as one.
 */
export function portalReturnTo(value: unknown): string {
  if (typeof value === 'string' && /^\/(account|portal)\/[A-Za-z0-9/_.%?&=+-]*$/.test(value) && !value.includes('//'))
    return value;
  return '/';
}
