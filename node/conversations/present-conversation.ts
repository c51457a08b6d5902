import type { Member as MemberView } from '../../protocol/frames.ts';
import type { Conversation, Member } from '../models.ts';

export type PresentedMember = MemberView;

/** The one shape of a conversation on the wire (socket frames and HTTP alike). */
export function presentConversation(conversation: Conversation, members: Member[], viewer: string, unread: number) {
  return presentFor(
    conversation,
    presentMembers(members),
    members.find((m) => m.address === viewer),
    unread,
  );
}

/** The active members as every viewer sees them. */
export function presentMembers(members: Member[]): PresentedMember[] {
  return members
    .filter((m) => m.state === 'active')
    .map(
      (m): PresentedMember => ({ address: m.address, role: m.role, readSeq: m.readSeq, deliveredSeq: m.deliveredSeq }),
    );
}

/** One viewer's view, around a member list shared by all viewers. */
export function presentFor(
  conversation: Conversation,
  members: PresentedMember[],
  me: Member | undefined,
  unread: number,
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
    unread,
    members,
  };
}

export type PresentedConversation = ReturnType<typeof presentFor>;
