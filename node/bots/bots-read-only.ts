import type { NextFunction, Request, Response } from 'express';
import { ForbiddenError } from '../../core/errors.ts';
import { actorOf } from '../http/bearer.ts';

/**
 * A bot reads what it may (who it is, its conversations and their history) and writes only through
 * `/api/v1/bot`, where its messages carry its app's name; the people's write endpoints are not for it.
 */
export function botsReadOnly(req: Request, _res: Response, next: NextFunction): void {
  if (actorOf(req).kind !== 'app' || req.method === 'GET' || req.method === 'HEAD' || req.path.startsWith('/bot/'))
    return next();
  next(new ForbiddenError('A bot posts through /api/v1/bot/messages'));
}
