import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { AppError, ValidationError } from '../../core/errors.ts';
import type { NodeContext } from '../context.ts';
import { presentAck } from '../messages/present-message.ts';
import { recallAsBot } from './change-as-bot.ts';
import { changeAsBot, postAsBot } from './post-as-bot.ts';

const JSON_BODY = 'a JSON object, sent with Content-Type: application/json';

/**
 * The bot API reads JSON bodies only. Another type (text/plain, a form) or no body at all is told so at
 * once, rather than reaching the body's checks as nothing ("expected object, received undefined").
 */
function jsonBodyOnly(req: Request, _res: Response, next: NextFunction): void {
  const type = req.is('application/json');
  if (type) return next();
  if (type === null) return next(new ValidationError(`The request has no body: send ${JSON_BODY}`));
  next(
    new AppError(
      'unsupported_media_type',
      415,
      `The bot API takes ${JSON_BODY}; this body was sent as ${req.get('content-type') ?? 'no Content-Type'}`,
    ),
  );
}

/** A recall needs no body; one that is sent must be JSON, so a form or text is refused rather than ignored. */
function noBodyOrJson(req: Request, res: Response, next: NextFunction): void {
  if (req.is('application/json') === null) return next();
  jsonBodyOnly(req, res, next);
}

/** `/api/v1/bot`: what an app's bot does over HTTP with its client-credentials token (docs/protocol.md, "Bots"). */
export function botRoutes(ctx: (req: Request) => NodeContext, limitBytes: number): Router {
  const router = Router();
  const json = [jsonBodyOnly, express.json({ limit: `${limitBytes}b` })];
  router.post('/messages', ...json, async (req, res) => {
    const appended = await postAsBot(ctx(req), req.body);
    res.status(appended.duplicate ? 200 : 201).json(presentAck(appended));
  });
  router.patch('/messages/:id', ...json, async (req, res) => {
    const appended = await changeAsBot(ctx(req), String(req.params.id), req.body);
    res.status(appended.duplicate ? 200 : 201).json(presentAck(appended));
  });
  // A recall needs no body; one sent as JSON may hold no field. Done or done before, it answers 200.
  router.delete('/messages/:id', noBodyOrJson, express.json({ limit: `${limitBytes}b` }), async (req, res) => {
    const appended = await recallAsBot(ctx(req), String(req.params.id), req.body);
    res.status(200).json(presentAck(appended));
  });
  return router;
}
