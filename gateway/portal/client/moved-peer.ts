import { domainOf } from '../../../protocol/address.ts';
import { fetchDomainTitles } from './api.ts';
import { localPart, type Chat, type Entry } from './chat.ts';
import { h } from './dom.ts';
import { lookUpPeople, type Person } from './nodes.ts';

/** Where the other person of a direct conversation chats now, asked once per address while the page is open. */
const asked = new WeakMap<Chat, Map<string, Promise<Person | null>>>();

/**
 * The person of a direct conversation's other address, when they no longer chat there: moved to another
 * college, the campus directory finds them (by username, unique on the campus) at another address only.
 * Null for someone still there, an app, someone it does not find (a disabled account), and for another
 * organization's address: that organization's people are not in this campus's directory, and someone of
 * the same username here is someone else. A campus domain is one the gateway names by the units it serves.
 */
export function movedPeerOf(chat: Chat, entry: Entry): Promise<Person | null> {
  const peer = chat.peerOf(entry);
  if (!peer || entry.appNames.has(peer)) return Promise.resolve(null);
  let known = asked.get(chat);
  if (!known) asked.set(chat, (known = new Map()));
  let answer = known.get(peer);
  if (!answer) {
    // Unanswered (a node or the gateway out of reach): shown as before, and asked again when it opens next.
    answer = whereNow(chat, peer).catch(() => {
      known.delete(peer);
      return null;
    });
    known.set(peer, answer);
  }
  return answer;
}

async function whereNow(chat: Chat, peer: string): Promise<Person | null> {
  const username = localPart(peer);
  const person = (await lookUpPeople(chat.me, [username])).find((p) => p.username.toLowerCase() === username);
  if (!person || person.addresses.includes(peer)) return null;
  const [domain] = await fetchDomainTitles([domainOf(peer)]);
  if (!domain || domain.title === domain.name) return null;
  return person;
}

/**
 * The line a direct conversation shows once its other person chats elsewhere ("Frank Li now chats as
 * frank@arts.campus.test"), with a button that opens (or starts) the conversation there. Their name stays
 * theirs here too: the directory names the new address only, so the old one would show as a username.
 */
export function movedNote(
  chat: Chat,
  entry: Entry,
  host: { opened(entry: Entry): void; toast(text: string): void },
  found: (person: Person) => void,
): HTMLElement {
  const text = h('span', { class: 'moved-text' });
  const button = h('button', { type: 'button', class: 'secondary moved-open' }, 'Open that conversation');
  const note = h('p', { class: 'moved-note', role: 'note', hidden: true }, text, ' ', button);
  void movedPeerOf(chat, entry).then((person) => {
    const peer = chat.peerOf(entry);
    if (!person || !peer) return;
    chat.names.set(peer, person.name);
    text.textContent = `${person.name} now chats as ${person.address}`;
    button.onclick = () => {
      button.disabled = true;
      chat.startDirect(person).then(
        (opened) => host.opened(opened),
        (error: Error) => {
          button.disabled = false;
          host.toast(`Could not start a chat with ${person.name}: ${error.message}`);
        },
      );
    };
    note.hidden = false;
    found(person);
  });
  return note;
}
