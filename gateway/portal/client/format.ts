import { h, type Child } from './dom.ts';

/*
 * Times in the viewer's locale and time zone (Intl). A list shows a message's clock time; the day it
 * was written goes on a separator line above it, and the full date and time in its tooltip.
 */

const sameDay = (a: Date, b: Date) => a.toDateString() === b.toDateString();

/** The clock time of a moment: "14:05" (or "2:05 PM", as the viewer's locale writes it). */
export function clockOf(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { timeStyle: 'short' });
}

/** A date without its year when it is this year's: "5 Dec", "5 Dec 2025". */
function shortDateOf(at: Date, now: Date): string {
  return at.getFullYear() === now.getFullYear()
    ? at.toLocaleDateString([], { month: 'short', day: 'numeric' })
    : at.toLocaleDateString([], { dateStyle: 'medium' });
}

/** For a conversation list or presence: the clock time today, the date before today. */
export function timeOf(iso: string, now = new Date()): string {
  const at = new Date(iso);
  return sameDay(at, now) ? clockOf(iso) : shortDateOf(at, now);
}

/** For a search result, which may be of any day: the clock time today, else the date and the time. */
export function whenOf(iso: string, now = new Date()): string {
  const at = new Date(iso);
  return sameDay(at, now) ? clockOf(iso) : `${shortDateOf(at, now)}, ${clockOf(iso)}`;
}

export function fullTimeOf(iso: string): string {
  return new Date(iso).toLocaleString([], { dateStyle: 'full', timeStyle: 'short' });
}

/** The viewer's calendar day of a moment, as a key ("2026-12-05"): messages of one day share it. */
export function dayOf(iso: string): string {
  const at = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
}

/** A day separator's words: "Today", "Yesterday", else the date ("Saturday 5 December", with the year if not this one). */
export function dayLabelOf(iso: string, now = new Date()): string {
  const at = new Date(iso);
  if (sameDay(at, now)) return 'Today';
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(at, yesterday)) return 'Yesterday';
  return at.toLocaleDateString([], {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    ...(at.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }),
  });
}

export function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

/**
 * Why a message did not reach another domain, said to its author after "Not delivered:". A frame's reason
 * is "code: text", an entry's the code alone (docs/protocol.md, `delivery.failed`).
 */
export function notDeliveredWhy(domain: string, reason: string): string {
  const code = reason.split(':', 1)[0]!.trim();
  if (code === 'unknown_destination') return `${domain} is no longer part of the campus`;
  if (code === 'policy_denied') return `the federation policy keeps ${domain} apart from this college`;
  return `${domain} refused it (${code || 'no reason given'})`;
}

/**
 * Why a card click failed, for a toast. Only an answer from the app is the app's doing ("The app did not
 * take that: …"); why the node did not even ask it (`app_unavailable`: turned off, gone) comes whole, as the
 * node words it; and an outage on the way (the sign-in service, the college hosting the conversation, the
 * page's own connection) is said as one, with whether the app may have acted.
 */
export function cardClickFailure(error: { code?: string; message: string }): string {
  switch (error.code) {
    case 'app_unavailable':
      return error.message;
    case 'gateway_unavailable':
      return 'Could not reach the campus sign-in service to check this click; try again in a moment.';
    case 'federation_unavailable':
      return 'Could not reach the college that hosts this conversation to pass on this click; try again in a moment.';
    case 'offline':
      return 'You are offline, so this click was not sent; try again once you are back online.';
    case 'disconnected':
      return 'The connection to chat was lost before an answer came; the app may or may not have acted on this click.';
    case 'timeout':
      return 'No answer came in time; the app may or may not have acted on this click.';
    default:
      return `The app did not take that: ${error.message}`;
  }
}

/**
 * Up to two initials of a name, from its letters and digits only: "Eng Lab <b>Booking</b>" is "EB", never
 * "E<". A name with none is "?".
 */
export function initials(name: string): string {
  const words = (name.match(/[\p{L}\p{N}]+/gu) ?? []).map((word) => Array.from(word)[0]!);
  if (words.length === 0) return '?';
  return (words[0]! + (words.length > 1 ? words.at(-1)! : '')).toUpperCase();
}

