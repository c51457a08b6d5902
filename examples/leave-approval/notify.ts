import { approverCard, studentCard } from './cards.ts';
import type { Chat } from './chat.ts';
import type { LeaveRequest, LeaveStore } from './store.ts';

/**
 * Tells chat about a new request: the approver gets the card with the buttons, the requester a status card.
 * Each card is recorded as soon as it is sent, and its client id is the request's own, so trying again
 * after a failure never sends a card twice.
 */
export async function notifyChat(store: LeaveStore, chat: Chat, request: LeaveRequest): Promise<LeaveRequest> {
  let current = request;
  try {
    if (!current.approverCard) {
      const id = await chat.sendCard(current.approver, approverCard(current), `leave-${current.id}-approver`);
      current = await store.update(current.id, { approverCard: id });
    }
    if (!current.studentCard) {
      const id = await chat.sendCard(current.student.address, studentCard(current), `leave-${current.id}-student`);
      current = await store.update(current.id, { studentCard: id });
    }
    return await store.update(current.id, { notifyError: null });
  } catch (error) {
    return store.update(current.id, { notifyError: (error as Error).message });
  }
}
