import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { refuseUnknownFields } from '../../core/validate.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import type { TokenVerifier } from '../auth/token-verifier.ts';
import { createGroup, createGroupSchema } from '../conversations/create-group.ts';
import { listConversations } from '../conversations/list-conversations.ts';
import { listMembers } from '../conversations/list-members.ts';
import { sendMessage, sendSchema } from '../messages/send-message.ts';
import { presentAck } from '../messages/present-message.ts';
import { history } from '../messages/sync.ts';
import { attachmentRoutes } from './attachments.ts';
import { actorOf, bearerAuth } from './bearer.ts';
import { botRoutes } from '../bots/bot-routes.ts';
import { botsReadOnly } from '../bots/bots-read-only.ts';
import { webhookManagementRoutes } from '../webhooks/manage-routes.ts';
import { paceWrite } from '../limits/person-limits.ts';

/** `/api/v1`: the same use-cases as the socket, for bots, scripts and uploads. */
export function apiRoutes(services: NodeServices, verifier: TokenVerifier): Router {
  const router = Router();
  const json = express.json({ limit: `${services.config.maxFrameBytes}b` });
  const ctx = (req: Request): NodeContext => ({ ...services, actor: actorOf(req) });
  router.use(bearerAuth(verifier));
  router.use(botsReadOnly);
  router.use('/bot', botRoutes(ctx, services.config.maxFrameBytes));
  router.use(webhookManagementRoutes(ctx));

  router.get('/me', (req, res) => {
    const actor = actorOf(req);
    res.json({ address: actor.address, kind: actor.kind, domain: services.domain });
  });

  router.get('/conversations', async (req, res) => {
    res.json({ conversations: await listConversations(ctx(req)) });
  });

  // The use-cases' schemas stay open for the socket's frames (their `v`, `id`, `type`): a body's fields
  // are held to them here, so that a misspelt one is refused by name as it is on a socket.
  router.post('/conversations', json, async (req, res) => {
    refuseUnknownFields(req.body, createGroupSchema);
    res.status(201).json({ conversation: await createGroup(ctx(req), req.body) });
  });

  router.get('/conversations/:id/members', async (req, res) => {
    const { after, limit, q } = req.query;
    res.json(await listMembers(ctx(req), { conversationId: req.params.id, after, limit, query: q }));
  });

  router.get('/conversations/:id/messages', async (req, res) => {
    const before = req.query.before === undefined ? undefined : Number(req.query.before);
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    res.json(await history(ctx(req), { conversationId: req.params.id, beforeSeq: before, limit }));
  });

  // Paced with the person's socket sends, before the body is read: one allowance however they send.
  // (Express hands what a middleware throws to the error handler.)
  const paced = (req: Request, _res: Response, next: NextFunction) => {
    paceWrite(ctx(req));
    next();
  };
  router.post('/conversations/:id/messages', paced, json, async (req, res) => {
    refuseUnknownFields(req.body, sendSchema, ['conversationId']);
    const appended = await sendMessage(ctx(req), { ...(req.body as object), conversationId: req.params.id });
    // The same answer as a socket's ack (and the bot API's), so a client reads one shape whichever way it sent.
    res.status(appended.duplicate ? 200 : 201).json(presentAck(appended));
  });

  router.use(attachmentRoutes(ctx));

  return router;
}
