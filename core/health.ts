import { Router } from 'express';
import type { Registry } from 'prom-client';

/** /healthz (the process answers), /readyz (its dependencies answer) and /metrics (Prometheus). */
export function healthRoutes(options: { ready: () => Promise<Record<string, boolean>>; registry: Registry }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = await options.ready();
    const ok = Object.values(checks).every(Boolean);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not_ready', checks });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(options.registry.contentType).send(await options.registry.metrics());
  });
  return router;
}
