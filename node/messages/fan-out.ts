import { domainOf } from '../../protocol/address.ts';
import type { NodeServices } from '../context.ts';
import { serverFrame } from '../../protocol/frames.ts';
import type { Committed } from './group-commit.ts';
import { presentMessage } from './present-message.ts';

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
  for (const { message, origin } of committed) {
    const set = members.get(message.conversationId);
    const recipients = set ? localMembers(set, services.domain) : [];
    if (recipients.length === 0) continue;
    await services.bus.publish({
      kind: 'deliver',
      recipients,
      frame: serverFrame('message', { message: presentMessage(message) }),
      ...(origin ? { exceptConnection: origin } : {}),
    });
  }
}
