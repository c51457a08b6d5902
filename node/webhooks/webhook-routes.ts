import express, { Router } from 'express';
import type { NodeServices } from '../context.ts';
import { postViaWebhook } from './post-webhook.ts';

/**
 * `POST /hooks/<id>/<secret>` with JSON `{"text": "…"}`: the URL is the credential, so no token. Small
 * bodies only; the answer names the message like an ack.
 */
export function incomingWebhookRoutes(services: NodeServices): Router {
  const router = Router();
  const json = express.json({ limit: '16kb', type: () => true });
  router.post('/hooks/:id/:secret', json, async (req, res) => {
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
