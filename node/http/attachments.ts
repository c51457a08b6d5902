import { Router, type Request } from 'express';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import { domainPattern } from '../../protocol/address.ts';
import { readAttachment, UUID } from '../attachments/read-attachment.ts';
import { nameForType } from '../attachments/file-extensions.ts';
import { listOwnFiles } from '../attachments/list-own-files.ts';
import { removeOwnFile } from '../attachments/remove-own-file.ts';
import { listedType, uploadAttachment } from '../attachments/upload-attachment.ts';
import type { NodeContext } from '../context.ts';

/*
 * Should a browser still render a file (a peer node's type, a type an operator allowed), it runs no
 * script and loads nothing, in an origin of its own rather than the node's.
 */
const SANDBOX = "default-src 'none'; sandbox";

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
 * Content-Type, its name from `?name=`. `GET /attachments/:id` serves it as a download only; with
 * `?from=DOMAIN` (the sharer's domain, when not this one) it is fetched from that domain's node.
 * `GET /attachments` lists the asker's own files here, `DELETE /attachments/:id` deletes one of them.
 */
export function attachmentRoutes(contextOf: (req: Request) => NodeContext): Router {
  const router = Router();

  router.get('/attachments', async (req, res) => {
    res.json(await listOwnFiles(contextOf(req), req.query));
  });

  router.delete('/attachments/:id', async (req, res) => {
    await removeOwnFile(contextOf(req), req.params.id);
    res.status(204).end();
  });

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
    const ctx = contextOf(req);
    const from = req.query.from;
    if (from !== undefined && (typeof from !== 'string' || !domainPattern.test(from)))
      throw new ValidationError('from names the domain the file was shared from', { from: 'a domain name' });
    if (from && from !== ctx.domain) {
      // Shared by someone of another domain: their node keeps it, and serves it to members through ours.
      if (!UUID.test(req.params.id)) throw new NotFoundError('No such attachment');
      const file = await ctx.federation.home.fetchAttachment(from, req.params.id, ctx.actor.address);
      // The other node's word on the type goes only as far as this node's own list of upload types.
      res.setHeader('Content-Type', listedType(ctx, file.contentType) ?? 'application/octet-stream');
      if (file.length !== undefined) res.setHeader('Content-Length', String(file.length));
      res.setHeader('Content-Disposition', 'attachment');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Content-Security-Policy', SANDBOX);
      res.setHeader('Cache-Control', 'private, no-cache');
      // Passed on as it arrives: the node holds a chunk of it at a time.
      await pipeline(file.content, res);
      return;
    }
    const { attachment, content } = await readAttachment(ctx, req.params.id);
    res.setHeader('Content-Type', attachment.contentType);
    res.setHeader('Content-Length', String(attachment.size));
    // A file stored before names were made to agree with types (file-extensions.ts) is offered so too.
    res.setHeader('Content-Disposition', contentDisposition(nameForType(attachment.name, attachment.contentType)));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', SANDBOX);
    res.setHeader('Cache-Control', 'private, no-cache');
    await pipeline(content, res);
  });

  return router;
}
