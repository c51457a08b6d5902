import { Router, type Request } from 'express';
import { pipeline } from 'node:stream/promises';
import { markFileRemoved } from '../attachments/mark-file-removed.ts';
import { readAttachment } from '../attachments/read-attachment.ts';
import { cardAction } from '../cards/card-action.ts';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { parseInput } from '../../core/validate.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import type { Identity } from '../auth/token-verifier.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import { createDirect } from '../conversations/open-direct.ts';
import { directIdentity } from '../conversations/open-direct.ts';
import { sendMessage } from '../messages/send-message.ts';
import { bodyObject, type MessageBody } from '../messages/present-message.ts';
import { editMessage, recallMessage } from '../messages/recall-edit.ts';
import type { Appended } from '../messages/group-commit.ts';
import { leaveGroup } from '../conversations/leave-group.ts';
import { takeMoves } from '../conversations/moved-members.ts';
import { presentConversationFrames } from '../conversations/list-conversations.ts';
import { serverFrame } from '../../protocol/frames.ts';
import { applyEvents, checkAuthorship, SenderNotOfOriginError } from './apply.ts';
import {
  addressQuerySchema,
  attachmentRequestSchema,
  highestSeqsQuerySchema,
  cardClickSchema,
  presenceChangedSchema,
  presenceQuerySchema,
  sharedFilesSchema,
  submitSchema,
  transactionSchema,
  typingSchema,
  type Submit,
} from '../../protocol/federation-events.ts';
import type { Federation } from './federation.ts';
import type { OutgoingDelivery } from './delivery.ts';
import { keysDocument } from './node-keys.ts';
import { peerBody } from './peer-body.ts';
import { logClashesHere } from './sequence-taken.ts';
import { heldSeqs } from './highest-seqs.ts';
import type { FederationModels } from './models.ts';
import { allowed, domainEntry, verifyPinned, type RegistryClient } from '../../protocol/registry-client.ts';
import type { Sealer } from '../../core/seal.ts';
import { ANSWER_HEADERS, SignatureError } from '../../protocol/signature.ts';
import { answerSigner } from './answer-signer.ts';
import { createSeenRequests, type SeenRequests } from './seen-requests.ts';
import { refusingPeersWhileRemoved } from './while-removed.ts';

/** A person of another domain, acting here through their home node's signed request. */
function remoteActor(address: string): Identity {
  return {
    kind: 'user',
    sub: '',
    username: userOf(address),
    name: userOf(address),
    address,
    sid: null,
    clientId: 'federation',
    expiresAt: Number.MAX_SAFE_INTEGER,
  };
}

/**
 * Checks a peer's signed request; resolves with the domain it came from. `repeatable`: a request that acts on
 * nothing (a question), which may come again: two identical ones signed in the same millisecond sign alike.
 */
type Verify = (req: Request, how?: { repeatable: true }) => Promise<string>;

/**
 * Verifies a signed request from another domain against the keys the registry pins (refetched once for an
 * unknown key), its destination (this node) and the policy, and takes it once: whoever sees it on its way
 * (a proxy) could otherwise send it again while its timestamp passes, and have it act again (a card's
 * action run twice). A peer that retries signs again, so its retry is another request. A request that
 * passes is contact from its origin, so what waits for that domain goes now.
 */
export function peerVerifier(options: {
  domain: string;
  registry: RegistryClient;
  seen: SeenRequests;
  delivery: Pick<OutgoingDelivery, 'heardFrom'>;
  logger: Logger;
  now: () => number;
}): Verify {
  const { domain, registry: client } = options;
  return async (req, how) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const signed = { method: req.method, path: req.originalUrl, headers: req.headers, body };
    const verified = await verifyPinned(client, signed, options.now());
    const result = verified.checked;
    let { registry } = verified;
    if (result.destination !== domain)
      throw new AppError('wrong_destination', 401, `This node is ${domain}, not ${result.destination}`);
    if (!domainEntry(registry, result.origin))
      throw new AppError('unknown_origin', 401, `${result.origin} is not a registered domain`);
    if (!allowed(registry, result.origin, domain)) registry = await client.refreshSoon();
    if (!allowed(registry, result.origin, domain))
      throw new AppError('policy_denied', 403, `The federation policy does not let ${result.origin} reach ${domain}`);
    if (!how?.repeatable && !(await options.seen.takeOnce(result.digest)))
      throw new SignatureError('replayed_request', 'This signed request was taken already');
    void options.delivery
      .heardFrom(result.origin)
      .catch((err: unknown) =>
        options.logger.warn({ err, origin: result.origin }, 'could not note contact from a peer'),
      );
    return result.origin;
  };
}

