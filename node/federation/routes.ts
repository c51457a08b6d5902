import express, { Router, type Request } from 'express';
import { pipeline } from 'node:stream/promises';
import { readAttachment } from '../attachments/read-attachment.ts';
import { cardAction } from '../cards/card-action.ts';
import { AppError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import type { Identity } from '../auth/token-verifier.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import { createDirect } from '../conversations/open-direct.ts';
import { directIdentity } from '../conversations/open-direct.ts';
import { sendMessage } from '../messages/send-message.ts';
import { editMessage, recallMessage } from '../messages/recall-edit.ts';
import { leaveGroup } from '../conversations/leave-group.ts';
import { presentConversationFrames } from '../conversations/list-conversations.ts';
import { serverFrame } from '../../protocol/frames.ts';
import { applyEvents, checkAuthorship, SenderNotOfOriginError } from './apply.ts';
import {
  addressQuerySchema,
  attachmentRequestSchema,
  cardClickSchema,
  presenceChangedSchema,
  presenceQuerySchema,
  sharedFilesSchema,
  submitSchema,
  transactionSchema,
  typingSchema,
} from '../../protocol/federation-events.ts';
import type { Federation } from './federation.ts';
import { keysDocument } from './node-keys.ts';
import type { FederationModels } from './models.ts';
import { allowed, domainEntry, keysOf } from '../../protocol/registry-client.ts';
import { SignatureError, verifyRequest } from '../../protocol/signature.ts';
import type { Sealer } from '../../core/seal.ts';

/** A person of another domain, acting here through their home node's signed request. */
function remoteActor(address: string): Identity {
  return { kind: 'user', sub: '', username: userOf(address), name: userOf(address), address, sid: null, clientId: 'federation', expiresAt: Number.MAX_SAFE_INTEGER };
}

/** The federation endpoints of a domain node (docs/federation.md). */
export function federationRoutes(services: NodeServices, federation: Federation, federationModels: FederationModels, sealer: Sealer): Router {
  const router = Router();
  const raw = express.raw({ type: () => true, limit: '8mb' });

  async function verified(req: Request): Promise<string> {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const signed = { method: req.method, path: req.originalUrl, headers: req.headers, body };
    let registry = await federation.registry.get();
    let result;
    try {
      result = verifyRequest(signed, (name) => keysOf(registry, name));
    } catch (error) {
      if (!(error instanceof SignatureError) || error.code !== 'unknown_key') throw error;
      registry = await federation.registry.refreshSoon();
      result = verifyRequest(signed, (name) => keysOf(registry, name));
    }
    if (result.destination !== services.domain) throw new AppError('wrong_destination', 401, `This node is ${services.domain}, not ${result.destination}`);
    if (!domainEntry(registry, result.origin)) throw new AppError('unknown_origin', 401, `${result.origin} is not a registered domain`);
    if (!allowed(registry, result.origin, services.domain)) registry = await federation.registry.refreshSoon();
    if (!allowed(registry, result.origin, services.domain)) throw new AppError('policy_denied', 403, `The federation policy does not let ${result.origin} reach ${services.domain}`);
    void federation.heardFrom(result.origin).catch((err: unknown) => services.logger.warn({ err, origin: result.origin }, 'could not note contact from a peer'));
    return result.origin;
  }

  const json = (req: Request): unknown => {
    try {
      return JSON.parse((req.body as Buffer).toString('utf8'));
    } catch {
      throw new AppError('invalid_body', 400, 'The body is not JSON');
    }
  };

  router.get('/.well-known/atrium/keys', async (_req, res) => {
    res.set('Cache-Control', 'max-age=60').json(await keysDocument(federationModels, sealer, services.domain));
  });

  router.post('/federation/v1/transactions/:txnId', raw, async (req, res) => {
    const origin = await verified(req);
    const txnId = String(req.params.txnId);
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(txnId)) throw new AppError('invalid_request', 400, 'Bad transaction id');
    const { events } = parseInput(transactionSchema, json(req), 'The transaction is malformed');
    await checkAuthorship(services, origin, events).catch((error: unknown) => {
      services.logger.warn({ origin, txnId, err: error }, 'refused a federation transaction');
      throw error;
    });
    const { InboxEntry } = federationModels;
    const outcome = await services.sequelize.transaction(async (tx) => {
      const [, fresh] = await InboxEntry.findOrCreate({ where: { origin, txnId }, defaults: { origin, txnId, receivedAt: new Date() }, transaction: tx });
      if (!fresh) return { duplicate: true as const };
      return await applyEvents(services, origin, events, tx);
    });
    if ('duplicate' in outcome) return void res.json({ duplicate: true });
    const { refused } = outcome;
    if (refused.length > 0) {
      services.logger.warn({ origin, txnId, refused: refused.map((r) => ({ event: r.event, conversationId: r.conversationId, code: r.code })) }, 'refused part of a federation transaction');
    }
    for (const event of outcome.after) await services.bus.publish(event);
    for (const [conversationId, viewers] of outcome.announce) {
      const views = await presentConversationFrames({ ...services, actor: remoteActor(`system@${origin}`) }, conversationId, viewers);
      for (const [viewer, { frame }] of views) await services.bus.publish({ kind: 'deliver', recipients: [viewer], frame });
    }
    res.json({ applied: events.length - refused.length, ...(refused.length > 0 ? { refused } : {}) });
  });

  router.post('/federation/v1/submit', raw, async (req, res) => {
    const origin = await verified(req);
    const submit = parseInput(submitSchema, json(req), 'The submission is malformed');
    if (domainOf(submit.sender) !== origin) throw new SenderNotOfOriginError(`${origin} may not speak for ${submit.sender}`);
    const ctx: NodeContext = { ...services, actor: remoteActor(submit.sender) };
    let home = await services.members.homeOf(submit.conversationId);
    if (!home && submit.peer) {
      const direct = directIdentity(submit.sender, submit.peer);
      if (direct.id !== submit.conversationId || domainOf(submit.peer) !== services.domain || direct.homeDomain !== services.domain) {
        throw new AppError('invalid_request', 400, 'That is not the direct conversation of these two people here');
      }
      // The sender's node asked before sending; a node that did not gets the same refusal a local sender would.
      await services.addresses.assertKnown([submit.peer], 'peer');
      await createDirect(ctx, submit.sender, submit.peer);
      home = services.domain;
    }
    if (home !== services.domain) throw new AppError('not_home', 409, `Conversation ${submit.conversationId} is not ordered here`);
    let body: { text?: string; mentions?: string[]; attachments?: unknown };
    try {
      body = JSON.parse(submit.body) as typeof body;
    } catch {
      throw new AppError('invalid_request', 400, 'The submitted body is not JSON');
    }
    // The remote member acts here exactly as a local one would, through the same use-cases and checks.
    if (submit.kind === 'leave') {
      const left = await leaveGroup(ctx, { conversationId: submit.conversationId });
      return void res.json({ messageId: '', seq: left.lastSeq, at: new Date().toISOString(), duplicate: false });
    }
    const { message, duplicate } =
      submit.kind === 'text'
        ? await sendMessage(
            ctx,
            { conversationId: submit.conversationId, clientMsgId: submit.clientMsgId, text: body.text, mentions: body.mentions },
            { sharedFromSendersNode: body.attachments === undefined ? undefined : parseInput(sharedFilesSchema, body.attachments, 'The files of the submission are malformed') },
          )
        : submit.kind === 'edit'
          ? await editMessage(ctx, { clientMsgId: submit.clientMsgId, messageId: submit.refId, text: body.text })
          : await recallMessage(ctx, { clientMsgId: submit.clientMsgId, messageId: submit.refId });
    res.json({ messageId: message.id, seq: message.seq, at: message.createdAt.toISOString(), duplicate });
  });

  // Which of this domain's addresses nobody answers to, asked by a node about to open a conversation with
  // them. Only a domain the policy lets reach this one may ask, and it learns only whether named addresses
  // exist (not who they are), which a first message to them would tell as well.
  router.post('/federation/v1/addresses', raw, async (req, res) => {
    await verified(req);
    const { addresses } = parseInput(addressQuerySchema, json(req), 'The address check is malformed');
    const foreign = addresses.filter((a) => domainOf(a) !== services.domain);
    if (foreign.length > 0) throw new AppError('invalid_request', 400, `Only addresses of ${services.domain} are checked here, not ${foreign.slice(0, 5).join(', ')}`);
    res.json({ unknown: await services.addresses.unknownHere(addresses) });
  });

  // A file shared by one of this domain's people, for a person of the asking domain: served only to a
  // member of the conversation it was shared in (the same rule as for local people; everyone else gets 404).
  router.post('/federation/v1/attachments/:id', raw, async (req, res) => {
    const origin = await verified(req);
    const { for: address } = parseInput(attachmentRequestSchema, json(req), 'The file request is malformed');
    if (domainOf(address) !== origin) throw new SenderNotOfOriginError(`${origin} may not speak for ${address}`);
    const { attachment, content } = await readAttachment({ ...services, actor: remoteActor(address) }, req.params.id ?? '');
    res.setHeader('Content-Type', attachment.contentType);
    res.setHeader('Content-Length', String(attachment.size));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    await pipeline(content, res);
  });

  // A click on a card of a conversation hosted here, by a member of the asking domain: handled as a local
  // member's click (the same membership and action checks), answered with the app's result.
  router.post('/federation/v1/card-action', raw, async (req, res) => {
    const origin = await verified(req);
    const { messageId, actionId, user } = parseInput(cardClickSchema, json(req), 'The card click is malformed');
    if (domainOf(user.address) !== origin) throw new SenderNotOfOriginError(`${origin} may not speak for ${user.address}`);
    res.json(await cardAction({ ...services, actor: { ...remoteActor(user.address), name: user.name } }, { messageId, actionId }));
  });

  // Presence of this domain's people, for any domain the policy lets reach this one (as for local people,
  // no shared conversation is needed); the asking domain hears of their changes for a while.
  router.post('/federation/v1/presence', raw, async (req, res) => {
    const origin = await verified(req);
    const { addresses } = parseInput(presenceQuerySchema, json(req), 'The presence query is malformed');
    const own = [...new Set(addresses)].filter((a) => domainOf(a) === services.domain);
    federation.presence.watchedBy(origin, own);
    res.json({ presence: await services.presence.get(own) });
  });

  router.post('/federation/v1/presence/changed', raw, async (req, res) => {
    const origin = await verified(req);
    const { presence } = parseInput(presenceChangedSchema, json(req), 'The presence change is malformed');
    for (const p of federation.presence.remoteChanged(origin, presence)) await services.bus.publish({ kind: 'presence', ...p });
    res.status(202).end();
  });

  // A peer that has just started says so; verified() notes the contact, so what waits for it goes now.
  router.post('/federation/v1/hello', raw, async (req, res) => {
    await verified(req);
    res.status(202).end();
  });

  router.post('/federation/v1/typing', raw, async (req, res) => {
    const origin = await verified(req);
    const typing = parseInput(typingSchema, json(req));
    if (domainOf(typing.address) !== origin) throw new SenderNotOfOriginError(`${origin} may not speak for ${typing.address}`);
    const members = (await services.members.of([typing.conversationId])).get(typing.conversationId) ?? new Set();
    if (members.has(typing.address)) {
      const recipients = [...members].filter((a) => a !== typing.address && domainOf(a) === services.domain);
      if (recipients.length > 0) await services.bus.publish({ kind: 'deliver', recipients, frame: serverFrame('typing', typing) });
    }
    res.status(202).end();
  });

  return router;
}
