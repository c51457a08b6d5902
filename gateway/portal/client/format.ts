import { h, type Child } from './dom.ts';

export function timeOf(iso: string): string {
  const at = new Date(iso);
  const now = new Date();
  const sameDay = at.toDateString() === now.toDateString();
  return sameDay
    ? at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : at.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function fullTimeOf(iso: string): string {
  return new Date(iso).toLocaleString();
}

export function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? (parts.at(-1)?.[0] ?? '') : '')).toUpperCase();
}

/** A stable hue per person, so avatars are told apart at a glance. */
export function hueClass(seed: string): string {
  let hash = 0;
  for (const c of seed) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hue-${hash % 8}`;
}

const TOKEN = /(@[A-Za-z0-9._-]+)|(https?:\/\/[^\s<>"']+)/g;

/**
 * A message's text as DOM: mentions of members highlighted (the person's own too), web links made
 * links. Everything else stays plain text; nothing is parsed as HTML.
 */
export function richText(text: string, mentions: string[], me: string): Child[] {
  const out: Child[] = [];
  const mentioned = new Map(mentions.map((address) => [address.split('@')[0]!.toLowerCase(), address]));
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const index = match.index ?? 0;
    if (index > last) out.push(text.slice(last, index));
    const [whole, mention, link] = match;
    if (mention) {
      const address = mentioned.get(mention.slice(1).toLowerCase());
      out.push(
        address
          ? h('span', { class: address === me ? 'mention mention-me' : 'mention', title: address }, mention)
          : mention,
      );
    } else if (link) {
      const safe = URL.parse(link);
      out.push(
        safe && (safe.protocol === 'https:' || safe.protocol === 'http:')
          ? h('a', { href: safe.href, target: '_blank', rel: 'noopener noreferrer' }, link)
          : link,
      );
    } else {
      out.push(whole);
    }
    last = index + whole.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** A system entry (group changes) in words. */
export function systemText(
  message: { event?: string; [key: string]: unknown },
  name: (address: string) => string,
): string {
  const by = typeof message.by === 'string' ? name(message.by) : 'Someone';
  // The SDK checks the fields of the events it knows; a newer node's event may carry anything.
  const named = Array.isArray(message.members)
    ? message.members.filter((m): m is string => typeof m === 'string').map(name)
    : [];
  // A big group's entry names the first few of those it adds and counts them all.
  const others = typeof message.count === 'number' ? message.count - named.length : 0;
  const members = others > 0 ? `${named.join(', ')} and ${others.toLocaleString('en')} others` : named.join(', ');
  switch (message.event) {
    case 'group.created':
      return `${by} created the group “${String(message.title ?? '')}”`;
    case 'group.renamed':
      return `${by} renamed the group to “${String(message.title ?? '')}”`;
    case 'member.joined':
      return `${by} added ${members}`;
    case 'member.left':
      return `${members} left${typeof message.owner === 'string' ? `; ${name(message.owner)} is now the owner` : ''}`;
    case 'member.removed':
      return `${by} removed ${members}`;
    case 'member.role':
      return message.role === 'owner'
        ? `${by} made ${members} the owner`
        : `${by} made ${members} ${String(message.role ?? '')}`;
    default:
      return 'The conversation changed';
  }
}
