import { domainOf } from '../../protocol/address.ts';
import type { NodeServices } from '../context.ts';
import { serverFrame } from '../../protocol/frames.ts';
import type { Committed } from './group-commit.ts';
import { presentMessage } from './present-message.ts';
import { isDirectId } from '../conversations/open-direct.ts';
import { presentConversationFrames } from '../conversations/list-conversations.ts';

// The member cache hands out one Set per conversation until its membership changes: its local members
// are worked out once per Set, not once per message.
const localBySet = new WeakMap<Set<string>, string[]>();

function localMembers(members: Set<string>, domain: string): string[] {
  let local = localBySet.get(members);
  if (!local) localBySet.set(members, (local = [...members].filter((a) => domainOf(a) === domain)));
  return local;
}

/**
 * After a commit: one bus event per stored entry, addressed to the conversation's members on this
 * domain (every device, the sender's other devices included). Remote members are federation's part.
 */
export async function fanOut(services: NodeServices, committed: Committed[]): Promise<void> {
  const members = await services.members.of([...new Set(committed.map((c) => c.message.conversationId))]);
  const firsts: { message: Committed['message']; recipients: string[] }[] = [];
  for (const { message, origin } of committed) {
    const set = members.get(message.conversationId);
    const recipients = set ? localMembers(set, services.domain) : [];
    if (recipients.length === 0) continue;
    if (message.seq === 1 && isDirectId(message.conversationId)) firsts.push({ message, recipients });
    await services.bus.publish({
      kind: 'deliver',
      recipients,
      frame: serverFrame('message', { message: presentMessage(message) }),
      ...(origin ? { exceptConnection: origin } : {}),
    });
  }
  // After every message is on its way: reading the conversation must not let a later flush's messages
  // overtake this one's. A page holds a message of a conversation it does not know until this comes.
  for (const { message, recipients } of firsts) await announceDirect(services, message, recipients);
}

/**
 * The first message of a pair's conversation: the other person's devices here learn of the conversation
 * with it, as a group's members do when it is made, so it shows in their list at once rather than when
 * their page next asks. Opening a conversation tells the other nobody: an empty one is not news.
 */
async function announceDirect(services: NodeServices, message: Committed['message'], recipients: string[]) {
  const others = recipients.filter((address) => address !== message.sender);
  if (others.length === 0) return;
  const views = await presentConversationFrames(services, message.conversationId, others);
  for (const [viewer, { frame }] of views) await services.bus.publish({ kind: 'deliver', recipients: [viewer], frame });
}
