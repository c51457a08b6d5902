import { createHash } from 'node:crypto';
import { domainOf } from '../../protocol/address.ts';
import type { NodeServices } from '../context.ts';
import { serverFrame } from '../../protocol/frames.ts';
import { DELIVERY_FAILED, type EntryEvent } from './withhold.ts';

/**
 * Another domain refused, for good, entries this node (their conversations' home) had acknowledged. Each
 * conversation gets a `delivery.failed` entry naming them and the domain, so every member's devices —
 * their authors' above all, wherever those are at home — learn it when they sync, not only the devices
 * online at that moment, which also get a `delivery.failed` frame per message of a local author.
 */
export async function recordDeliveryFailures(
  services: NodeServices,
  destination: string,
  entries: EntryEvent[],
  refusal: { reason: string; error: string },
): Promise<void> {
  const byConversation = new Map<string, EntryEvent[]>();
  for (const event of entries)
    byConversation.set(event.conversationId, [...(byConversation.get(event.conversationId) ?? []), event]);
  for (const [conversationId, refused] of byConversation) {
    const messageIds = refused.map((e) => e.message.id);
    // The same refusal reported twice (a crash between the report and the withholding) is one entry.
    const clientMsgId = `failed-${createHash('sha256')
      .update(`${destination}\n${messageIds.join(',')}`)
      .digest('base64url')
      .slice(0, 40)}`;
    await services.committer.append({
      conversationId,
      sender: `system@${services.domain}`,
      clientMsgId,
      kind: DELIVERY_FAILED,
      body: JSON.stringify({ domain: destination, messageIds, reason: refusal.reason }),
    });
  }
  for (const event of entries) {
    if (domainOf(event.message.sender) !== services.domain) continue;
    await services.bus.publish({
      kind: 'deliver',
      recipients: [event.message.sender],
      frame: serverFrame('delivery.failed', {
        messageId: event.message.id,
        conversationId: event.conversationId,
        domain: destination,
        reason: refusal.error,
      }),
    });
  }
}