function json(req: Request): unknown {
  try {
    return JSON.parse((req.body as Buffer).toString('utf8'));
  } catch {
    throw new AppError('invalid_body', 400, 'The body is not JSON');
  }
}

/** The federation endpoints of a domain node (docs/federation.md). */
export function federationRoutes(
  services: NodeServices,
  federation: Federation,
  federationModels: FederationModels,
  sealer: Sealer,
): Router {
  const router = Router();
  // Refused by its headers first, so that a peer that is not one cannot make the node read a body.
  const raw = peerBody({
    registry: federation.policy.registry,
    timeoutMs: services.config.federationBodyTimeoutMs,
    now: services.clock.now,
  });
  const verified = peerVerifier({
    domain: services.domain,
    registry: federation.policy.registry,
    seen: createSeenRequests({ sequelize: services.sequelize, now: services.clock.now }),
    // What waits for the domain goes now: the outbox's events, and the removals of files it has to learn of.
    delivery: {
      heardFrom: async (domain) => {
        await Promise.all([federation.delivery.heardFrom(domain), services.fileRemovals.heardFrom(domain)]);
      },
    },
    logger: services.logger,
    now: services.clock.now,
  });
  const presence = federation.presence;

  router.get('/.well-known/atrium/keys', async (_req, res) => {
    res.set('Cache-Control', 'max-age=60').json(await keysDocument(federationModels, sealer, services.domain));
  });
  // A node whose domain was removed takes nothing from peers whose registry still lists it; the keys
  // document above still serves, so that it can be pinned again.
  router.use('/federation/v1', refusingPeersWhileRemoved(federation.removed, services.domain));
  // Every answer below, refusals included, is signed: whoever relays it cannot pass off one of their own.
  router.use('/federation/v1', answerSigner(services.domain, federation.keys.signingKey));
  // A transaction is taken once by its id already (inbox_entries, in the transaction that applies it):
  // it is not also written down as a signed request, a write per transaction on the busiest route.
  router.post('/federation/v1/transactions/:txnId', raw, async (req, res) => {
    const origin = await verified(req, { repeatable: true });
    res.json(await takeTransaction(services, federationModels, origin, String(req.params.txnId), () => json(req)));
  });
  router.post('/federation/v1/submit', raw, async (req, res) => {
    res.json(await takeSubmission(services, await verified(req), json(req)));
  });

  // Which of this domain's addresses nobody answers to, and which are apps' bots, asked by a node about to
  // open a conversation with them, or to make a member of its group owner or admin (never a bot). Only a
  // domain the policy lets reach this one may ask, and it learns only whether named addresses exist and
  // are bots (not who they are), which a first message to them and a directory search tell as well. Each
  // asks at a bounded pace (PEER_ADDRESSES_PER_SECOND): answering costs this node requests to its gateway.
  router.post('/federation/v1/addresses', raw, async (req, res) => {
    const origin = await verified(req, { repeatable: true });
    const { addresses } = parseInput(addressQuerySchema, json(req), 'The address check is malformed');
    const foreign = addresses.filter((a) => domainOf(a) !== services.domain);
    if (foreign.length > 0)
      throw new AppError(
        'invalid_request',
        400,
        `Only addresses of ${services.domain} are checked here, not ${foreign.slice(0, 5).join(', ')}`,
      );
    res.json(await services.addresses.answerHere(addresses, origin));
  });

  // A file shared by one of this domain's people, for a person of the asking domain: served only to a
  // member of the conversation it was shared in (the same rule as for local people; everyone else gets 404).
  router.post('/federation/v1/attachments/:id', raw, async (req, res) => {
    const origin = await verified(req, { repeatable: true });
    const { for: address } = parseInput(attachmentRequestSchema, json(req), 'The file request is malformed');
    if (domainOf(address) !== origin) throw new SenderNotOfOriginError(`${origin} may not speak for ${address}`);
    const { attachment, content } = await readAttachment(
      { ...services, actor: remoteActor(address) },
      req.params.id ?? '',
    );
    res.setHeader('Content-Type', attachment.contentType);
    res.setHeader('Content-Length', String(attachment.size));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // Streamed, so signed over the digest stored at its upload; the asking node checks the bytes against it.
    res.setHeader(ANSWER_HEADERS.digest, Buffer.from(attachment.sha256, 'hex').toString('base64url'));
    await pipeline(content, res);
  });

  // A click on a card of a conversation hosted here, by a member of the asking domain: handled as a local
  // member's click (the same membership and action checks), answered with the app's result.
  router.post('/federation/v1/card-action', raw, async (req, res) => {
    const origin = await verified(req);
    const { messageId, actionId, user } = parseInput(cardClickSchema, json(req), 'The card click is malformed');
    if (domainOf(user.address) !== origin)
      throw new SenderNotOfOriginError(`${origin} may not speak for ${user.address}`);
    res.json(
      await cardAction(
        { ...services, actor: { ...remoteActor(user.address), name: user.name } },
        { messageId, actionId },
      ),
    );
  });

  // Presence of this domain's people, for any domain the policy lets reach this one (as for local people,
  // no shared conversation is needed); the asking domain hears of their changes for a while. Only people
  // are answered for and watched: an address nobody has (or an app's) is left out, so that made-up ones
  // are not kept. Whether someone is a person is asked (in the addresses' pace) only when the asking
  // domain does not watch them already.
  router.post('/federation/v1/presence', raw, async (req, res) => {
    const origin = await verified(req, { repeatable: true });
    const { addresses } = parseInput(presenceQuerySchema, json(req), 'The presence query is malformed');
    const own = [...new Set(addresses)].filter((a) => domainOf(a) === services.domain);
    const unwatched = presence.unwatched(origin, own);
    const notPeople = new Set(unwatched.length > 0 ? await services.addresses.notPeopleHere(unwatched, origin) : []);
    const people = own.filter((a) => !notPeople.has(a));
    presence.watchedBy(origin, people);
    res.json({ presence: await services.presence.get(people) });
  });
  router.post('/federation/v1/presence/changed', raw, async (req, res) => {
    const origin = await verified(req);
    const changed = parseInput(presenceChangedSchema, json(req), 'The presence change is malformed');
    for (const p of presence.remoteChanged(origin, changed.presence))
      await services.bus.publish({ kind: 'presence', ...p });
    res.status(202).end();
  });

  // How far this node's copies of the asking domain's conversations go, asked by that home as it starts
  // (highest-seqs.ts): only conversations it is the home of are answered for, others are left out.
  router.post('/federation/v1/highest-seqs', raw, async (req, res) => {
    const origin = await verified(req, { repeatable: true });
    const { conversationIds } = parseInput(highestSeqsQuerySchema, json(req), 'The question is malformed');
    res.json({ seqs: await heldSeqs(services.sequelize, origin, [...new Set(conversationIds)]) });
  });
  // A peer that has just started says so; verified() notes the contact, so what waits for it goes now
  // (said again, that changes nothing; two processes starting together may say it alike).
  router.post('/federation/v1/hello', raw, async (req, res) => {
    await verified(req, { repeatable: true });
    res.status(202).end();
  });
  // Said again, a typing note changes nothing that lasts: not worth a write for each one.
  router.post('/federation/v1/typing', raw, async (req, res) => {
    await relayTyping(services, await verified(req, { repeatable: true }), json(req));
    res.status(202).end();
  });
  return router;
}

