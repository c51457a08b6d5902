import { readFileSync } from 'node:fs';

export type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type Share = { name: string; ms: number; percent: number };
/** A kind of work, recognised by a stack frame (the innermost frame that some rule recognises decides). */
export type ActivityRule = { name: string; test: (f: CallFrame) => boolean };
export type ProfileSummary = {
  totalMs: number;
  busyMs: number;
  activities: Share[];
  packages: Share[];
  functions: Share[];
};

/** What the node was doing, judged from the innermost frame that says so (specific rules before generic ones). */
export const NODE_ACTIVITIES: ActivityRule[] = [
  {
    name: 'database: Sequelize + mysql2 + group commit',
    test: (f) =>
      /node_modules\/(sequelize|mysql2|lru\.min|sqlstring|denque|long|iconv-lite|generate-function|seq-queue|named-placeholders)\//.test(
        f.url,
      ) || /\/(?:im|node)\/messages\/group-commit\.ts$/.test(f.url),
  },
  {
    name: 'socket writes and fan-out (ws send, registry, presenters)',
    test: (f) =>
      /node_modules\/ws\/lib\/sender\.js/.test(f.url) ||
      /\/(?:im|node)\/(ws\/registry|ws\/text-frame|messages\/fan-out|messages\/present-message|bus\/local-bus)\.ts$/.test(
        f.url,
      ),
  },
  {
    name: 'frame intake (ws receive, JSON + zod validation, handlers, send use-case)',
    test: (f) =>
      /node_modules\/(ws\/lib\/(receiver|websocket|buffer-util|validation)\.js|zod\/)/.test(f.url) ||
      /\/(?:im|node|protocol)\/(ws\/(socket-server|parse-frame|handlers)|messages\/send-message|conversations\/(member-cache|membership)|frames|protocol\/frames)\.ts$/.test(
        f.url,
      ) ||
      f.url.endsWith('/core/validate.ts'),
  },
  {
    name: 'token verification (jose)',
    test: (f) => /node_modules\/jose\//.test(f.url) || /\/(?:im|node)\/auth\/token-verifier\.ts$/.test(f.url),
  },
];
const GENERIC: ActivityRule[] = [
  {
    name: 'Node socket I/O and streams (no caller above identified)',
    test: (f) => /^node:(net|internal\/(stream_base_commons|streams\/|net))/.test(f.url),
  },
  {
    name: 'promises, timers and microtasks',
    test: (f) => /^node:internal\/(process\/task_queues|timers)/.test(f.url) || f.url === 'node:timers',
  },
];

/** Self time by activity, by package or file, and the top functions of a V8 .cpuprofile. */
export function summariseProfile(
  file: string,
  projectRoot: string,
  top = 15,
  activityRules: ActivityRule[] = NODE_ACTIVITIES,
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0));
  }

  const activities = new Map<string, number>();
  const packages = new Map<string, number>();
  const functions = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const frame = node.callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') idleUs += us;
    const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + us);
    add(packages, packageOf(frame, projectRoot));
    add(functions, `${frame.functionName || '(anonymous)'} ${locationOf(frame, projectRoot)}`.trim());
    add(activities, activityOf(id, byId, parent, activityRules));
  }
  const busyUs = totalUs - idleUs;
  const shares = (map: Map<string, number>, n: number): Share[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, percent: (100 * us) / totalUs }));
  return {
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    activities: shares(activities, 20),
    packages: shares(packages, 12),
    functions: shares(functions, top),
  };
}

function activityOf(
  id: number,
  byId: Map<number, ProfileNode>,
  parent: Map<number, number>,
  activityRules: ActivityRule[],
): string {
  const leaf = byId.get(id)!.callFrame;
  if (leaf.functionName === '(idle)') return 'idle';
  if (leaf.functionName === '(garbage collector)') return 'garbage collection';
  if (leaf.functionName === '(program)') return 'V8/native, outside JS (program)';
  const stack: CallFrame[] = [];
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at)!.callFrame);
  for (const rules of [activityRules, GENERIC]) {
    for (const frame of stack) {
      const rule = rules.find((r) => r.test(frame));
      if (rule) return rule.name;
    }
  }
  return 'other';
}

function packageOf(frame: CallFrame, root: string): string {
  if (frame.functionName.startsWith('(')) return frame.functionName;
  const url = frame.url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url;
  if (url.includes(root)) return url.slice(url.indexOf(root) + root.length + 1);
  return url ? url : '(native / V8 builtins)';
}

function locationOf(frame: CallFrame, root: string): string {
  if (!frame.url) return '';
  let url = frame.url.replace(/^file:\/\//, '');
  if (url.includes(root)) url = url.slice(url.indexOf(root) + root.length + 1);
  return `${url}:${frame.lineNumber + 1}`;
}
