/**
 * The name of a cookie the gateway alone may set. Over https it is `__Host-` prefixed: a browser then takes
 * it only from this very host, Secure, for the whole path and without a Domain, never from a sibling (a
 * campus's `www.` or a student's pages under the same domain are the same *site*, so SameSite does not stop
 * them). Without the prefix a sibling could set its own cookie in a visitor's browser: a form token it got
 * here, or a session of its own, signed in as someone else (the visitor would then chat and sign in to
 * apps as that person). A plain-http demo cannot use the prefix.
 */
export const hostCookieName = (name: string, secure: boolean) => (secure ? `__Host-${name}` : name);

/**
 * Where a host-only cookie lives: `__Host-` requires the whole path. Over plain http a cookie may stay
 * under the part of the site that reads it.
 */
export const hostCookiePath = (path: string, secure: boolean) => (secure ? '/' : path);
