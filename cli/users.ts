import { NotFoundError } from '../core/errors.ts';
import { createUser } from '../gateway/accounts/create-user.ts';
import { signOutEverywhere } from '../gateway/accounts/end-access.ts';
import { listUsers, SEARCH_MAX } from '../gateway/accounts/list-users.ts';
import { findManageableUser } from '../gateway/accounts/find-user.ts';
import { unlockUser } from '../gateway/accounts/unlock-user.ts';
import { presentUsers, type PresentedUser } from '../gateway/accounts/present-user.ts';
import { domainsServing } from '../gateway/domains/domains.ts';
import { resetPassword, setUserStatus } from '../gateway/accounts/update-user.ts';
import { amendUser, type UserAmendment } from '../gateway/accounts/amend-user.ts';
import { ChatMoveError } from '../gateway/accounts/chat-moves.ts';
import type { GatewayContext } from '../gateway/context.ts';
import { ROLES, type User } from '../gateway/models/index.ts';
import { UsageError, type Args, type Command, type CommandGroup, type Io, type OptionSpec } from './command.ts';
import { importCommand } from './users-import.ts';
import { withSession } from './session.ts';
import { readFirstLine, readPasswordFromStdin } from './stdin.ts';
import { deleteAccount } from '../gateway/accounts/delete-account.ts';
import { table } from './table.ts';
import { describeFactors, factorsOf } from '../gateway/factors/factor-status.ts';
import { resetFactorsOf } from '../gateway/factors/reset-factors.ts';

// The most listUsers reads; a page past it lies past the last page of any campus anyway.
const LAST_PAGE_READ = 100_000;

/** --page as typed: zod's own wording ("expected number, received NaN") tells an operator nothing. */
function pageOption(args: Args): number | undefined {
  const raw = args.string('page');
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1) throw new UsageError('--page must be a whole number from 1');
  return Number(raw);
}

async function present(ctx: GatewayContext, user: User): Promise<PresentedUser> {
  return (await presentUsers(ctx, [user]))[0]!;
}

const unitsOf = (u: PresentedUser) =>
  u.units.map((unit) => (unit.primary && u.units.length > 1 ? `${unit.path}*` : unit.path)).join(', ');
/** An active account that cannot sign in for want of a password says so where its status is read. */
function statusOf(u: PresentedUser): string {
  if (u.status !== 'active') return u.status;
  if (u.locked) return 'locked';
  return u.passwordStatus === 'none' ? 'no password yet' : 'active';
}

/** Where the person's entry is, and the name it gives them when that is not their Atrium username. */
function describeDirectory(u: PresentedUser): string {
  const d = u.directory;
  if (!d) return '  directory: none (a local account)';
  const renamed = d.directoryUsername !== null && d.directoryUsername !== u.username;
  return [
    `  directory: ${d.name}`,
    `    entry:   ${d.dn}`,
    ...(d.entryId ? [`    id:      ${d.entryId}`] : []),
    ...(renamed ? [`    named:   ${d.directoryUsername} there (renamed; signs in with either name)`] : []),
  ].join('\n');
}

/** Where a person chats, as their tokens say it: the home domain serves their primary unit. */
type ChatDomains = { home: string | null; domains: string[] };

async function chatDomainsOf(ctx: GatewayContext, user: PresentedUser): Promise<ChatDomains> {
  const paths = user.units.map((unit) => unit.path);
  const served = await domainsServing(ctx, paths);
  return { home: served[0] ?? null, domains: [...new Set(served.filter((d): d is string => d !== null))] };
}

function describeChat(u: PresentedUser, chat: ChatDomains): string {
  const primary = u.units.find((unit) => unit.primary)?.path ?? u.units[0]?.path ?? 'none of their units';
  const unserved = `no chat domain serves ${primary}`;
  if (chat.domains.length === 0) return `  chat:     none: ${unserved}`;
  const listed = chat.domains.map((d) => (d === chat.home ? `${d} (home)` : d)).join(', ');
  return `  chat:     ${listed}${chat.home ? '' : `; no home: ${unserved}, their primary unit`}`;
}

