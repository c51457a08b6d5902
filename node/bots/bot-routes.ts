import express, { Router, type Request } from 'express';
import type { NodeContext } from '../context.ts';
import { presentAck } from '../messages/present-message.ts';
import { postAsBot, updateCardAsBot } from './post-as-bot.ts';

/** `/api/v1/bot`: what an app's bot does over HTTP with its client-credentials token (docs/protocol.md, "Bots"). */
export function botRoutes(ctx: (req: Request) => NodeContext, limitBytes: number): Router {
  const router = Router();
  const json = express.json({ limit: `${limitBytes}b` });
  router.post('/messages', json, async (req, res) => {
    const appended = await postAsBot(ctx(req), req.body);
    res.status(appended.duplicate ? 200 : 201).json(presentAck(appended));
  });
  router.patch('/messages/:id', json, async (req, res) => {
    const appended = await updateCardAsBot(ctx(req), String(req.params.id), req.body);
    res.status(appended.duplicate ? 200 : 201).json(presentAck(appended));
  });
  return router;
}
