import { Router } from 'express';
import type { Registry } from 'prom-client';
import { serveMetrics } from './metrics-endpoint.ts';

/**
 * /healthz (the process answers) and /readyz (its dependencies answer), open to all; /metrics
 * (Prometheus) to the holder of `metricsToken`, or to this machine only where there is none. A failing
 * check that `reasons` explains is said in words, as /readyz's `reason` (a function: asked after `ready`,
 * for a reason that depends on what the check found).
 */
export function healthRoutes(options: {
  ready: () => Promise<Record<string, boolean>>;
  reasons?: Record<string, string | (() => string)>;
  registry: Registry;
  metricsToken: string | undefined;
}): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = await options.ready();
    const ok = Object.values(checks).every(Boolean);
    const said = Object.entries(checks).flatMap(([check, passed]) => {
      const given = passed ? undefined : options.reasons?.[check];
      const why = typeof given === 'function' ? given() : given;
      return why ? [why] : [];
    });
    const reason = said.join('; ');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not_ready', checks, ...(reason ? { reason } : {}) });
  });
  router.get('/metrics', (req, res) => serveMetrics(req, res, options.registry, options.metricsToken));
  return router;
}
