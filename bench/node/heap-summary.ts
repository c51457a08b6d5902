import { readFileSync } from 'node:fs';

type HeapSnapshot = {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
};

export type HeapGroup = { name: string; bytesPerSocket: number; countPerSocket: number };

/** Shallow size and count per kind of heap object (constructor, closure name, or V8's internal type). */
function groupSizes(file: string): {
  groups: Map<string, { size: number; count: number }>;
  strings: Map<string, { size: number; count: number }>;
} {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { size: number; count: number }>();
  const strings = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const name = snap.strings[snap.nodes[i + nameAt]!] ?? '';
    let key: string;
    if (type === 'object' || type === 'native') key = name.length > 60 ? `${name.slice(0, 57)}…` : name || `(${type})`;
    else if (type === 'closure') key = `closure ${name || '(anonymous)'}`;
    else if (type === 'hidden') key = name.startsWith('system / ') ? name : '(hidden)';
    else key = `(${type})`;
    const g = groups.get(key) ?? { size: 0, count: 0 };
    g.size += snap.nodes[i + sizeAt]!;
    g.count += 1;
    groups.set(key, g);
    if (type === 'string' || type === 'sliced string' || type === 'concatenated string') {
      // Strings by their first characters, so that kinds of retained text (tokens, ids, headers) stand out.
      const prefix = `${type}: ${JSON.stringify(name.slice(0, 18))}${name.length > 18 ? '…' : ''}`;
      const p = strings.get(prefix) ?? { size: 0, count: 0 };
      p.size += snap.nodes[i + sizeAt]!;
      p.count += 1;
      strings.set(prefix, p);
    }
  }
  return { groups, strings };
}

/**
 * What each added socket costs on the JS heap, by kind of object: the difference between two
 * snapshots divided by the sockets added between them. Shallow sizes, so each byte counts once.
 */
export function heapPerSocket(
  beforeFile: string,
  afterFile: string,
  sockets: number,
  top = 25,
): { total: number; groups: HeapGroup[]; strings: HeapGroup[] } {
  const before = groupSizes(beforeFile);
  const after = groupSizes(afterFile);
  const diff = (b: Map<string, { size: number; count: number }>, a: Map<string, { size: number; count: number }>) => {
    const rows: HeapGroup[] = [];
    let total = 0;
    for (const [name, x] of a) {
      const y = b.get(name) ?? { size: 0, count: 0 };
      total += (x.size - y.size) / sockets;
      rows.push({ name, bytesPerSocket: (x.size - y.size) / sockets, countPerSocket: (x.count - y.count) / sockets });
    }
    for (const [name, y] of b) if (!a.has(name)) total -= y.size / sockets;
    rows.sort((p, q) => q.bytesPerSocket - p.bytesPerSocket);
    return { total, rows };
  };
  const groups = diff(before.groups, after.groups);
  const strings = diff(before.strings, after.strings);
  return { total: groups.total, groups: groups.rows.slice(0, top), strings: strings.rows.slice(0, 8) };
}