/** A temporary password: whom it asks what, and until when it works (or since when it no longer does). */
function temporaryWords(u: PresentedUser): string {
  const words = 'temporary — they choose their own at next sign-in';
  if (!u.passwordTemporaryUntil) return words;
  return u.passwordTemporaryExpired
    ? `${words}; it expired ${u.passwordTemporaryUntil} and signs in no more: set a new one (users reset-password)`
    : `${words}; it works until ${u.passwordTemporaryUntil}`;
}

function describePassword(u: PresentedUser): string {
  switch (u.passwordStatus) {
    case 'directory':
      return `the directory's: it is checked and changed in ${u.directory?.name}, not in Atrium`;
    case 'set':
      return u.passwordTemporary ? temporaryWords(u) : 'set';
    case 'passkey-only':
      return 'none; signs in with a passkey alone (passwordless sign-in is on)';
    case 'none':
      return [
        `none yet; the account cannot sign in until one is set: atrium users reset-password ${u.username} --password-stdin`,
        `            (or they ask for a link with "Forgot password" at sign-in, where the gateway sends mail)`,
      ].join('\n');
  }
}

function describeUser(u: PresentedUser): string {
  return [
    `${u.username} (${u.displayName} <${u.email}>)`,
    `  units:    ${u.units.map((unit) => (unit.primary ? `${unit.path} (primary)` : unit.path)).join(', ')}`,
    `  roles:    ${u.roles.join(', ')}`,
    `  password: ${describePassword(u)}`,
  ].join('\n');
}

/** Run again on someone already so, it says so and changes nothing (exit status 0: what was asked holds). */
function setStatus(status: 'active' | 'disabled', summary: string, done: string): Command {
  return {
    summary,
    args: ['USERNAME'],
    async run(args, io) {
      const { user, changed } = await withSession(io, async ({ ctx }) => {
        const edit = await setUserStatus(ctx, args.positionals[0]!, status);
        return { user: await present(ctx, edit.user), changed: edit.changed };
      });
      const text = changed
        ? `${done} ${user.username}.`
        : `${user.username} was already ${status === 'active' ? 'enabled' : 'disabled'}; nothing changed.`;
      return { json: user, text };
    },
  };
}

/** Asks for the username again before a deletion: a mistyped or mis-pasted name deletes nobody. */
async function confirmByUsername(io: Io, username: string): Promise<void> {
  io.stderr.write(`This deletes ${username}'s account for good. Type the username again to confirm: `);
  const typed = (await readFirstLine(io)).trim();
  if (typed.toLowerCase() !== username.trim().toLowerCase())
    throw new UsageError(
      `${typed ? `"${typed}" is not ${username}` : 'No username was typed'}: nothing was deleted (--yes deletes without asking)`,
    );
}

/** What `users update` changes, as the console's person form does; status and password have their commands. */
const UPDATE_OPTIONS: Record<string, OptionSpec> = {
  name: { type: 'string', value: 'NAME', help: 'display name' },
  email: { type: 'string', value: 'EMAIL', help: 'email address (also accepted at login)' },
  unit: {
    type: 'string',
    value: 'PATH',
    multiple: true,
    help: 'all their units, replacing those they have; the first is the primary unit',
  },
  'add-unit': { type: 'string', value: 'PATH', multiple: true, help: 'a unit to add them to' },
  'remove-unit': {
    type: 'string',
    value: 'PATH',
    multiple: true,
    help: 'a unit to take them out of; for their primary unit, the first unit left becomes it',
  },
  'primary-unit': {
    type: 'string',
    value: 'PATH',
    help: 'their primary unit, which sets their IM home domain: one of their units after the change',
  },
  role: {
    type: 'string',
    value: 'ROLE',
    multiple: true,
    help: `all their roles, replacing those they have (${ROLES.join(', ')})`,
  },
  'add-role': { type: 'string', value: 'ROLE', multiple: true, help: 'a role to give them' },
  'remove-role': { type: 'string', value: 'ROLE', multiple: true, help: 'a role to take from them' },
  'move-chat': {
    type: 'boolean',
    help: 'confirms new units that take them off a domain they chat on (their conversations there stay on its node)',
  },
};

