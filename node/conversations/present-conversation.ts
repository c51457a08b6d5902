import type { Member as MemberView } from '../../protocol/frames.ts';
import type { Conversation, Member } from '../models.ts';
import type { BotNameOf } from './bot-members.ts';

export type PresentedMember = MemberView;

/**
 * A member as every viewer sees them (in views and in pages of `members`); an app's bot marked `app`,
 * with its app's name (bot-members.ts).
 */
export function presentMember(m: Member, botName: BotNameOf): PresentedMember {
  const member: PresentedMember = {
    address: m.address,
    role: m.role,
    readSeq: m.readSeq,
    deliveredSeq: m.deliveredSeq,
  };
  const appName = botName(m.address);
  return appName === undefined ? member : { ...member, app: true, appName };
}

/** The active members as every viewer sees them. */
export function presentMembers(members: Member[], botName: BotNameOf): PresentedMember[] {
  return members.filter((m) => m.state === 'active').map((m) => presentMember(m, botName));
}

/**
 * Whether a view of a conversation with this many active members lists them all. Above the node's
 * `VIEW_MEMBERS_MAX` a view lists only its viewer and the rest load in pages (`members`): every member
 * of a 10,000-member group joining would otherwise be sent the 10,000 others, and every sync would
 * carry them. Up to it the whole list comes with the view, which is what a small group's receipts
 * ("read by k of N") and its heading need, at a few kilobytes.
 */
export function listsEveryMember(memberCount: number, viewMembersMax: number): boolean {
  return memberCount <= viewMembersMax;
}

/**
 * One viewer's view, around a member list shared by all viewers (or, for a big group, only the
 * viewer's own entry: see `listsEveryMember`). `members` stays the last field (presentConversationFrames
 * relies on it).
 */
export function presentFor(
  conversation: Conversation,
  members: PresentedMember[],
  me: Member | undefined,
  unread: { count: number; mentions: number },
  memberCount: number,
) {
  return {
    id: conversation.id,
    kind: conversation.kind,
    homeDomain: conversation.homeDomain,
    title: conversation.title,
    lastSeq: conversation.lastSeq,
    updatedAt: conversation.updatedAt.toISOString(),
    joinedSeq: me?.joinedSeq ?? 0,
    readSeq: me?.readSeq ?? 0,
    unread: unread.count,
    unreadMentions: unread.mentions,
    memberCount,
    members,
  };
}

/** The members a big group's view lists: the viewer alone, while a member. */
export function onlyViewer(me: Member | undefined, botName: BotNameOf): PresentedMember[] {
  return me && me.state === 'active' ? [presentMember(me, botName)] : [];
}

export type PresentedConversation = ReturnType<typeof presentFor>;
