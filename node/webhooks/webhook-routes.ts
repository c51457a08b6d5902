import express, { Router } from 'express';
import { DomainRemovedError, type DomainStanding } from '../auth/domain-standing.ts';
import type { NodeServices } from '../context.ts';
import { postViaWebhook } from './post-webhook.ts';

/**
 * `POST /hooks/<id>/<secret>` with JSON `{"text": "…"}`: the URL is the credential, so no token. Small
 * bodies only; the answer names the message like an ack. While the domain is removed at the gateway every
 * post is refused (403 `forbidden`), before its body is read: the node serves no one's sockets then, so
 * nothing posted could reach anyone.
 */
export function incomingWebhookRoutes(services: NodeServices, standing: Pick<DomainStanding, 'removed'>): Router {
  const router = Router();
  const json = express.json({ limit: '16kb', type: () => true });
  const served: express.RequestHandler = (_req, _res, next) =>
    next(standing.removed() ? new DomainRemovedError(services.domain) : undefined);
  router.post('/hooks/:id/:secret', served, json, async (req, res) => {
    const { message, duplicate } = await postViaWebhook(
      services,
      String(req.params.id),
      String(req.params.secret),
      req.body,
      req.get('idempotency-key'),
    );
    res.status(duplicate ? 200 : 201).json({
      messageId: message.id,
      conversationId: message.conversationId,
      seq: message.seq,
      at: message.createdAt.toISOString(),
      duplicate,
    });
  });
  return router;
}
