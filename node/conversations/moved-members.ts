import { QueryTypes, type Transaction } from 'sequelize';
import { AppError } from '../../core/errors.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import type { EndedAccess } from '../auth/ended-access.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import type { MemberRole } from '../models.ts';
import {
  announceGroup,
  appendGroupEvent,
  endMembership,
  type GroupEvent,
  NothingToChangeError,
} from './group-change.ts';

/** A person's old address and the one they chat at now (the same username at another domain). */
export type Move = { from: string; to: string };

const RANK: Record<MemberRole, number> = { member: 0, admin: 1, owner: 2 };

/** The moved person acting at a group's home: their old address, which the move takes out of the group. */
function movedActor(services: NodeServices, from: string): NodeContext {
  return {
    ...services,
    actor: {
      kind: 'user',
      sub: '',
      username: userOf(from),
      name: userOf(from),
      address: from,
      sid: null,
      clientId: 'atrium-gateway',
      expiresAt: Number.MAX_SAFE_INTEGER,
    },
  };
}

/**
 * In the group's transaction: `to` takes `from`'s place with its role (the higher of the two where `to`
 * was a member already, who then keeps their membership). A newcomer's membership starts at the move's
 * entry, as any joiner's does: what was said before stays readable at the old address's node.
 */
async function swapMember(ctx: NodeContext, tx: Transaction, seq: number, conversationId: string, move: Move) {
  const { Member } = ctx.models;
  const old = (await Member.findOne({ where: { conversationId, address: move.from }, transaction: tx }))!;
  const row = await Member.findOne({
    where: { conversationId, address: move.to },
    lock: tx.LOCK.UPDATE,
    transaction: tx,
  });
  const joinedSeq = seq - 1;
  await endMembership(ctx, tx, conversationId, move.from, 'left');
  if (row?.state === 'active') {
    if (RANK[old.role] > RANK[row.role]) await row.update({ role: old.role }, { transaction: tx });
  } else if (row) {
    const start = { joinedSeq, readSeq: joinedSeq, deliveredSeq: joinedSeq };
    await row.update({ state: 'active', role: old.role, ...start }, { transaction: tx });
  } else {
    const start = { joinedSeq, readSeq: joinedSeq, deliveredSeq: joinedSeq };
    await Member.create(
      { conversationId, address: move.to, role: old.role, state: 'active', ...start },
      { transaction: tx },
    );
  }
}

/**
 * Whether the policy lets `to`'s domain into the group (every two member domains must be allowed, as for
 * an invite). A group it does not let in keeps the old address, as before there were moves, and says so.
 */
async function mayFollow(services: NodeServices, conversationId: string, move: Move): Promise<boolean> {
  const members = (await services.members.of([conversationId])).get(conversationId) ?? new Set<string>();
  try {
    await services.federation.policy.assertAllowedAmong([...members, move.to]);
    return true;
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'federation_denied') throw err;
    services.logger.warn({ err, conversationId, move }, 'a moved member cannot follow into a group: policy');
    return false;
  }
}

/**
 * Puts `to` in `from`'s place in every group this domain is the home of, with a `member.moved` entry the
 * other members' devices apply; the group's snapshot then goes to every member domain as for any change,
 * so `to`'s domain gets the group and shows it to them. A group `from` is no longer in changes nothing, so
 * a move told twice moves once. Returns how many groups it changed.
 */
export async function moveMemberHere(services: NodeServices, move: Move): Promise<number> {
  const rows = await services.sequelize.query<{ id: string }>(
    `SELECT c.id AS id FROM conversations c JOIN members m ON m.conversation_id = c.id
      WHERE c.kind = 'group' AND c.home_domain = :domain AND m.address = :from AND m.state = 'active'`,
    { replacements: { domain: services.domain, from: move.from }, type: QueryTypes.SELECT },
  );
  const ctx = movedActor(services, move.from);
  let moved = 0;
  for (const { id: conversationId } of rows) {
    if (!(await mayFollow(services, conversationId, move))) continue;
    const decide = async (tx: Transaction): Promise<GroupEvent> => {
      const still = await ctx.models.Member.findOne({
        where: { conversationId, address: move.from, state: 'active' },
        lock: tx.LOCK.UPDATE,
        transaction: tx,
      });
      if (!still) throw new NothingToChangeError();
      return { event: 'member.moved', members: [move.from], to: move.to, by: move.from };
    };
    try {
      await appendGroupEvent(ctx, conversationId, decide, (tx, stored) =>
        swapMember(ctx, tx, stored.seq, conversationId, move),
      );
    } catch (error) {
      if (error instanceof NothingToChangeError) continue;
      throw error;
    }
    await announceGroup(ctx, conversationId, [move.from, move.to]);
    moved += 1;
  }
  return moved;
}

