/**
 * The scope a gateway access token needs for the admin API (gateway/apps-registry/routes.ts). A client asks for it
 * and the person allows it on the consent page, which is shown for it even to first-party apps: an app an
 * administrator merely signs in to does not get to wield their administrator rights.
 */
export const ADMIN_SCOPE = 'atrium:admin';
