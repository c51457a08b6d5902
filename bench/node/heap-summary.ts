import { readFileSync } from 'node:fs';

type HeapSnapshot = {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
};

export type HeapGroup = { name: string; bytesPerSocket: number; countPerSocket: number };

/** Shallow size and count per kind of heap object (constructor, closure name, or V8's internal type). */
function groupSizes(file: string): Map<string, { size: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { size: number; count: number }>();
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
  }
  return groups;
}

/**
 * What each added socket costs on the JS heap, by kind of object: the difference between two
 * snapshots divided by the sockets added between them. Shallow sizes, so each byte counts once.
 */
export function heapPerSocket(beforeFile: string, afterFile: string, sockets: number, top = 25): { total: number; groups: HeapGroup[] } {
  const before = groupSizes(beforeFile);
  const after = groupSizes(afterFile);
  const rows: HeapGroup[] = [];
  let total = 0;
  for (const [name, a] of after) {
    const b = before.get(name) ?? { size: 0, count: 0 };
    const bytes = (a.size - b.size) / sockets;
    total += bytes;
    rows.push({ name, bytesPerSocket: bytes, countPerSocket: (a.count - b.count) / sockets });
  }
  for (const [name, b] of before) if (!after.has(name)) total -= b.size / sockets;
  rows.sort((x, y) => y.bytesPerSocket - x.bytesPerSocket);
  return { total, groups: rows.slice(0, top) };
}
