import type { ApproverRule } from './config.ts';

const within = (path: string, root: string) => path === root || path.startsWith(`${root}/`);

/**
 * Who approves a person's leave, student or staff: the configured approver of their nearest unit (the rule
 * with the longest unit path that contains one of their units), never the person themselves. An approver's
 * own leave goes to the next rule that fits them (a unit above theirs, such as a campus-wide rule for the
 * designated approvers, or another of their units); none when they approve every unit of theirs alone.
 * Configured rather than looked up: an app sees only the people who sign in to it, and who approves is
 * the college's decision anyway.
 */
export function approverFor(rules: ApproverRule[], person: { units: string[]; address: string | null }): string | null {
  let best: ApproverRule | null = null;
  for (const rule of rules) {
    if (rule.approver === person.address) continue;
    if (!person.units.some((u) => within(u, rule.unit))) continue;
    if (!best || rule.unit.length > best.unit.length) best = rule;
  }
  return best?.approver ?? null;
}

/** Whether a person approves anyone's leave here: their page lists the requests they decide. */
export const isApprover = (rules: ApproverRule[], address: string | null) =>
  address !== null && rules.some((rule) => rule.approver === address);
