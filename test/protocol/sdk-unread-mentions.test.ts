import { describe, expect, it } from 'vitest';
import { ConversationStore } from '../../sdk/conversation-store.ts';
import type { Conversation } from '../../sdk/client.ts';
import { conversationView, DAVE, ME, textEntry } from '../helpers/sdk-entries.ts';

/** A direct conversation as a node shows it, read up to 0 of 2 entries; `older` leaves out `unreadMentions`. */
function view(older: boolean): Conversation {
  return conversationView({
    lastSeq: 2,
    unread: 2,
    ...(older ? {} : { unreadMentions: 1 }),
    memberCount: 2,
    members: [
      { address: ME, role: 'member', readSeq: 0, deliveredSeq: 0 },
      { address: DAVE, role: 'member', readSeq: 2, deliveredSeq: 2 },
    ],
  });
}

const entry = textEntry;

/** The counts of the conversation as the store now shows it (a group change hands it out; here, a new view's answer). */
function shown(store: ConversationStore) {
  const known = store.put({ ...view(false), lastSeq: 0 }, ME);
  return { unread: known.unread, mentions: known.unreadMentions };
}

describe('the SDK’s count of unread mentions', () => {
  it('goes on from the node’s as mentions of the person come, are recalled and are read', () => {
    const store = new ConversationStore();
    store.put(view(false), ME);
    store.apply(entry(3, { text: '@alice', mentions: [ME] }), ME);
    store.apply(entry(4, { text: '@dave', mentions: [DAVE] }), ME);
    store.apply(entry(5, { sender: ME, text: '@alice, me', mentions: [ME] }), ME);
    expect(shown(store)).toEqual({ unread: 4, mentions: 2 });
    store.apply(entry(6, { kind: 'recall', refId: 'm3', text: undefined }), ME);
    expect(shown(store)).toEqual({ unread: 3, mentions: 1 });
    store.apply(entry(7, { text: '@alice again', mentions: [ME] }), ME);
    store.receipt({ conversationId: 'c1', address: ME, readSeq: 7, deliveredSeq: 7 }, ME);
    expect(shown(store)).toEqual({ unread: 0, mentions: 0 });
  });

  it('counts none of a node that does not: the field stays absent', () => {
    const store = new ConversationStore();
    store.put(view(true), ME);
    store.apply(entry(3, { text: '@alice', mentions: [ME] }), ME);
    expect(shown(store)).toEqual({ unread: 3, mentions: undefined });
  });
});
