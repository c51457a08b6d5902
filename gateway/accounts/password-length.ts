/**
 * How long a password Atrium sets may be. The schema checks them (schemas.ts) and every page with a new
 * password's field says them through the view helpers `passwordMin` and `passwordMax` (views.ts), so the
 * hint and the field's own limits cannot say other numbers than the check.
 */
export const PASSWORD_MIN = 10;
/** The longest password Atrium sets. */
export const PASSWORD_MAX = 200;
