import type { CardCallback } from '../../protocol/verify-callback.ts';
import type { Card } from '../../sdk/types.ts';
import { approverCard, studentCard } from './cards.ts';
import type { Chat } from './chat.ts';
import type { LeaveStore } from './store.ts';

/**
 * A verified card click: the approver named on the request approves or rejects it, once, and never their
 * own request. The request is updated in the app's store, the requester's status card follows, and the
 * answer is the approver's card as it now is, which the node shows to every device in that conversation.
 */
export async function decide(
  deps: { store: LeaveStore; chat: Chat; log: (message: string, error?: unknown) => void },
  event: CardCallback,
): Promise<{ card?: Card; toast?: string }> {
  await deps.store.learnName(event.user.address, event.user.name);
  const request = deps.store.byCard(event.messageId);
  if (!request) return { toast: 'This leave request is not known to the app any more.' };
  // New requests never name their requester as approver (approvers.ts); one recorded otherwise is refused too.
  if (event.user.address === request.student.address)
    return { toast: 'You cannot decide your own leave request; another approver does.' };
  if (event.user.address !== request.approver) return { toast: `Only ${request.approver} decides this request.` };
  if (request.status !== 'pending') return { card: approverCard(request), toast: `Already ${request.status}.` };
  if (event.actionId !== 'approve' && event.actionId !== 'reject') return { toast: 'Unknown action.' };

  const decided = await deps.store.decide(request.id, {
    status: event.actionId === 'approve' ? 'approved' : 'rejected',
    decidedBy: event.user.name,
    decidedAt: new Date().toISOString(),
  });
  if (!decided)
    return { card: approverCard(deps.store.get(request.id)!), toast: `Already ${deps.store.get(request.id)!.status}.` };
  if (decided.studentCard) {
    await deps.chat
      .updateCard(decided.student.address, decided.studentCard, studentCard(decided))
      .catch((error: unknown) => deps.log("could not update the requester's card", error));
  }
  return { card: approverCard(decided), toast: decided.status === 'approved' ? 'Approved.' : 'Rejected.' };
}
