import { Router, type Request } from 'express';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../../core/errors.ts';
import { readAttachment } from '../attachments/read-attachment.ts';
import { uploadAttachment } from '../attachments/upload-attachment.ts';
import type { NodeContext } from '../context.ts';

/** RFC 6266: an ASCII fallback for old clients and the exact name, percent-encoded, for the rest. */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const exact = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${exact}`;
}

function queryName(req: Request): string | undefined {
  const name = req.query.name;
  if (name === undefined || typeof name === 'string') return name;
  throw new ValidationError('Give the file name once', { name: 'a single name' });
}

/**
 * `POST /attachments` takes the file as the raw request body (no multipart): its type from
 * Content-Type, its name from `?name=`. `GET /attachments/:id` serves it as a download only.
 */
export function attachmentRoutes(contextOf: (req: Request) => NodeContext): Router {
  const router = Router();

  router.post('/attachments', async (req, res) => {
    const length = req.get('content-length');
    try {
      const attachment = await uploadAttachment(contextOf(req), {
        name: queryName(req),
        contentType: req.get('content-type'),
        declaredSize: length === undefined ? undefined : Number(length),
        body: req,
      });
      res.status(201).json(attachment);
    } catch (error) {
      // A refused upload may still be arriving: answer, then close rather than read the rest of it.
      if (!req.complete) res.set('Connection', 'close');
      throw error;
    }
  });

  router.get('/attachments/:id', async (req, res) => {
    const { attachment, content } = await readAttachment(contextOf(req), req.params.id);
    res.setHeader('Content-Type', attachment.contentType);
    res.setHeader('Content-Length', String(attachment.size));
    res.setHeader('Content-Disposition', contentDisposition(attachment.name));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'private, no-cache');
    await pipeline(content, res);
  });

  return router;
}
