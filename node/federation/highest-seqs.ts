import { QueryTypes, type Sequelize } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import { highestSeqsAnswerSchema } from '../../protocol/federation-events.ts';
import { allowed, type RegistryClient } from '../../protocol/registry-client.ts';
import { advanceSequences } from '../messages/group-commit.ts';
import { MAX_LEAD } from './sequence-taken.ts';
import { errorOf, type Transport } from './transport.ts';

/*
 * A home numbers its conversations; other domains hold copies at its seqs. A home restored from a backup
 * older than a copy would number new entries again at seqs the copy holds as other entries, and the copy
 * refuses them (sequence-taken.ts: their authors are told). So as it starts, before it takes any send, a
 * node asks each domain that holds copies of its conversations (has members in them) how far each copy
 * goes, and numbers past the copies that are further on than it is. A node restarted as usual pays one
 * scan of its own conversations' members and one request per such domain and thousand conversations;
 * a domain that cannot be asked now is skipped (the refusal above still covers it).
 */

/** Conversations per question (POST /federation/v1/highest-seqs) and per page of the scan here. */
export const HIGHEST_SEQS_PAGE = 1_000;
/** How long a domain is waited for, per question. */
const ASK_TIMEOUT_MS = 5_000;
/** How long a start waits for every domain's answers; after it, what comes later still moves counters. */
const START_WAIT_MS = 10_000;

/** On the copy: the highest seq held here of each of these conversations that `origin` is the home of. */
export async function heldSeqs(sequelize: Sequelize, origin: string, ids: string[]): Promise<Record<string, number>> {
  const rows = await sequelize.query<{ id: string; last_seq: number | string }>(
    `SELECT id, last_seq FROM conversations WHERE id IN (${ids.map(() => '?').join(', ')}) AND home_domain = ? AND last_seq > 0`,
    { replacements: [...ids, origin], type: QueryTypes.SELECT },
  );
  return Object.fromEntries(rows.map((r) => [r.id, Number(r.last_seq)]));
}

type Options = {
  sequelize: Sequelize;
  domain: string;
  transport: Pick<Transport, 'post'>;
  registry: Pick<RegistryClient, 'get'>;
  logger: Logger;
  now: () => number;
};

/** This node's conversations, each with its counter, and which other domains hold copies of them. */
async function copiesHeldElsewhere(
  sequelize: Sequelize,
  domain: string,
): Promise<{ lastSeq: Map<string, number>; byPeer: Map<string, string[]> }> {
  const lastSeq = new Map<string, number>();
  const byPeer = new Map<string, string[]>();
  let after = '';
  for (;;) {
    const page = await sequelize.query<{ id: string; last_seq: number | string }>(
      'SELECT id, last_seq FROM conversations WHERE home_domain = ? AND id > ? ORDER BY id LIMIT ?',
      { replacements: [domain, after, HIGHEST_SEQS_PAGE], type: QueryTypes.SELECT },
    );
    if (page.length === 0) break;
    after = page.at(-1)!.id;
    for (const c of page) lastSeq.set(c.id, Number(c.last_seq));
    // Members who left count too: their domains hold the copy up to where they left.
    const peers = await sequelize.query<{ conversation_id: string; peer: string }>(
      `SELECT DISTINCT conversation_id, SUBSTR(address, INSTR(address, '@') + 1) AS peer FROM members WHERE conversation_id IN (${page.map(() => '?').join(', ')}) AND SUBSTR(address, INSTR(address, '@') + 1) <> ?`,
      { replacements: [...page.map((c) => c.id), domain], type: QueryTypes.SELECT },
    );
    for (const { conversation_id: id, peer } of peers) {
      const list = byPeer.get(peer);
      if (list) list.push(id);
      else byPeer.set(peer, [id]);
    }
    if (page.length < HIGHEST_SEQS_PAGE) break;
  }
  return { lastSeq, byPeer };
}

