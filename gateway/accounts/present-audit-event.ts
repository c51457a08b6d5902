import { Op } from 'sequelize';
import { showingControlCharacters } from '../../core/control-characters.ts';
import type { GatewayContext } from '../context.ts';
import type { AuditEvent } from '../models/index.ts';

/**
 * One line of an entry's details as a person reads it: `status: active → disabled`. A value that is a
 * moment (`until`, `expires at`) comes as `at` too, for the page to show in the reader's time zone.
 */
export type DetailLine = { key: string; value: string; at?: string };

export type PresentedAuditEvent = {
  id: number;
  at: string;
  actorName: string | null;
  /** The gateway acted on its own (a background job), not a person or the operator. */
  systemActor: boolean;
  action: string;
  /** What the entry did in words, where its action alone does not say it ("Disabled" for an edit that did). */
  label: string | null;
  target: string | null;
  /** The username a target that is a user id names, when that user still exists. */
  targetName: string | null;
  outcome: 'success' | 'failure';
  ip: string | null;
  /** The details as recorded (JSON), for whoever needs every field. */
  details: string | null;
  lines: DetailLine[];
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Names = Map<string, string>;

// Written by the gateway's own jobs (notify-nodes.ts), which older entries show without an actor.
const SYSTEM_ACTIONS = new Set(['logout.node']);

/** A moment as the gateway records it in details (`Date#toISOString`). */
const MOMENT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const isObject = (value: Json | undefined): value is { [key: string]: Json } =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function parseDetails(details: string | null): Json | undefined {
  if (details === null) return undefined;
  try {
    return JSON.parse(details) as Json;
  } catch {
    return details;
  }
}

/** A status change an edit made (`user.update` records the person's status before and the changes asked). */
export function statusChange(action: string, details: Json | undefined): 'Disabled' | 'Enabled' | null {
  if (action === 'user.disable') return 'Disabled';
  if (action === 'user.enable') return 'Enabled';
  if (action !== 'user.update' || !isObject(details)) return null;
  const { before, changes } = details;
  if (!isObject(before) || !isObject(changes) || changes.status === before.status) return null;
  if (changes.status === 'disabled') return 'Disabled';
  return changes.status === 'active' && before.status === 'disabled' ? 'Enabled' : null;
}

/** `displayName` → `display name`, `redirectUris` → `redirect URIs`. */
const words = (key: string) =>
  key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .replace(/\b(uri|url|id|ip)(s?)\b/g, (_, word: string, s: string) => `${word.toUpperCase()}${s}`);

/**
 * Counts recorded under the names the code gives them, in the helpdesk's words: an "artefact" is any
 * stored session, grant, code or token (oidc_payloads), of which one sign-in leaves several.
 */
const DETAIL_LABELS: Record<string, string> = {
  artefacts: 'sessions, grants and tokens ended',
  endedArtefacts: 'sessions, grants and tokens ended',
  endedSessions: 'browsers or devices signed out',
  portalSessions: 'portal sessions ended',
  consoleSessions: 'console sessions ended',
};

/** A user id, or an ended-access subject (`sub:ID`, `sid:SESSION`), in the words of the people it names. */
function text(value: string, names: Names): string {
  const sub = /^sub:(.+)$/.exec(value);
  if (sub) return `all sessions of ${names.get(sub[1]!) ?? sub[1]}`;
  const sid = /^sid:(.+)$/.exec(value);
  if (sid) return `session ${sid[1]!.slice(0, 8)}…`;
  return value.replace(UUID, (id) => names.get(id.toLowerCase()) ?? id);
}

/** A value on one line: lists joined, objects as `key=value`; nested lists and objects bracketed. */
function compact(value: Json, names: Names, nested = false): string {
  if (value === null) return 'none';
  if (typeof value === 'string') return showingControlCharacters(text(value, names));
  if (typeof value !== 'object') return String(value);
  const inner = Array.isArray(value)
    ? value.map((v) => compact(v, names, true)).join(', ')
    : Object.entries(value)
        .map(([k, v]) => `${words(k)}=${compact(v, names, true)}`)
        .join(', ');
  if (!nested) return inner === '' ? 'none' : inner;
  return Array.isArray(value) ? `[${inner}]` : `{${inner}}`;
}

const same = (a: Json | undefined, b: Json | undefined) => JSON.stringify(a) === JSON.stringify(b);

/** Details as lines; an edit's `before` and `changes` become one line per field it changed. */
function detailLines(details: Json | undefined, names: Names): DetailLine[] {
  if (details === undefined) return [];
  if (!isObject(details)) return [{ key: 'details', value: compact(details, names) }];
  const { before, changes, ...rest } = details;
  const lines: DetailLine[] = [];
  if (isObject(changes)) {
    const was = isObject(before) ? before : {};
    for (const [key, value] of Object.entries(changes)) {
      if (key in was && same(was[key], value)) continue;
      const shown = compact(value, names);
      lines.push({ key: words(key), value: key in was ? `${compact(was[key]!, names)} → ${shown}` : shown });
    }
    if (lines.length === 0) lines.push({ key: 'changes', value: 'none' });
  } else {
    if (before !== undefined) rest.before = before;
    if (changes !== undefined) rest.changes = changes;
  }
  for (const [key, value] of Object.entries(rest)) {
    const line = { key: DETAIL_LABELS[key] ?? words(key), value: compact(value, names) };
    lines.push(typeof value === 'string' && MOMENT.test(value) ? { ...line, at: value } : line);
  }
  return lines;
}

/** Every user id the entries name (as their target or in their details), with one lookup for the page. */
async function namesOf(ctx: GatewayContext, events: AuditEvent[]): Promise<Names> {
  const ids = new Set<string>();
  for (const event of events)
    for (const text of [event.target, event.details])
      for (const id of text?.match(UUID) ?? []) ids.add(id.toLowerCase());
  if (ids.size === 0) return new Map();
  const users = await ctx.models.User.findAll({
    attributes: ['id', 'username'],
    where: { id: { [Op.in]: [...ids] } },
    transaction: ctx.tx,
  });
  return new Map(users.map((u) => [u.id.toLowerCase(), u.username]));
}

/**
 * A page of entries as people read them: user ids as usernames, details as lines rather than JSON. What
 * people typed (a passkey's name, a username tried) is shown with its control and bidi characters as
 * their code points: recorded as it came, and read in the order it was typed.
 */
export async function presentAuditEvents(ctx: GatewayContext, events: AuditEvent[]): Promise<PresentedAuditEvent[]> {
  const names = await namesOf(ctx, events);
  return events.map((event) => {
    const details = parseDetails(event.details);
    const system = event.actorName === null && SYSTEM_ACTIONS.has(event.action);
    return {
      id: Number(event.id),
      at: event.at.toISOString(),
      actorName: system ? 'gateway' : event.actorName,
      systemActor: system || (event.actorId === null && event.actorName === 'gateway'),
      action: event.action,
      label: statusChange(event.action, details),
      target: event.target === null ? null : showingControlCharacters(event.target),
      targetName: event.target ? (names.get(event.target.toLowerCase()) ?? null) : null,
      outcome: event.outcome,
      ip: event.ip,
      details: event.details === null ? null : showingControlCharacters(event.details),
      lines: detailLines(details, names),
    };
  });
}
