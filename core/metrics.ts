import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { NextFunction, Request, Response } from 'express';

export type Metrics = { registry: Registry; httpMiddleware: (req: Request, res: Response, next: NextFunction) => void };

/** One registry per unit process, with the default process metrics and an HTTP duration histogram. */
export function createMetrics(unit: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ unit });
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'atrium_http_request_duration_seconds',
    help: 'HTTP request duration by route group and status class',
    labelNames: ['group', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'atrium_http_requests_total',
    help: 'HTTP requests by route group and status class',
    labelNames: ['group', 'status'],
    registers: [registry],
  });
  return {
    registry,
    httpMiddleware(req, res, next) {
      const end = duration.startTimer();
      res.on('finish', () => {
        // The first path segment only, so label cardinality stays bounded whatever URLs clients send.
        const group = /^\/([a-z0-9_.-]{1,40})/i.exec(req.path)?.[1]?.toLowerCase() ?? 'root';
        const labels = { group, status: `${Math.floor(res.statusCode / 100)}xx` };
        end(labels);
        requests.inc(labels);
      });
      next();
    },
  };
}
