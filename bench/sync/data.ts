/**
 * The histories the first-sync benchmark reads, written straight into the node's MariaDB tables (the
 * node's own schema, after its migrations) with multi-row INSERTs: writing two million messages through
 * the protocol would take far longer than the benchmark. Rows look like what the node writes: UUIDv7
 * ids, a gap-free `seq` per conversation, a body of `{"text": …}`, conversations' `last_seq` and
 * `updated_at` at their last message, and each person's read position near the end.
 */
import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import { uuidv7 } from '../../core/uuid7.ts';

export type PersonShape = {
  /** The person whose new device syncs. */
  address: string;
  conversations: number;
  messagesEach: number;
  /** The peers' addresses start after this index (u00003…), so that two people's peers differ. */
  firstPeer: number;
};

const WORDS = (
  'the a to and of in is it you that for on we this with be have are not at can will do if about just ' +
  'meeting lecture lab report draft deadline tomorrow today tonight week friday monday library campus ' +
  'exam notes slides project group thanks sure okay great sounds good see later room building coffee ' +
  'question answer problem set homework results data figure chapter reading seminar office hours ' +
  'please could would should maybe already still again after before morning afternoon evening late ' +
  'professor assistant student team update review check send shared link file folder version final'
).split(' ');

/** A small deterministic generator, so that every run writes the same texts. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A chat line of 2 to 30 words (most short), sometimes with a question mark or a number. */
function line(next: () => number): string {
  const length = 2 + Math.floor(next() ** 2 * 28);
  const words: string[] = [];
  for (let i = 0; i < length; i++) words.push(WORDS[Math.floor(next() * WORDS.length)]!);
  if (next() < 0.1) words.push(String(Math.floor(next() * 500)));
  const text = words.join(' ');
  return `${text[0]!.toUpperCase()}${text.slice(1)}${next() < 0.2 ? '?' : ''}`;
}

const peer = (domain: string, index: number) => `u${String(index).padStart(5, '0')}@${domain}`;
const ROWS_PER_INSERT = 1_000;
const YEAR_MS = 365 * 24 * 3600 * 1000;

/**
 * One person's conversations: four in five direct (with one peer each), the rest groups of five; in
 * each, `messagesEach` messages over the past year, taking turns among the members. Resolves with the
 * messages written.
 */
export async function writeHistories(
  databaseUrl: string,
  domain: string,
  person: PersonShape,
  onProgress: (written: number) => void,
): Promise<number> {
  // Dates as UTC, as the node's own connection writes them.
  const connections = await Promise.all([0, 1].map(() => mysql.createConnection({ uri: databaseUrl, timezone: 'Z' })));
  const now = Date.now();
  let written = 0;
  try {
    let nextPeer = person.firstPeer;
    const work: (() => Promise<void>)[] = [];
    for (let c = 0; c < person.conversations; c++) {
      const group = c % 5 === 4;
      const peers = Array.from({ length: group ? 4 : 1 }, () => peer(domain, nextPeer++));
      const members = [person.address, ...peers];
      work.push(async () => {
        const connection = connections[c % 2]!;
        await writeConversation(connection, { domain, members, group, index: c, now, messages: person.messagesEach });
        written += person.messagesEach;
        onProgress(written);
      });
    }
    // Two connections, each writing its conversations one after another.
    await Promise.all(
      [0, 1].map(async (lane) => {
        for (let i = lane; i < work.length; i += 2) await work[i]!();
      }),
    );
  } finally {
    await Promise.all(connections.map((c) => c.end()));
  }
  return written;
}

async function writeConversation(
  connection: mysql.Connection,
  c: { domain: string; members: string[]; group: boolean; index: number; now: number; messages: number },
): Promise<void> {
  const id = randomUUID();
  const next = random(c.index * 7919 + c.messages);
  const start = c.now - YEAR_MS;
  const step = Math.floor(YEAR_MS / (c.messages + 1));
  const at = (seq: number) => new Date(start + seq * step);
  const last = at(c.messages);
  await connection.query(
    'INSERT INTO conversations (id, kind, home_domain, title, direct_key, last_seq, created_by, created_at, updated_at) VALUES (?)',
    [
      [
        id,
        c.group ? 'group' : 'direct',
        c.domain,
        c.group ? `Study group ${c.index}` : null,
        c.group ? null : [...c.members].sort().join('|'),
        c.messages,
        c.members[0],
        at(0),
        last,
      ],
    ],
  );
  // Most conversations are read to the end; some have a few unread.
  const unread = c.index % 4 === 0 ? 1 + Math.floor(next() * 5) : 0;
  await connection.query(
    'INSERT INTO members (conversation_id, address, role, state, joined_seq, read_seq, delivered_seq, created_at, updated_at) VALUES ?',
    [
      c.members.map((address, i) => [
        id,
        address,
        c.group && i === 0 ? 'owner' : 'member',
        'active',
        0,
        i === 0 ? c.messages - unread : c.messages,
        c.messages,
        at(0),
        last,
      ]),
    ],
  );
  for (let from = 1; from <= c.messages; from += ROWS_PER_INSERT) {
    const rows: unknown[][] = [];
    for (let seq = from; seq < from + ROWS_PER_INSERT && seq <= c.messages; seq++) {
      // The person's own turn about a third of the time; the rest from the others.
      const sender = next() < 0.35 ? c.members[0]! : c.members[1 + Math.floor(next() * (c.members.length - 1))]!;
      const created = at(seq);
      rows.push([
        id,
        seq,
        uuidv7(created.getTime()),
        sender,
        `b${c.index.toString(36)}x${seq.toString(36).padStart(6, '0')}`,
        'text',
        JSON.stringify({ text: line(next) }),
        null,
        created,
        null,
        null,
      ]);
    }
    await connection.query(
      'INSERT INTO messages (conversation_id, seq, id, sender, client_msg_id, kind, body, ref_id, created_at, edited_at, recalled_at) VALUES ?',
      [rows],
    );
  }
}
