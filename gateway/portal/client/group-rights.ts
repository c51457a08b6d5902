import type { Member } from '../../../sdk/client.ts';
import type { Entry } from './chat.ts';

export type Role = Member['role'];

/**
 * What a member may change in a group, as the node decides it (node/conversations: rename-group.ts,
 * invite-members.ts, remove-member.ts, set-role.ts; node/webhooks/manage-webhooks.ts), so that the page
 * offers only what will be taken.
 * The node has the last word: a right lost a moment ago is refused there, and the refusal is shown.
 * Only the group's home changes it: a member whose conversation is on another college's node can leave
 * from there, nothing more (`not_home`).
 */
export type Rights = {
  role: Role;
  /** The group's home is the node this conversation is on. */
  atHome: boolean;
  rename: boolean;
  invite: boolean;
  /** Whether a member of this role may be removed (never oneself: one leaves instead). */
  remove(them: Role): boolean;
  /** Making members admins and admins members again: the owner only. */
  setRoles: boolean;
  /** Listing, creating and revoking the group's incoming webhooks: its owner and admins. */
  webhooks: boolean;
};

export function rightsIn(entry: Entry): Rights {
  const role = entry.conv.members.find((m) => m.address === entry.me)?.role ?? 'member';
  const atHome = entry.conv.homeDomain === entry.domain;
  const manager = atHome && (role === 'owner' || role === 'admin');
  return {
    role,
    atHome,
    rename: manager,
    invite: manager,
    remove: (them) => atHome && (role === 'owner' || (role === 'admin' && them === 'member')),
    setRoles: atHome && role === 'owner',
    webhooks: manager,
  };
}
