import express, { Router, type Request } from 'express';
import { refuseUnknownFields } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { createWebhook, createWebhookSchema, listWebhooks, revokeWebhook } from './manage-webhooks.ts';

/** Managing a group's webhooks over HTTP, as the `webhook.*` frames do. */
export function webhookManagementRoutes(ctx: (req: Request) => NodeContext): Router {
  const router = Router();
  const json = express.json({ limit: '4kb' });
  router.post('/conversations/:id/webhooks', json, async (req, res) => {
    refuseUnknownFields(req.body, createWebhookSchema, ['conversationId']);
    res.status(201).json(await createWebhook(ctx(req), { ...(req.body as object), conversationId: req.params.id }));
  });
  router.get('/conversations/:id/webhooks', async (req, res) => {
    res.json({ webhooks: await listWebhooks(ctx(req), { conversationId: req.params.id }) });
  });
  router.delete('/webhooks/:id', async (req, res) => {
    res.json({ webhook: await revokeWebhook(ctx(req), { webhookId: req.params.id }) });
  });
  return router;
}