/** A stable hue per person, so avatars are told apart at a glance. */
export function hueClass(seed: string): string {
  let hash = 0;
  for (const c of seed) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hue-${hash % 8}`;
}

const TOKEN = /(@[A-Za-z0-9._-]+)|(\bhttps?:\/\/[^\s<>"']+)/giu;

/** Ends a sentence or a quote rather than a web address: "see https://x.test/booking." links without the dot. */
const TRAILING = new Set(['.', ',', ':', ';', '!', '?', '…', '*', '_', '~']);
const OPENER: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
const count = (text: string, char: string) => text.split(char).length - 1;

/**
 * The web address a run of text starting with http(s):// stands for: without the punctuation after it,
 * and without a closing bracket it did not open ("(see https://x.test/a)" ends at "a"; a Wikipedia
 * "https://x.test/Set_(mathematics)" keeps its own).
 */
export function linkEnd(run: string): string {
  let link = run;
  for (;;) {
    const last = link.at(-1) ?? '';
    const opener = OPENER[last];
    if (TRAILING.has(last) || (opener && count(link, opener) < count(link, last))) link = link.slice(0, -1);
    else return link;
  }
}

/**
 * A link to a web page, opened in a new tab that cannot reach back into the portal; null for anything but
 * http and https (`javascript:`, `data:`), which is left as text. Its text is set as text, never parsed.
 */
export function webLink(url: string, text: Child = url, className = 'web-link'): HTMLAnchorElement | null {
  const safe = URL.parse(url);
  if (!safe || (safe.protocol !== 'https:' && safe.protocol !== 'http:')) return null;
  return h('a', { class: className, href: safe.href, target: '_blank', rel: 'noopener noreferrer' }, text);
}

/**
 * A message's text as DOM: mentions of members highlighted (the person's own too), web addresses made
 * links (webLink). Everything else stays plain text; nothing is parsed as HTML.
 */
export function richText(text: string, mentions: string[], me: string): Child[] {
  const out: Child[] = [];
  const mentioned = new Map(mentions.map((address) => [address.split('@')[0]!.toLowerCase(), address]));
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const index = match.index ?? 0;
    if (index > last) out.push(text.slice(last, index));
    const [whole, mention, run] = match;
    if (mention) {
      // "@dave." at the end of a sentence mentions dave, as the composer takes it.
      const name = mention.replace(/[._-]+$/, '');
      const address = mentioned.get(name.slice(1).toLowerCase());
      out.push(
        address ? h('span', { class: address === me ? 'mention mention-me' : 'mention', title: address }, name) : name,
      );
      last = index + name.length;
    } else {
      // What follows the address (a full stop, a closing bracket) is text again.
      const link = linkEnd(run ?? whole);
      out.push(webLink(link) ?? link);
      last = index + link.length;
    }
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Text an app wrote (a card's text and values): its web addresses made links, and nothing else. */
export function linkedText(text: string): Child[] {
  return richText(text, [], '');
}

/** Characters with a meaning in a regular expression (with the `u` flag, only these may be escaped). */
const SYNTAX = /[\\^$.*+?()[\]{}|/]/g;

/**
 * A search result's text with what the search found in it marked: every place the query occurs, in any
 * letter case (as the node finds it). Text nodes and <mark> elements only; nothing is parsed as HTML.
 */
export function markMatches(text: string, query: string): Child[] {
  const wanted = query.trim();
  if (!wanted) return [text];
  const out: Child[] = [];
  let last = 0;
  for (const match of text.matchAll(new RegExp(wanted.replace(SYNTAX, '\\$&'), 'giu'))) {
    const index = match.index ?? 0;
    if (index > last) out.push(text.slice(last, index));
    out.push(h('mark', {}, match[0]));
    last = index + match[0].length;
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
    case 'member.moved':
      // Their name is the same at the new address: where they chat now is what changed.
      return `${members} moved to ${typeof message.to === 'string' ? message.to.slice(message.to.lastIndexOf('@') + 1) : 'another college'}`;
    case 'member.role':
      return message.role === 'owner'
        ? `${by} made ${members} the owner`
        : `${by} made ${members} ${String(message.role ?? '')}`;
    default:
      return 'The conversation changed';
  }
}
