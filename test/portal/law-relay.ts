import { randomUUID } from 'node:crypto';

/*
 * What the Law node, home of a group, relays to Engineering in the portal tests: the portal must show a
 * group hosted by another college as it shows its own, whatever the home says.
 */

export const LENA = 'lena@law.campus.test';

/** A group hosted by Law, Lena its owner and `members` the rest, as its home relays it. */
export function lawGroup(id: string, title: string, members: string[]) {
  return {
    type: 'conversation',
    conversation: {
      id,
      kind: 'group',
      homeDomain: 'law.campus.test',
      title,
      members: [LENA, ...members].map((address, i) => ({
        address,
        role: i === 0 ? 'owner' : 'member',
        state: 'active',
        joinedSeq: 0,
      })),
    },
  };
}

/** An entry of a group hosted by Law, as its home relays it: Lena's text, now, unless told otherwise. */
export function lawEntry(
  conversationId: string,
  seq: number,
  body: Record<string, unknown>,
  options: { sender?: string; kind?: string; at?: Date } = {},
) {
  return {
    type: 'entry',
    conversationId,
    message: {
      id: randomUUID(),
      seq,
      sender: options.sender ?? LENA,
      clientMsgId: `relayed-${randomUUID()}`,
      kind: options.kind ?? 'text',
      body: JSON.stringify(body),
      refId: null,
      createdAt: (options.at ?? new Date()).toISOString(),
      editedAt: null,
      recalledAt: null,
    },
  };
}
