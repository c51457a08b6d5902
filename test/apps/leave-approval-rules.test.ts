import type { Request } from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { approverFor } from '../../examples/leave-approval/approvers.ts';
import { DEMO_APPROVERS } from '../../cli/leave-approval-unit.ts';
import { DEMO_USERS } from '../../gateway/seed/demo.ts';
import { keepSignIn, takeSignIn } from '../../examples/leave-approval/pending-sign-ins.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('who approves whose leave in the leave-approval example', () => {
  const rules = [
    { unit: 'campus/eng', approver: 'carol@arts.campus.test' },
    { unit: 'campus/eng/cs', approver: 'grace@eng.campus.test' },
    { unit: 'campus', approver: 'dean@arts.campus.test' },
  ];
  const person = (units: string[], address: string | null = 'someone@eng.campus.test') => ({ units, address });

  it("asks the approver of a person's nearest unit, student or staff alike", () => {
    expect(approverFor(rules, person(['campus/eng/cs']))).toBe('grace@eng.campus.test');
    expect(approverFor(rules, person(['campus/eng/ee']))).toBe('carol@arts.campus.test');
    expect(approverFor(rules, person(['campus/arts/music']))).toBe('dean@arts.campus.test');
  });

  it('asks the next approver above an approver for her own leave, and nobody when there is none', () => {
    expect(approverFor(rules, person(['campus/eng/cs'], 'grace@eng.campus.test'))).toBe('carol@arts.campus.test');
    expect(approverFor(rules, person(['campus/eng/ee'], 'carol@arts.campus.test'))).toBe('dean@arts.campus.test');
    expect(approverFor(rules, person(['campus'], 'dean@arts.campus.test'))).toBeNull();
  });

  it('finds an approver for everyone of the demo campus who has a chat address, Carol included', () => {
    const homes: Record<string, string> = { 'campus/eng': 'eng.campus.test', 'campus/arts': 'arts.campus.test' };
    for (const user of DEMO_USERS) {
      const home = Object.entries(homes).find(
        ([unit]) => user.units[0].startsWith(`${unit}/`) || user.units[0] === unit,
      );
      if (!home) continue; // admin: no chat account, told so by the app
      const address = `${user.username}@${home[1]}`;
      const approver = approverFor(DEMO_APPROVERS, { units: [...user.units], address });
      expect(approver, user.username).not.toBeNull();
      expect(approver, user.username).not.toBe(address);
    }
    const carol = { units: ['campus/arts/music', 'campus/eng/ee'], address: 'carol@arts.campus.test' };
    expect(approverFor(DEMO_APPROVERS, carol)).toBe('eng-admin@eng.campus.test');
  });
});

describe("the app's sign-ins under way", () => {
  const browser = () => ({ session: {} }) as unknown as Request;
  const secrets = { verifier: 'v', nonce: 'n' };

  it('gives each sign-in back once, by its state, for ten minutes', () => {
    const req = browser();
    keepSignIn(req, 'one', secrets);
    keepSignIn(req, 'two', secrets);
    expect(takeSignIn(req, 'forged')).toBeUndefined();
    expect(takeSignIn(req, 'one')).toMatchObject(secrets);
    expect(takeSignIn(req, 'one')).toBeUndefined();
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 9 * 60_000 });
    keepSignIn(req, 'three', secrets);
    vi.setSystemTime(Date.now() + 2 * 60_000);
    expect(takeSignIn(req, 'two')).toBeUndefined();
    expect(takeSignIn(req, 'three')).toMatchObject(secrets);
  });

  it('keeps the five latest starts of a browser, forgetting older ones', () => {
    const req = browser();
    for (const state of ['a', 'b', 'c', 'd', 'e', 'f']) keepSignIn(req, state, secrets);
    expect(takeSignIn(req, 'a')).toBeUndefined();
    for (const state of ['b', 'c', 'd', 'e', 'f']) expect(takeSignIn(req, state), state).toMatchObject(secrets);
  });
});
