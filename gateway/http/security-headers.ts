import type { RequestHandler } from 'express';
import { CSP, OWN_FORM_TARGETS } from './form-targets.ts';

/**
 * Headers for every gateway response; HSTS only when the gateway is served over https. Forms post to the
 * gateway alone, so markup slipped into a page cannot send what is typed anywhere else; the pages whose
 * posts end at an app say so themselves (form-targets.ts).
 */
export function securityHeaders(https: boolean): RequestHandler {
  return (_req, res, next) => {
    res.set({
      [CSP]: `default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; ${OWN_FORM_TARGETS}`,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'strict-origin-when-cross-origin',
      'Cross-Origin-Opener-Policy': 'same-origin',
    });
    if (https) res.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    next();
  };
}