/**
 * Moves told by `origin` (the domain they left), each checked with the campus directory first: the person
 * of that username has `to` now and no longer `from`. A move the directory does not bear out (they moved
 * back since, or the origin is wrong) changes nothing. A directory out of reach throws, so that the whole
 * transaction is refused and its sender's outbox tries again later.
 */
export async function takeMoves(services: NodeServices, moves: Move[]): Promise<void> {
  if (moves.length === 0) return;
  const now = await services.movedPeers.movedAmong(moves.map((m) => m.from));
  for (const move of moves) {
    const person = now.get(move.from);
    if (!person?.addresses.includes(move.to) || userOf(move.to) !== userOf(move.from)) {
      services.logger.warn({ move }, 'a move the campus directory does not bear out: nothing changed');
      continue;
    }
    await moveMemberHere(services, move);
  }
}

/** The people of this domain active in groups this node holds, and the homes of those groups. */
async function localGroupMembers(services: NodeServices): Promise<{ address: string; home: string }[]> {
  const rows = await services.sequelize.query<{ address: string; home: string }>(
    `SELECT DISTINCT m.address AS address, c.home_domain AS home FROM members m
      JOIN conversations c ON c.id = m.conversation_id
      WHERE c.kind = 'group' AND m.state = 'active' AND m.address LIKE :local`,
    { replacements: { local: `%@${services.domain}` }, type: QueryTypes.SELECT },
  );
  return rows.filter((r) => domainOf(r.address) === services.domain);
}

/**
 * Someone left this domain (the gateway's "Move their chat"): the directory says who of this domain's
 * group members chat elsewhere now. The groups homed here put their new address in their place at once;
 * the home of each other group is told through the outbox (takeMoves there). Idempotent: a member moved
 * already is no longer looked at, and a home told twice moves once.
 */
export async function followMovesFromHere(services: NodeServices): Promise<Move[]> {
  const held = await localGroupMembers(services);
  if (held.length === 0) return [];
  const moved = await services.movedPeers.movedAmong(held.map((h) => h.address));
  const moves: Move[] = [];
  for (const [from, person] of moved) {
    const to = person.addresses.find((a) => userOf(a) === userOf(from) && domainOf(a) !== services.domain);
    if (!to) continue;
    const move = { from, to };
    moves.push(move);
    await moveMemberHere(services, move);
    const homes = new Set(held.filter((h) => h.address === from && h.home !== services.domain).map((h) => h.home));
    for (const home of homes) await services.federation.delivery.tellMoved(home, move);
  }
  return moves;
}

/**
 * `ended`, which also follows people who left this domain into their groups (followMovesFromHere) when
 * an entry says so (`left_domain`). It is told by the gateway's push and by the poll, so a node that was
 * down when the person moved follows them once it hears of it; a directory out of reach is tried at the
 * next such entry. The sweep runs after the entry is recorded, without holding up whoever told it (the
 * gateway's push waits for the answer), one at a time: entries heard meanwhile start one more after it.
 */
export function followingMovedMembers(ended: EndedAccess, services: NodeServices): EndedAccess {
  let running: Promise<void> | undefined;
  let again = false;
  const sweep = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = followMovesFromHere(services)
      .then(
        () => undefined,
        (err: unknown) =>
          services.logger.warn({ err }, 'following people who left this domain into their groups failed'),
      )
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          sweep();
        }
      });
  };
  return {
    ...ended,
    async record(entries) {
      await ended.record(entries);
      if (entries.some((e) => e.reason === 'left_domain')) sweep();
    },
  };
}
