import { Router } from 'express';
import type { Registry } from 'prom-client';
import { serveMetrics } from './metrics-endpoint.ts';

/**
 * /healthz (the process answers) and /readyz (its dependencies answer), open to all; /metrics
 * (Prometheus) to the holder of `metricsToken`, or to this machine only where there is none.
 */
export function healthRoutes(options: {
  ready: () => Promise<Record<string, boolean>>;
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
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not_ready', checks });
  });
  router.get('/metrics', (req, res) => serveMetrics(req, res, options.registry, options.metricsToken));
  return router;
}
