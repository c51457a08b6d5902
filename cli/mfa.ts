import { dropSecondFactorRequirement, listRequirements, requireSecondFactor, type Requirement } from '../gateway/factors/policy.ts';
import { UsageError, type Args, type CommandGroup } from './command.ts';
import { withSession } from './session.ts';

/** Exactly one of --role and --unit names whom a requirement covers. */
function requirementOf(args: Args): { kind: 'role' | 'unit'; value: string } {
  const role = args.string('role');
  const unit = args.string('unit');
  if ((role === undefined) === (unit === undefined)) throw new UsageError('give exactly one of --role ROLE and --unit PATH');
  return role !== undefined ? { kind: 'role', value: role } : { kind: 'unit', value: unit! };
}

const describe = (r: Requirement) => (r.kind === 'role' ? `everyone with role ${r.value}` : `everyone in unit ${r.value} and the units below it`);

const whom = {
  role: { type: 'string', value: 'ROLE', help: 'admin, unit-admin, staff or student' },
  unit: { type: 'string', value: 'PATH', help: 'an org unit, such as campus/eng (covers the units below it too)' },
} as const;

export const mfaCommands: CommandGroup = {
  require: {
    summary: 'Requires a second factor of a role or a unit: such a person without one must set it up at their next sign-in.',
    options: whom,
    async run(args, io) {
      const requirement = await withSession(io, ({ ctx }) => requireSecondFactor(ctx, requirementOf(args)));
      return { json: requirement, text: `A second factor is now required of ${describe(requirement)}.` };
    },
  },
  unrequire: {
    summary: 'Drops a requirement added with "atrium mfa require" (people keep the factors they have).',
    options: whom,
    async run(args, io) {
      const requirement = await withSession(io, ({ ctx }) => dropSecondFactorRequirement(ctx, requirementOf(args)));
      return { json: requirement, text: `A second factor is no longer required of ${describe(requirement)}.` };
    },
  },
  policy: {
    summary: 'Shows whom a second factor is required of.',
    async run(_args, io) {
      const requirements = await withSession(io, ({ ctx }) => listRequirements(ctx));
      const text =
        requirements.length === 0
          ? 'A second factor is required of nobody (people may still set one up at /account/security). Require one with: atrium mfa require --role admin'
          : `A second factor is required of:\n${requirements.map((r) => `  ${describe(r)}`).join('\n')}`;
      return { json: { requirements }, text };
    },
  },
};
