import type { Card } from '../../sdk/types.ts';
import { readableDay } from './dates.ts';
import type { LeaveRequest } from './store.ts';

const days = (r: LeaveRequest) => Math.round((Date.parse(r.to) - Date.parse(r.from)) / 86_400_000) + 1;
const fields = (r: LeaveRequest) => [
  { label: 'From', value: readableDay(r.from) },
  { label: 'To', value: readableDay(r.to) },
  { label: 'Days', value: String(days(r)) },
  { label: 'Reason', value: r.reason },
];
/**
 * Who decides, as people read it: their name as the app knows it now (`nameOf`: it learns names as people
 * sign in or click a card), else as it knew it when the request was made, else their chat address.
 */
export const approverOf = (r: LeaveRequest, nameOf?: (address: string) => string | undefined) =>
  nameOf?.(r.approver) ?? r.approverName ?? r.approver;
const outcome = (r: LeaveRequest) => `${r.status === 'approved' ? 'Approved' : 'Rejected'} by ${r.decidedBy}`;

/** What the approver gets in chat: the request, with the two buttons until it is decided. */
export function approverCard(r: LeaveRequest): Card {
  if (r.status !== 'pending')
    return { title: `Leave request from ${r.student.name}`, text: outcome(r), fields: fields(r), actions: [] };
  return {
    title: `Leave request from ${r.student.name}`,
    text: `${r.student.name} (${r.student.address}) asks for leave.`,
    fields: fields(r),
    actions: [
      { id: 'approve', label: 'Approve', style: 'primary' },
      { id: 'reject', label: 'Reject', style: 'danger' },
    ],
  };
}

/** What the person who asked gets in chat, student or staff: where their request stands. */
export function studentCard(r: LeaveRequest): Card {
  return {
    title: 'Your leave request',
    text: r.status === 'pending' ? `Waiting for ${approverOf(r)}` : outcome(r),
    fields: fields(r),
    actions: [],
  };
}