/** How far one domain's copies go, of the conversations asked about; nothing if it cannot be asked now. */
async function askPeer(options: Options, peer: string, ids: string[]): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  const asked = new Set(ids);
  for (let i = 0; i < ids.length; i += HIGHEST_SEQS_PAGE) {
    const conversationIds = ids.slice(i, i + HIGHEST_SEQS_PAGE);
    const response = await options.transport
      .post(peer, '/federation/v1/highest-seqs', { conversationIds }, ASK_TIMEOUT_MS)
      .catch((err: unknown) => ({ status: 0, body: { error: { code: 'unreachable', message: String(err) } } }));
    const answer = response.status === 200 ? highestSeqsAnswerSchema.safeParse(response.body) : undefined;
    if (!answer?.success) {
      options.logger.info(
        { peer, error: errorOf(response) },
        `could not ask ${peer} how far its copies of this node's conversations go (skipped: a clash is still caught when it happens)`,
      );
      return held;
    }
    for (const [id, seq] of Object.entries(answer.data.seqs)) if (asked.has(id)) held.set(id, seq);
  }
  return held;
}

type Behind = { conversationId: string; ours: number; theirs: number; peer: string };

/** Asks every domain holding copies, numbers past the copies further on than this node, and says so once. */
async function catchUp(options: Options): Promise<void> {
  const { domain, logger } = options;
  const { lastSeq, byPeer } = await copiesHeldElsewhere(options.sequelize, domain);
  if (byPeer.size === 0) return;
  const registry = await options.registry.get();
  const peers = [...byPeer.keys()].filter((peer) => allowed(registry, domain, peer));
  const answers = await Promise.all(
    peers.map(async (peer) => [peer, await askPeer(options, peer, byPeer.get(peer)!)] as const),
  );
  const behind = new Map<string, Behind>();
  for (const [peer, held] of answers) {
    for (const [conversationId, seq] of held) {
      const ours = lastSeq.get(conversationId) ?? 0;
      // A peer's word moves a counter only so far: a copy holds no more than a home could have numbered.
      const theirs = Math.min(seq, ours + MAX_LEAD);
      if (theirs > Math.max(ours, behind.get(conversationId)?.theirs ?? 0))
        behind.set(conversationId, { conversationId, ours, theirs, peer });
    }
  }
  if (behind.size === 0) return;
  const advanced = [...behind.values()].map((b) => [b.conversationId, b.theirs] as const);
  await options.sequelize.transaction((tx) =>
    advanceSequences(options.sequelize, tx, advanced, new Date(options.now()), { forwardOnly: true }),
  );
  warnBehind(logger, [...behind.values()]);
}

function warnBehind(logger: Logger, behind: Behind[]): void {
  const by = behind.map((b) => b.theirs - b.ours);
  const most = Math.max(...by);
  const total = by.reduce((a, b) => a + b, 0);
  const peers = [...new Set(behind.map((b) => b.peer))].sort();
  logger.warn(
    {
      conversations: behind.length,
      mostBehind: most,
      totalBehind: total,
      peers,
      examples: behind
        .slice(0, 10)
        .map((b) => ({ conversationId: b.conversationId, was: b.ours, now: b.theirs, peer: b.peer })),
      code: 'sequence_taken',
    },
    `${behind.length} conversation(s) this node orders were behind the copies ${peers.join(', ')} hold, by up to ${most} seq(s) (${total} in all): ` +
      `restored from an older backup? They now number past those copies, so what is sent next reaches them. ` +
      `The entries those copies hold past this node's are missing here (docs/operations.md, "Restoring one node").`,
  );
}

/**
 * Numbers this node's conversations past the copies other domains hold (see above). Resolves when done, or
 * after START_WAIT_MS, whichever comes first: a start is not held up longer by slow domains, and what they
 * answer later still moves counters forward (never back). Never rejects.
 */
export function numberPastCopies(options: Options): Promise<void> {
  const work = catchUp(options).catch((err: unknown) =>
    options.logger.warn({ err }, 'could not ask other domains how far their copies of our conversations go'),
  );
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, START_WAIT_MS);
    timer.unref();
  });
  return Promise.race([work, waited]).finally(() => clearTimeout(timer));
}
