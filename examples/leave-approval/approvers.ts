import type { ApproverRule } from './config.ts';

const within = (path: string, root: string) => path === root || path.startsWith(`${root}/`);

/**
 * The approver of a student: the configured staff member of the student's nearest unit (the rule with
 * the longest unit path that contains one of the student's units). Configured rather than looked up:
 * an app sees only the people who sign in to it, and who approves is the college's decision anyway.
 */
export function approverFor(rules: ApproverRule[], units: string[]): string | null {
  let best: ApproverRule | null = null;
  for (const rule of rules) {
    if (!units.some((u) => within(u, rule.unit))) continue;
    if (!best || rule.unit.length > best.unit.length) best = rule;
  }
  return best?.approver ?? null;
}
