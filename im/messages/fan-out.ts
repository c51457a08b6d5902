import { domainOf } from '../address.ts';
import type { NodeServices } from '../context.ts';
import { activeMembersOf } from '../conversations/membership.ts';
import { serverFrame } from '../protocol/frames.ts';
import type { Committed } from './group-commit.ts';
import { presentMessage } from './present-message.ts';

/**
 * After a commit: one bus event per stored entry, addressed to the conversation's members on this
 * domain (every device, the sender's other devices included). Remote members are federation's part.
 */
export async function fanOut(services: NodeServices, committed: Committed[]): Promise<void> {
  const members = await activeMembersOf(services, [...new Set(committed.map((c) => c.message.conversationId))]);
  for (const { message, origin } of committed) {
    const recipients = (members.get(message.conversationId) ?? []).filter((a) => domainOf(a) === services.domain);
    if (recipients.length === 0) continue;
    await services.bus.publish({
      kind: 'deliver',
      recipients,
      frame: serverFrame('message', { message: presentMessage(message) }),
      ...(origin ? { exceptConnection: origin } : {}),
    });
  }
}