/** The changes asked on the command line; wrong combinations are refused before anything is read. */
function amendmentOf(args: Args) {
  const given = Object.keys(UPDATE_OPTIONS).filter(
    (name) => name !== 'move-chat' && (args.string(name) !== undefined || args.list(name).length > 0),
  );
  if (given.length === 0)
    throw new UsageError(
      `nothing to change: give one or more of ${Object.keys(UPDATE_OPTIONS)
        .filter((name) => name !== 'move-chat')
        .map((name) => `--${name}`)
        .join(', ')}`,
    );
  for (const kind of ['unit', 'role'])
    if (given.includes(kind) && (given.includes(`add-${kind}`) || given.includes(`remove-${kind}`)))
      throw new UsageError(
        `--${kind} gives all their ${kind}s: use it alone, or --add-${kind} and --remove-${kind}, not both`,
      );
  return {
    displayName: args.string('name'),
    email: args.string('email'),
    units: args.list('unit').length > 0 ? args.list('unit') : undefined,
    addUnits: args.list('add-unit'),
    removeUnits: args.list('remove-unit'),
    primaryUnit: args.string('primary-unit'),
    roles: args.list('role').length > 0 ? args.list('role') : undefined,
    addRoles: args.list('add-role'),
    removeRoles: args.list('remove-role'),
    moveChat: args.flag('move-chat'),
  };
}

const FIELD_WORDS = { displayName: 'name', email: 'email', units: 'units', roles: 'roles' } as const;

function describeAmendment(a: UserAmendment, user: PresentedUser): string {
  if (a.changed.length === 0) return `${user.username} already had these; nothing changed.`;
  const lines = [`Updated the ${a.changed.map((f) => FIELD_WORDS[f]).join(', ')} of ${describeUser(user)}`];
  if (a.primaryTaken)
    lines.push(`Their primary unit is now ${a.primaryTaken.now}, since ${a.primaryTaken.dropped} was removed.`);
  if (a.directory)
    lines.push(
      `${user.username} comes from directory ${a.directory}: their name, email, units and roles follow it, so its next sync puts back what it says of them.`,
    );
  return lines.join('\n');
}