/** A transaction of events from `origin`, applied once (a repeated id is answered as a duplicate). */
async function takeTransaction(
  services: NodeServices,
  federationModels: FederationModels,
  origin: string,
  txnId: string,
  body: () => unknown,
) {
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(txnId)) throw new AppError('invalid_request', 400, 'Bad transaction id');
  const { events } = parseInput(transactionSchema, body(), 'The transaction is malformed');
  await checkAuthorship(services, origin, events).catch((error: unknown) => {
    services.logger.warn({ origin, txnId, err: error }, 'refused a federation transaction');
    throw error;
  });
  // Moves first, outside the transaction: each asks the directory and appends to its groups, and a move
  // taken twice (this transaction sent again) changes nothing the second time.
  await takeMoves(
    services,
    events.flatMap((e) => (e.type === 'moved' ? [{ from: e.from, to: e.to }] : [])),
  );
  const { InboxEntry } = federationModels;
  const outcome = await services.sequelize.transaction(async (tx) => {
    const [, fresh] = await InboxEntry.findOrCreate({
      where: { origin, txnId },
      defaults: { origin, txnId, receivedAt: new Date() },
      transaction: tx,
    });
    if (!fresh) return { duplicate: true as const };
    return await applyEvents(services, origin, events, tx);
  });
  if ('duplicate' in outcome) return { duplicate: true };
  const { refused } = outcome;
  logClashesHere(services.logger, origin, events, refused);
  const others = refused.filter((r) => r.code !== 'sequence_taken');
  if (others.length > 0) {
    services.logger.warn(
      {
        origin,
        txnId,
        refused: others.map((r) => ({ event: r.event, conversationId: r.conversationId, code: r.code })),
      },
      'refused part of a federation transaction',
    );
  }
  for (const event of outcome.after) await services.bus.publish(event);
  for (const [conversationId, viewers] of outcome.announce) {
    const views = await presentConversationFrames(services, conversationId, viewers);
    for (const [viewer, { frame }] of views)
      await services.bus.publish({ kind: 'deliver', recipients: [viewer], frame });
  }
  return { applied: events.length - refused.length, ...(refused.length > 0 ? { refused } : {}) };
}

