import { gatherPerTurn } from '../../core/per-turn.ts';
import type { Bus, BusEvent } from '../bus/bus.ts';
import { serverFrame } from '../../protocol/frames.ts';
import type { Receipt } from './mark-receipt.ts';

export type ReceiptNews = {
  /** Tells `audience` (local addresses) of a receipt; resolves once it is published. */
  tell(receipt: Receipt, audience: string[], exceptConnection?: string): Promise<void>;
};

type Told = { receipt: Receipt; audience: string[]; exceptConnection?: string };

/**
 * Tells of receipts gathered over one turn of the event loop. The receipt committer answers a whole flush
 * at once, and in a big group most of those receipts go to the same few senders: each of them gets one
 * `receipts` frame per conversation listing them all, instead of one frame per receipt (a message read by
 * 2,000 members at once was 2,000 frames to its sender). The reader's own other devices get their
 * `receipt` as before; the device that asked has the answer.
 */
export function createReceiptNews(bus: Bus): ReceiptNews {
  const tell = gatherPerTurn<Told>(async (batch) => {
    const events: BusEvent[] = [];
    // Per conversation, per person told of others' receipts: the receipts they are told of.
    const toOthers = new Map<string, Map<string, Receipt[]>>();
    for (const { receipt, audience, exceptConnection } of batch) {
      if (audience.includes(receipt.address)) {
        events.push({
          kind: 'deliver',
          recipients: [receipt.address],
          frame: serverFrame('receipt', receipt),
          ...(exceptConnection ? { exceptConnection } : {}),
        });
      }
      const byRecipient = toOthers.get(receipt.conversationId) ?? new Map<string, Receipt[]>();
      toOthers.set(receipt.conversationId, byRecipient);
      for (const recipient of audience)
        if (recipient !== receipt.address) byRecipient.set(recipient, [...(byRecipient.get(recipient) ?? []), receipt]);
    }
    // People told of the same receipts share one event.
    for (const [conversationId, byRecipient] of toOthers) {
      const byFrame = new Map<string, string[]>();
      for (const [recipient, receipts] of byRecipient) {
        const frame = JSON.stringify(
          receipts.length === 1
            ? serverFrame('receipt', receipts[0]!)
            : serverFrame('receipts', { conversationId, receipts }),
        );
        byFrame.set(frame, [...(byFrame.get(frame) ?? []), recipient]);
      }
      for (const [frame, recipients] of byFrame) events.push({ kind: 'deliver', recipients, frame });
    }
    await Promise.all(events.map((event) => bus.publish(event)));
  });
  return {
    tell: (receipt, audience, exceptConnection) =>
      tell({ receipt, audience, ...(exceptConnection ? { exceptConnection } : {}) }),
  };
}
