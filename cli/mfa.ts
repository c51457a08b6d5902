import {
  dropSecondFactorRequirement,
  listRequirements,
  requireSecondFactor,
  type ListedRequirement,
  type Requirement,
} from '../gateway/factors/policy.ts';
import {
  passkeyOnlyPeople,
  passwordlessAllowed,
  setPasswordless,
} from '../gateway/factors/passkeys/passwordless-policy.ts';
import { UsageError, type Args, type CommandGroup } from './command.ts';
import { withSession } from './session.ts';

/** Exactly one of --role and --unit names whom a requirement covers. */
function requirementOf(args: Args): { kind: 'role' | 'unit'; value: string } {
  const role = args.string('role');
  const unit = args.string('unit');
  if ((role === undefined) === (unit === undefined))
    throw new UsageError('give exactly one of --role ROLE and --unit PATH');
  return role !== undefined ? { kind: 'role', value: role } : { kind: 'unit', value: unit! };
}

const describe = (r: Requirement) =>
  r.kind === 'role' ? `everyone with role ${r.value}` : `everyone in unit ${r.value} and the units below it`;

// A unit admin's requirement, which that unit's admins may drop; a campus administrator's is the default.
const setBy = (r: ListedRequirement) => (r.setByCampus ? '' : ' (set by a unit admin)');

const describePasswordless = (on: boolean) =>
  on
    ? 'Passwordless sign-in is on: anyone with a passkey may sign in with it alone (the passkey must verify them by PIN or biometrics).'
    : 'Passwordless sign-in is off: a passkey serves only as the second factor after a password. Turn it on with: atrium mfa passwordless on';

const whom = {
  role: { type: 'string', value: 'ROLE', help: 'admin, unit-admin, staff or student' },
  unit: { type: 'string', value: 'PATH', help: 'an org unit, such as campus/eng (covers the units below it too)' },
} as const;

export const mfaCommands: CommandGroup = {
  require: {
    summary:
      'Requires a second factor of a role or a unit: such a person without one must set it up at their next sign-in.',
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
    summary: 'Shows whom a second factor is required of, and whether a passkey alone may sign people in.',
    async run(_args, io) {
      const { requirements, passwordless } = await withSession(io, async ({ ctx }) => ({
        requirements: await listRequirements(ctx),
        passwordless: await passwordlessAllowed(ctx),
      }));
      const text =
        requirements.length === 0
          ? 'A second factor is required of nobody (people may still set one up at /account/security). Require one with: atrium mfa require --role admin'
          : `A second factor is required of:\n${requirements.map((r) => `  ${describe(r)}${setBy(r)}`).join('\n')}`;
      // The JSON lists whom, as "atrium mfa require" takes it; who set each is for the reader.
      const whomOnly = requirements.map(({ kind, value }) => ({ kind, value }));
      return { json: { requirements: whomOnly, passwordless }, text: `${text}\n${describePasswordless(passwordless)}` };
    },
  },
  passwordless: {
    summary:
      'Allows (on) or stops (off) signing in with a passkey alone, without a password ("Sign in with a passkey").',
    args: ['on|off'],
    async run(args, io) {
      const setting = args.positionals[0];
      if (setting !== 'on' && setting !== 'off') throw new UsageError('say on or off: atrium mfa passwordless on');
      const { passwordless, stranded } = await withSession(io, async ({ ctx }) => ({
        passwordless: await setPasswordless(ctx, setting),
        stranded: setting === 'off' ? await passkeyOnlyPeople(ctx) : 0,
      }));
      // The console asks before this; here the operator typed it, so they are told whom it leaves out.
      const text = [describePasswordless(passwordless)];
      if (stranded > 0)
        text.push(
          `${stranded} ${stranded === 1 ? 'person has' : 'people have'} a passkey and no password (of their own or ` +
            'from a directory): they cannot sign in until given one (atrium users reset-password USERNAME ' +
            '--password-stdin) or until passwordless sign-in is on again.',
        );
      return { json: { passwordless }, text: text.join('\n') };
    },
  },
};
