import type { RequestHandler } from 'express';

/**
 * Cross-origin access to `/api/v1` for the web portal, which runs on the gateway's origin and calls
 * nodes directly (uploads, downloads, one's own files, the directory). Only the configured origins are
 * let in; the token travels in the Authorization header, never in cookies, so credentials are not allowed.
 */
export function portalCors(allowedOrigins: string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    const origin = req.get('origin');
    res.vary('Origin');
    if (!origin || !allowed.has(origin)) {
      // A preflight from elsewhere gets no permission; the browser then refuses the real request.
      if (req.method === 'OPTIONS' && req.get('access-control-request-method')) return void res.status(204).end();
      return next();
    }
    res.set('Access-Control-Allow-Origin', origin);
    res.set('Access-Control-Expose-Headers', 'Content-Disposition, Content-Length, Content-Type');
    if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
      res.set({
        'Access-Control-Allow-Methods': 'GET, POST, DELETE',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type',
        'Access-Control-Max-Age': '600',
      });
      return void res.status(204).end();
    }
    next();
  };
}