/** A remote member's entry, submitted to this node as its conversation's home; answered with its ack. */
async function takeSubmission(services: NodeServices, origin: string, input: unknown) {
  const submit = parseInput(submitSchema, input, 'The submission is malformed');
  if (domainOf(submit.sender) !== origin)
    throw new SenderNotOfOriginError(`${origin} may not speak for ${submit.sender}`);
  const body = submittedBody(submit.body);
  const ctx: NodeContext = { ...services, actor: remoteActor(submit.sender) };
  const home =
    (await services.members.homeOf(submit.conversationId)) ??
    (submit.peer ? await openDirectHere(ctx, submit.sender, submit.peer, submit.conversationId) : null);
  if (home !== services.domain)
    throw new AppError('not_home', 409, `Conversation ${submit.conversationId} is not ordered here`);
  // The remote member acts here exactly as a local one would, through the same use-cases and checks.
  if (submit.kind === 'leave') {
    const left = await leaveGroup(ctx, { conversationId: submit.conversationId });
    return { messageId: '', seq: left.lastSeq, at: new Date().toISOString(), duplicate: false };
  }
  const { message, duplicate } =
    submit.kind === 'text'
      ? await sendMessage(
          ctx,
          {
            conversationId: submit.conversationId,
            clientMsgId: submit.clientMsgId,
            text: body.text,
            mentions: body.mentions,
          },
          {
            sharedFromSendersNode:
              body.attachments === undefined
                ? undefined
                : parseInput(sharedFilesSchema, body.attachments, 'The files of the submission are malformed'),
          },
        )
      : await CHANGES_AT_HOME[submit.kind](ctx, submit, body);
  return { messageId: message.id, seq: message.seq, at: message.createdAt.toISOString(), duplicate };
}

/** A remote member's change of a message of theirs, by its kind: made here as a local member's would be. */
const CHANGES_AT_HOME = {
  edit: (ctx, submit, body) =>
    editMessage(ctx, { clientMsgId: submit.clientMsgId, messageId: submit.refId, text: body.text }),
  recall: (ctx, submit) => recallMessage(ctx, { clientMsgId: submit.clientMsgId, messageId: submit.refId }),
  'file.removed': (ctx, submit, body) =>
    markFileRemoved(ctx, { clientMsgId: submit.clientMsgId, messageId: submit.refId, attachmentId: body.attachmentId }),
} satisfies Record<
  Exclude<Submit['kind'], 'text' | 'leave'>,
  (ctx: NodeContext, submit: Submit, body: MessageBody) => Promise<Appended>
>;

/**
 * A submission's fields, judged before anything is done for it (a direct conversation opened): an honest
 * node writes a JSON object for every kind, and `null`, a list or a string has no fields to read.
 */
function submittedBody(body: string): MessageBody {
  const fields = bodyObject(body);
  if (!fields) throw new AppError('invalid_request', 400, 'The submitted body is not a JSON object');
  return fields;
}

/** The first message of a direct conversation homed here, from the other person's node: the conversation is opened first. */
async function openDirectHere(ctx: NodeContext, sender: string, peer: string, conversationId: string): Promise<string> {
  const direct = directIdentity(sender, peer);
  if (direct.id !== conversationId || domainOf(peer) !== ctx.domain || direct.homeDomain !== ctx.domain) {
    throw new AppError('invalid_request', 400, 'That is not the direct conversation of these two people here');
  }
  // The sender's node asked before sending; a node that did not gets the same refusal a local sender would.
  await ctx.addresses.assertKnown([peer], 'peer');
  await createDirect(ctx, sender, peer);
  return ctx.domain;
}

/** Someone of `origin` is typing in a conversation: this domain's members hear of it (collapsed in a big group), if they are a member. */
async function relayTyping(services: NodeServices, origin: string, input: unknown): Promise<void> {
  const typing = parseInput(typingSchema, input);
  if (domainOf(typing.address) !== origin)
    throw new SenderNotOfOriginError(`${origin} may not speak for ${typing.address}`);
  const members = (await services.members.of([typing.conversationId])).get(typing.conversationId) ?? new Set();
  if (!members.has(typing.address) || !services.typing.due(typing.conversationId, typing.address)) return;
  await services.typing.tell(typing.conversationId, typing.address, members);
}
