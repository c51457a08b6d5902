import { createHash } from 'node:crypto';
import type { Request } from 'express';

/**
 * What a factor's ceremony (a TOTP enrolment, a passkey challenge) is bound to: the sign-in interaction
 * or the portal session it was shown to, as the tables keep it. Kept as a digest, since a portal
 * session's binding would otherwise hold the session's id, which must not be readable from a table.
 */
export type Binding = string & { readonly kind: 'binding' };

const kept = (what: string) => createHash('sha256').update(what).digest('base64url') as Binding;

/** The portal (or account page) session of this request. */
export const portalBinding = (req: Request): Binding => kept(`portal:${req.sessionID}`);

/** The sign-in interaction. */
export const interactionBinding = (details: { uid: string }): Binding => kept(`interaction:${details.uid}`);