export const userCommands: CommandGroup = {
  add: {
    summary:
      'Creates a user. Without --password-stdin the account has no password and cannot sign in until one is set. A password given is temporary: they choose their own at their first sign-in.',
    args: ['USERNAME'],
    options: {
      name: { type: 'string', value: 'NAME', required: true, help: 'display name' },
      email: { type: 'string', value: 'EMAIL', required: true, help: 'email address (also accepted at login)' },
      unit: {
        type: 'string',
        value: 'PATH',
        multiple: true,
        required: true,
        help: 'org unit; the first is the primary unit, which sets the IM home domain',
      },
      role: { type: 'string', value: 'ROLE', multiple: true, required: true, help: `one of ${ROLES.join(', ')}` },
      'password-stdin': { type: 'boolean', help: 'read the password from the first line of stdin' },
      'no-temporary': {
        type: 'boolean',
        help: 'with --password-stdin: let them keep this password (only when they chose it themselves)',
      },
    },
    async run(args, io) {
      const password = args.flag('password-stdin') ? await readPasswordFromStdin(io) : undefined;
      if (args.flag('no-temporary') && password === undefined)
        throw new UsageError('--no-temporary goes with --password-stdin: without a password there is nothing to keep');
      const temporary = password !== undefined && !args.flag('no-temporary');
      const user = await withSession(io, async ({ ctx }) => {
        const input = {
          username: args.positionals[0],
          displayName: args.string('name'),
          email: args.string('email'),
          units: args.list('unit'),
          roles: args.list('role'),
          password,
        };
        return present(ctx, await createUser(ctx, input, { temporary }));
      });
      return { json: user, text: `Created user ${describeUser(user)}` };
    },
  },

  list: {
    summary: 'Lists users, 25 a page, optionally matching TEXT in username, name or email.',
    options: {
      q: { type: 'string', value: 'TEXT', help: 'search username, name and email' },
      page: { type: 'string', value: 'N', help: 'page number, from 1' },
    },
    async run(args, io) {
      const asked = pageOption(args);
      const q = args.string('q');
      // Refused before the database is opened, naming the option as typed.
      if (q !== undefined && q.trim().length > SEARCH_MAX)
        throw new UsageError(`--q takes at most ${SEARCH_MAX} characters of a username, name or email`);
      const page = await withSession(io, async ({ ctx }) => {
        const found = await listUsers(ctx, {
          q: args.string('q'),
          page: asked === undefined ? undefined : Math.min(asked, LAST_PAGE_READ),
        });
        const factors = await factorsOf(
          ctx,
          found.users.map((u) => u.id),
        );
        return { ...found, users: found.users.map((u) => ({ ...u, factors: factors.get(u.id)! })) };
      });
      if (page.total === 0) return { json: page, text: 'No users found.' };
      if (asked !== undefined && asked > page.pages)
        throw new NotFoundError(
          `There is no page ${asked}: the ${page.total} user(s) fit on ${page.pages === 1 ? 'page 1' : `pages 1 to ${page.pages}`}`,
        );
      const rows = page.users.map((u) => [
        u.username,
        u.displayName,
        u.email,
        unitsOf(u),
        u.roles.join(','),
        statusOf(u),
        u.directory?.name ?? '-',
        describeFactors(u.factors),
      ]);
      const more =
        page.page < page.pages
          ? ` Next: atrium users list${args.string('q') ? ` --q ${JSON.stringify(args.string('q'))}` : ''} --page ${page.page + 1}`
          : '';
      return {
        json: page,
        text: `${table(['USERNAME', 'NAME', 'EMAIL', 'UNITS (* primary)', 'ROLES', 'STATUS', 'DIRECTORY', '2ND FACTOR'], rows)}\nPage ${page.page} of ${page.pages}, ${page.total} user(s).${more}`,
      };
    },
  },

  show: {
    summary:
      'Shows one person: units, roles, status, second factor, chat domains, and the campus directory they come from (its entry, and the name it gives them).',
    args: ['USERNAME'],
    async run(args, io) {
      const user = await withSession(io, async ({ ctx }) => {
        const found = (await findManageableUser(ctx, args.positionals[0]!)).user;
        const [presented] = await presentUsers(ctx, [found]);
        const factors = (await factorsOf(ctx, [found.id])).get(found.id)!;
        return { ...presented!, factors, chat: await chatDomainsOf(ctx, presented!) };
      });
      const lastSignIn = user.lastLoginAt ? `last sign-in ${user.lastLoginAt}` : 'never signed in';
      const status = `${statusOf(user)}${user.locked ? ` until ${user.lockedUntil}` : ''}; ${lastSignIn}`;
      return {
        json: user,
        text: [
          describeUser(user),
          `  status:   ${status}`,
          `  factor:   ${describeFactors(user.factors)}`,
          describeChat(user, user.chat),
          describeDirectory(user),
        ].join('\n'),
      };
    },
  },

  update: {
    summary:
      "Changes a person's name, email, units, primary unit or roles, as the console's person form does (audited, the same rules); what is not given stays.",
    args: ['USERNAME'],
    options: UPDATE_OPTIONS,
    notes: [
      'Status and password have their own commands: users disable|enable USERNAME, users reset-password USERNAME.',
      "Someone from a campus directory keeps a change until the directory's next sync, which puts back what it says.",
      'Every member of a unit at once: atrium units move-members FROM TO.',
      'Example: atrium users update alice --remove-unit campus/eng/cs --add-unit campus/eng/ai --add-role staff',
    ].join('\n'),
    async run(args, io) {
      const asked = amendmentOf(args);
      const { amendment, user } = await withSession(io, async ({ ctx }) => {
        try {
          const amendment = await amendUser(ctx, args.positionals[0]!, asked);
          return { amendment, user: await present(ctx, amendment.user) };
        } catch (error) {
          if (error instanceof ChatMoveError) throw new ChatMoveError(error.move, 'run again with --move-chat');
          throw error;
        }
      });
      return {
        json: { user, changed: amendment.changed, primaryTaken: amendment.primaryTaken },
        text: describeAmendment(amendment, user),
      };
    },
  },

  disable: setStatus(
    'disabled',
    'Disables an account: it can no longer sign in, and every session of it ends.',
    'Disabled',
  ),
  enable: setStatus('active', 'Enables a disabled account again.', 'Enabled'),

  delete: {
    summary:
      "Deletes an account for good: every session of it ends as disabling ends it, and its password, second factors, email, name, units, roles and directory link are removed. Its username is never given again, so its chats stay with it, shown as a former member's.",
    args: ['USERNAME'],
    options: { yes: { type: 'boolean', help: 'delete without asking to type the username again' } },
    notes: [
      'Without --yes it asks to type the username again (the first line of stdin when piped).',
      'Refused for your own account in the console, and for the last active administrator.',
      'The audit log keeps what it recorded of the person before, and records the deletion (user.delete).',
    ].join('\n'),
    async run(args, io) {
      const username = args.positionals[0]!;
      if (!args.flag('yes')) await confirmByUsername(io, username);
      const deletion = await withSession(io, ({ ctx }) => deleteAccount(ctx, username));
      const signedOut =
        deletion.endedSessions === 0
          ? 'they were signed in nowhere'
          : `${deletion.endedSessions} browser(s) or device(s) signed out, with their apps and chat`;
      return {
        json: deletion,
        text: `Deleted ${deletion.username}: ${signedOut}. The username is kept so that nobody else gets it; their messages stay in their conversations, from a former member.`,
      };
    },
  },

  'sign-out': {
    summary:
      'Ends every session of a person: gateway sessions, refresh tokens and chat connections (a running gateway tells the nodes within seconds).',
    args: ['USERNAME'],
    async run(args, io) {
      const user = await withSession(io, async ({ ctx }) =>
        present(ctx, await signOutEverywhere(ctx, args.positionals[0]!)),
      );
      return { json: user, text: `Signed ${user.username} out everywhere.` };
    },
  },

  unlock: {
    summary:
      'Lifts the lock that too many failed sign-ins (wrong passwords or codes) put on an account, keeping its password; audited.',
    args: ['USERNAME'],
    async run(args, io) {
      const { user, wasLocked } = await withSession(io, async ({ ctx }) => {
        const { user: before } = await findManageableUser(ctx, args.positionals[0]!);
        const wasLocked = before.lockedUntil !== null && before.lockedUntil > new Date();
        return { user: await present(ctx, await unlockUser(ctx, before.username)), wasLocked };
      });
      const text = wasLocked
        ? `Unlocked ${user.username}: they can sign in again at once.`
        : `${user.username} was not locked; their count of failed sign-ins starts again from zero.`;
      return { json: { ...user, wasLocked }, text };
    },
  },

  'reset-password': {
    summary:
      'Sets a new password (read from the first line of stdin), lifts any lockout and ends every session of the person. It is temporary: they choose their own at their next sign-in, after their password and second factor.',
    args: ['USERNAME'],
    options: {
      'password-stdin': { type: 'boolean', required: true, help: 'read the new password from the first line of stdin' },
      'no-temporary': {
        type: 'boolean',
        help: 'let them keep this password (only when they chose it themselves): no new one at their next sign-in',
      },
    },
    async run(args, io) {
      const password = await readPasswordFromStdin(io);
      const temporary = !args.flag('no-temporary');
      const user = await withSession(io, async ({ ctx }) =>
        present(ctx, await resetPassword(ctx, args.positionals[0]!, password, { temporary })),
      );
      const next = temporary
        ? ' It is temporary: they choose their own at their next sign-in.'
        : ' They may keep it (--no-temporary).';
      return {
        json: { ...user, temporaryPassword: temporary },
        text: `Set a new password for ${user.username}.${next}`,
      };
    },
  },

  'reset-factors': {
    summary:
      "Removes a person's authenticator app, passkeys and recovery codes (a lost phone), lifts a lockout and signs them out everywhere; audited. They set one up again at /account/security, or at sign-in where the policy requires it. Someone with none is told so, and nothing changes.",
    args: ['USERNAME'],
    async run(args, io) {
      const { user, removed, unlocked } = await withSession(io, async ({ ctx }) => {
        const reset = await resetFactorsOf(ctx, args.positionals[0]!);
        return { user: await present(ctx, reset.user), removed: reset.removed, unlocked: reset.unlocked };
      });
      const lifted = unlocked ? ', lifted their lockout' : '';
      const text = removed
        ? `Reset the second factor of ${user.username}${lifted} and signed them out everywhere.`
        : `${user.username} has no second factor (no authenticator app, passkey or recovery code); nothing changed, and they stay signed in where they are.`;
      return { json: user, text };
    },
  },

  import: importCommand,
};
