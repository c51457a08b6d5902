import { Router, type Request, type Response } from 'express';
import { Op } from 'sequelize';
import { createUser } from '../../accounts/create-user.ts';
import { signOutEverywhereOf } from '../../accounts/end-access.ts';
import { findManageableUser, whyNotManageable } from '../../accounts/find-user.ts';
import { grantableRoles } from '../../accounts/grantable-roles.ts';
import { listUsers, SEARCH_MAX } from '../../accounts/list-users.ts';
import { presentUsers, type PresentedUser } from '../../accounts/present-user.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { directoryResetPages } from '../../directories/reset-page.ts';
import { unlockUser } from '../../accounts/unlock-user.ts';
import { editUser, resetPassword, StaleEditError, type ShownUser, type UserEdit } from '../../accounts/update-user.ts';
import { LastAdministratorError, OwnAdministratorError } from '../../accounts/keep-administrators.ts';
import { adminScopeOf, isFullAdmin } from '../../accounts/scope.ts';
import type { GatewayContext } from '../../context.ts';
import type { User } from '../../models/index.ts';
import { pageRequest, readPageAsked } from '../paging.ts';
import { shownIn, staleFormFailure } from '../shown-form.ts';
import { ChatMoveError, type ChatMove } from '../../accounts/chat-moves.ts';
import {
  bodyOf,
  formBody,
  formFailure,
  list,
  text,
  tooLongFailure,
  typedFormBody,
  unitsWithPrimary,
  type Body,
  type ChosenUnits,
  type FormFailure,
} from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';
import { factorsOf } from '../../factors/factor-status.ts';
import { accountHistory } from '../../accounts/account-history.ts';
import { resetFactorsOf } from '../../factors/reset-factors.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';
import { listRequirements, secondFactorRequired } from '../../factors/policy.ts';
import { PASSWORD_MAX } from '../../accounts/schemas.ts';
import { createUserWithLink, NEW_ACCOUNT_LINK_HOURS, type NewAccountMail } from '../../accounts/new-account-link.ts';
import { deletionRoute } from './user-deletion.ts';
import { devicesOf, deviceSignOutRoute, type DeviceSessions } from './user-devices.ts';

/** `units` as unitsWithPrimary orders them; until it has, the boxes ticked, to show them again. */
const newUserInput = (body: Body, units = list(body, 'units')) => ({
  username: text(body, 'username'),
  displayName: text(body, 'displayName'),
  email: text(body, 'email'),
  // An empty password fails validation: without a link mailed, the console sets an initial one.
  password: text(body, 'password'),
  units,
  roles: list(body, 'roles'),
});

const userChangesInput = (body: Body, units = list(body, 'units')) =>
  // The Disable (or Enable) section's own form changes the status alone: its other fields are not on it.
  statusOnly(body)
    ? { status: text(body, 'status') }
    : {
        displayName: text(body, 'displayName'),
        email: text(body, 'email'),
        units,
        roles: list(body, 'roles'),
        // The details form has no status: a post without one leaves it as it is.
        status: text(body, 'status') || undefined,
        moveChat: text(body, 'moveChat') === 'on',
      };

/** Whether a post to the person's page came from the Disable (or Enable) section's form. */
const statusOnly = (body: Body) => text(body, 'part') === 'status';

/**
 * A refusal of new units that take the person off a domain they chat on asks for the box below it; one
 * that would take an administrator's console away is said beside the field it concerns.
 */
function editFailure(error: unknown): FormFailure & { chatMove?: ChatMove } {
  if (error instanceof OwnAdministratorError || error instanceof LastAdministratorError) {
    return { ...formFailure(error), errors: { [error.field]: error.message }, notice: 'Nothing was saved.' };
  }
  if (!(error instanceof ChatMoveError)) return formFailure(error);
  const asked = new ChatMoveError(error.move, 'tick "Move their chat" and save again');
  return { ...formFailure(asked), chatMove: error.move };
}

/** Disabling someone ends all their sessions at once: only with its "I understand" box ticked. */
function disableNotUnderstood(username: string): FormFailure {
  return {
    status: 400,
    errors: { understood: `Tick “I understand” to disable ${username}.` },
    notice: 'Nothing was saved.',
  };
}

/**
 * What disabling ended, in the words of the person's account page ("Where you are signed in"): one gateway
 * session is one browser or device, whatever apps and chat it then opened.
 */
function endedSignIns(n: number): string {
  if (n === 0) return 'they were signed in nowhere';
  if (n === 1) return 'the 1 browser or device they were signed in on was signed out at once, with its apps and chat';
  return `the ${n} browsers or devices they were signed in on were signed out at once, with their apps and chat`;
}

/** What the administrator is told after an edit: what disabling or enabling did, and a primary unit taken over. */
function editDone({ user, edited, disabled }: UserEdit, chosen: ChosenUnits): string {
  if (edited.length === 0) return `Nothing changed for ${user.username}.`;
  const primary =
    chosen.dropped && edited.includes('units')
      ? ` Their primary unit is now ${chosen.primary}, the first unit ticked, since ${chosen.dropped} was unticked.`
      : '';
  if (disabled)
    return `Disabled ${user.username}: they can no longer sign in, and ${endedSignIns(disabled.endedSessions)}.${primary}`;
  if (edited.includes('status') && user.status === 'active')
    return `Enabled ${user.username}: they can sign in again.${primary}`;
  return `Saved ${user.username}.${primary}`;
}

/** How a refusal of a stale form names the person and the fields (shown-form.ts). */
const staleWords = (username: string) => ({
  what: username,
  person: true,
  labels: { displayName: 'name', email: 'email', units: 'units', roles: 'roles', status: 'status' },
});

// The edit form's fields in page order: after a refusal, the first one in error takes the focus.
const FIELD_ORDER = [
  'username',
  'displayName',
  'email',
  'password',
  'units',
  'primaryUnit',
  'roles',
  'status',
  'understood',
];

/** Where the keyboard focus goes on a page shown again after a refusal: its first bad field, or the notice. */
function focusOf(state: FormState): string | null {
  if (state.failure) {
    if (state.failure.chatMove) return 'moveChat';
    return FIELD_ORDER.find((field) => state.failure!.errors[field]) ?? 'notice';
  }
  if (state.resetFailure) return state.resetFailure.errors.password ? 'new-password' : 'notice';
  if (state.signOutFailure) return 'sign-out-understood';
  if (state.devicesFailure) return 'devices-error';
  if (state.deleteFailure) return 'delete-username';
  return null;
}

/**
 * What the form shows again after a refusal: the input as typed, never the password, and the primary
 * unit that would be saved where the first ticked unit took an unticked one's place, with the unticked
 * one carried along so that saving again still tells of it (unitsWithPrimary).
 */
const echo = (body: Body, input: Record<string, unknown>, chosen?: ChosenUnits) => ({
  ...input,
  password: '',
  primaryUnit: chosen?.dropped ? chosen.primary : text(body, 'primaryUnit'),
  droppedPrimary: chosen?.dropped ?? '',
});

function usersLink(q: string, pageSize: number | undefined, page: number): string {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (pageSize !== undefined) params.set('pageSize', String(pageSize));
  params.set('page', String(page));
  return `/admin/users?${params}`;
}

/** The edit form's starting point: the user as stored. */
const storedValues = (user: PresentedUser) => ({
  displayName: user.displayName,
  email: user.email,
  units: user.units.map((u) => u.path),
  primaryUnit: user.units.find((u) => u.primary)?.path ?? '',
  roles: user.roles,
  status: user.status,
});

/**
 * What the edit form showed, carried in a hidden field (`shown`) from the page that was opened through
 * every refusal after it: a save changes only what the administrator changed from that (editUser).
 */
function shownOf(user: PresentedUser): ShownUser {
  const primary = user.units.filter((u) => u.primary).map((u) => u.path);
  const others = user.units.filter((u) => !u.primary).map((u) => u.path);
  const { displayName, email, roles, status } = user;
  return { displayName, email, units: [...primary, ...others], roles, status };
}

/**
 * Ending a person's access ends their console sessions too (gateway/accounts/console-access.ts). When the
 * administrator ended their own, the session doing it stays: it is signed in afresh, keeping its data.
 */
async function keepOwnConsoleSession(req: Request, userId: string): Promise<void> {
  const actor = req.user as { kind?: string; id?: string } | undefined;
  if (actor?.kind !== 'user' || actor.id !== userId) return;
  await new Promise<void>((resolve, reject) =>
    req.logIn(actor as Express.User, { keepSessionInfo: true, session: true }, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
}

type FormState = {
  values?: Record<string, unknown>;
  /** Whether the new-user form offers to mail the person a link to set their password (SMTP_URL set). */
  canMail?: boolean;
  /** What the page first showed, when it is shown again after a refusal (shownIn). */
  shown?: ShownUser | null;
  failure?: FormFailure & { chatMove?: ChatMove };
  resetFailure?: FormFailure;
  /** The refused reset's "choose their own at next sign-in" box was unticked: it comes back so. */
  resetKeptOwn?: boolean;
  factorFailure?: FormFailure;
  signOutFailure?: FormFailure;
  devicesFailure?: FormFailure;
  deleteFailure?: FormFailure;
  /** The refused new account's "choose their own at first sign-in" box was unticked: it comes back so. */
  createKeptOwn?: boolean;
};

/**
 * The search as the address gives it, cut to what a search takes, with what to say when it was cut: the
 * box takes no more, but an address may be edited or pasted.
 */
function searchOf(req: Request): { q: string; notice: string | null } {
  const typed = typeof req.query.q === 'string' ? req.query.q.trim() : '';
  if (typed.length <= SEARCH_MAX) return { q: typed, notice: null };
  // Not half of a character written as two UTF-16 units.
  const q = typed.slice(0, SEARCH_MAX).replace(/[\uD800-\uDBFF]$/, '');
  const notice = `A search takes at most ${SEARCH_MAX} characters: these are the people matching the first ${q.length} of what was typed.`;
  return { q: q.trim(), notice };
}

/** The list: searched and paged, each person linked when the actor may manage them, or saying why not. */
async function renderUserList(kit: ConsoleKit, req: Request, res: Response): Promise<void> {
  const ctx = kit.context(req);
  const search = searchOf(req);
  const q = search.q;
  const asked = pageRequest(req.query);
  const { result: found, notice } = await readPageAsked(asked, (page) =>
    listUsers(ctx, { q, page, pageSize: asked.pageSize }),
  );
  const factors = await factorsOf(
    ctx,
    found.users.map((u) => u.id),
  );
  // A unit admin sees everyone with a unit of theirs, but opens only whom they may manage; the others say why.
  const scope = adminScopeOf(ctx.actor);
  const users = found.users.map((u) => ({
    ...u,
    factors: factors.get(u.id),
    notManageable: whyNotManageable(
      scope,
      u.units.map((unit) => unit.path),
      u.roles,
    ),
  }));
  kit.render(req, res, 'users', {
    title: 'Users',
    section: 'users',
    q,
    result: { ...found, users },
    pageNotice: [search.notice, notice].filter(Boolean).join(' ') || null,
    prev: found.page > 1 ? usersLink(q, asked.pageSize, found.page - 1) : null,
    next: found.page < found.pages ? usersLink(q, asked.pageSize, found.page + 1) : null,
  });
}

/**
 * The person's recent account activity, with links to older and newer pages of it (`?history=N`), and for
 * a campus administrator their full history in the audit log (every entry concerning them, with details).
 */
async function historyOf(ctx: GatewayContext, user: User, page: unknown) {
  const history = await accountHistory(ctx, user.id, page);
  const link = (n: number) => `/admin/users/${encodeURIComponent(user.id)}?history=${n}#history-heading`;
  return {
    ...history,
    older: history.page < history.pages ? link(history.page + 1) : null,
    newer: history.page > 1 ? link(history.page - 1) : null,
    auditLog: isFullAdmin(ctx.actor) ? `/admin/audit?${new URLSearchParams({ target: user.username })}` : null,
  };
}

type OpenLink = { madeAt: Date; until: Date; mailed: boolean };

/**
 * The latest link to set a password that still works (unused, not cancelled, not expired), of a person
 * without one: the helpdesk asked "I can't sign in" can say when it went and until when it works, or that
 * the mail server did not take it (audited after the link was made: new-account-link.ts, request-reset.ts).
 */
async function openPasswordLink(ctx: GatewayContext, user: User): Promise<OpenLink | null> {
  const link = await ctx.models.PasswordReset.findOne({
    where: { userId: user.id, usedAt: null, cancelledAt: null, expiresAt: { [Op.gt]: new Date() } },
    order: [['createdAt', 'DESC']],
    transaction: ctx.tx,
  });
  if (!link) return null;
  const failures = await ctx.models.AuditEvent.findAll({
    where: {
      target: user.username,
      action: { [Op.in]: ['password_reset.request', 'password_reset.mail_failed'] },
      outcome: 'failure',
      // A second's margin: a database that keeps whole seconds may round the entry below the link.
      at: { [Op.gte]: new Date(link.createdAt.getTime() - 1_000) },
    },
    transaction: ctx.tx,
  });
  const notMailed = failures.some(
    (f) => f.action === 'password_reset.mail_failed' || (f.details ?? '').includes('"newAccount":true'),
  );
  return { madeAt: link.createdAt, until: link.expiresAt, mailed: !notMailed };
}

/** What makes the policy require a second factor of the person, for the console to say: 'role', 'unit' or null. */
async function factorRequiredBy(ctx: GatewayContext, user: User): Promise<'role' | 'unit' | null> {
  const requirements = await listRequirements(ctx);
  if (requirements.some((r) => r.kind === 'role' && user.roles.includes(r.value))) return 'role';
  return (await secondFactorRequired(ctx, user)) ? 'unit' : null;
}

/** The new-user or edit form; after a refusal, with what was typed and the focus on the first bad field. */
async function renderUserForm(
  kit: ConsoleKit,
  req: Request,
  res: Response,
  userId: string | null,
  state: FormState & { devices?: DeviceSessions | null },
): Promise<void> {
  const ctx = kit.context(req);
  const found = userId ? await findManageableUser(ctx, userId) : null;
  const user = found ? (await presentUsers(ctx, [found.user]))[0]! : null;
  const failure = state.failure ?? state.resetFailure;
  kit.render(
    req,
    res,
    'user-form',
    {
      title: found ? `Edit ${found.user.username}` : 'New user',
      section: 'users',
      user,
      // Where the person's campus sends them to reset a forgotten directory password, to tell them.
      directoryResetUrl: user?.directory && found ? await directoryResetPages(ctx.models)(found.user) : null,
      factors: found ? (await factorsOf(ctx, [found.user.id])).get(found.user.id) : null,
      openLink: user?.passwordStatus === 'none' && found ? await openPasswordLink(ctx, found.user) : null,
      factorRequiredBy: found ? await factorRequiredBy(ctx, found.user) : null,
      history: found ? await historyOf(ctx, found.user, req.query.history) : null,
      devices: found && state.devices ? await devicesOf(ctx, found.user.id, state.devices) : null,
      values: state.values ?? (user ? storedValues(user) : {}),
      canMail: state.canMail ?? false,
      linkDays: NEW_ACCOUNT_LINK_HOURS / 24,
      shown: user ? JSON.stringify(state.shown ?? shownOf(user)) : null,
      units: await unitTree(ctx),
      roles: grantableRoles(ctx.actor),
      errors: state.failure?.errors ?? {},
      resetErrors: state.resetFailure?.errors ?? {},
      resetKeptOwn: state.resetKeptOwn === true,
      createKeptOwn: state.createKeptOwn === true,
      notice: failure?.notice,
      factorError: state.factorFailure?.notice,
      signOutError: state.signOutFailure?.notice,
      devicesError: state.devicesFailure?.notice,
      deleteError: state.deleteFailure?.notice,
      ownAccount: found !== null && ctx.actor.kind === 'user' && ctx.actor.id === found.user.id,
      chatMove: state.failure?.chatMove,
      focus: focusOf(state),
    },
    failure?.status ??
      state.factorFailure?.status ??
      state.signOutFailure?.status ??
      state.devicesFailure?.status ??
      state.deleteFailure?.status,
  );
}

/**
 * What the administrator is told after creating someone: where their set-password link went, or that the
 * mail server refused it and how the person gets a password all the same.
 */
function createdNotice(
  user: { username: string; email: string; mustChangePassword: boolean },
  mailed: boolean | null,
): string {
  if (mailed === null)
    return user.mustChangePassword
      ? `Created ${user.username}. Their password is temporary: they choose their own at their first sign-in.`
      : `Created ${user.username}.`;
  if (mailed)
    return `Created ${user.username}. A link to set their password was mailed to ${user.email}; it works once, within ${NEW_ACCOUNT_LINK_HOURS / 24} days.`;
  return `Created ${user.username}, but the mail server did not take the link to set their password: set one for them below, or they ask for a link with “Forgot your password?” when signing in.`;
}

/** The campus directory whose password the person signs in with, if any: there it is changed, not here. */
async function directoryNameOf(ctx: GatewayContext, user: User): Promise<string | null> {
  return (await presentUsers(ctx, [user]))[0]?.directory?.name ?? null;
}

/**
 * What the administrator is told after "Sign out everywhere": what it ended, as after disabling, and that
 * it left the password as it was, which whoever got in may know.
 */
function signedOutNotice(username: string, endedSessions: number, directory: string | null): string {
  const password = directory
    ? `If someone else may know their password, also have it changed in directory ${directory}.`
    : 'If someone else may know their password, also set a new password.';
  return `Signed ${username} out everywhere: ${endedSignIns(endedSessions)}. They can sign in again with their password. ${password}`;
}

/**
 * "Sign out everywhere" on the person's page: every session of theirs ends at once, so only with the box
 * beside the button ticked; the notice says how many browsers or devices that was.
 */
function signOutRoute(
  router: Router,
  kit: ConsoleKit,
  renderForm: (req: Request, res: Response, userId: string, state: FormState) => Promise<void>,
): void {
  router.post('/users/:id/sign-out', formBody, kit.csrf.check, async (req, res) => {
    // It ends every session of theirs at once: only with the box beside the button ticked.
    if (text(bodyOf(req), 'understood') !== 'yes') {
      const refusal = new NotUnderstoodError('sign them out everywhere', 'Nobody was signed out.');
      return renderForm(req, res, String(req.params.id), { signOutFailure: formFailure(refusal) });
    }
    const ctx = kit.context(req);
    const { user, endedSessions } = await signOutEverywhereOf(ctx, String(req.params.id));
    await keepOwnConsoleSession(req, user.id);
    setFlash(req, signedOutNotice(user.username, endedSessions, await directoryNameOf(ctx, user)));
    res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
  });
}

/**
 * Users: the searchable list, create, edit (profile, units, roles, status), password reset, sign out
 * everywhere and unlock. `mail`, where the gateway has SMTP, lets a new person be mailed a link to choose
 * their own password instead of being told one the administrator picked. `devices`, the session tags of
 * the portal and the console, lists the person's signed-in devices, each with "Sign out this device".
 */
export function userRoutes(
  kit: ConsoleKit,
  mail: NewAccountMail | null = null,
  devices: DeviceSessions | null = null,
): Router {
  const router = Router();
  const canMail = mail !== null;

  router.get('/users', (req, res) => renderUserList(kit, req, res));

  const renderForm = (req: Request, res: Response, userId: string | null, state: FormState) =>
    renderUserForm(kit, req, res, userId, { ...state, canMail, devices });

  // No role ticked beforehand: a staff member made with "student" left ticked by oversight would be both,
  // and the form asks for at least one. Mailing a link is the default wherever mail can be sent.
  const newUserValues = () => ({ roles: [], units: [], passwordChoice: canMail ? 'link' : 'now' });

  router.get('/users/new', async (req, res) => {
    await renderForm(req, res, null, { values: newUserValues() });
  });

  // A post too large to read shows its form again, as it would open, with what to do: nothing was read.
  const newUserBody = typedFormBody((req, res) =>
    renderForm(req, res, null, { values: newUserValues(), failure: tooLongFailure() }),
  );
  const editBody = typedFormBody((req, res) =>
    renderForm(req, res, String(req.params.id), { failure: tooLongFailure() }),
  );
  const passwordBody = typedFormBody((req, res) =>
    renderForm(req, res, String(req.params.id), {
      resetFailure: tooLongFailure(
        { password: `Use at most ${PASSWORD_MAX} characters for a password.` },
        'Nothing was changed.',
      ),
    }),
  );

  router.post('/users', newUserBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    // Without mail the choice is not offered, and a password is required as it always was.
    const passwordChoice = mail && text(body, 'passwordChoice') === 'link' ? 'link' : 'now';
    // Ticked (as the form comes), a password set now is replaced by the person at their first sign-in.
    const temporary = text(body, 'temporary') === 'yes';
    try {
      const input = newUserInput(body, unitsWithPrimary(body).units);
      const { user, mailed } =
        mail && passwordChoice === 'link'
          ? await createUserWithLink(kit.context(req), mail, input)
          : { user: await createUser(kit.context(req), input, { temporary }), mailed: null };
      setFlash(req, createdNotice(user, mailed), mailed === false ? 'error' : 'success');
      res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
    } catch (error) {
      const values = { ...echo(body, newUserInput(body)), passwordChoice };
      await renderForm(req, res, null, { values, failure: formFailure(error), createKeptOwn: !temporary });
    }
  });

  router.get('/users/:id', async (req, res) => {
    await renderForm(req, res, String(req.params.id), {});
  });

  router.post('/users/:id', editBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const id = String(req.params.id);
    const shown = shownIn(body) as ShownUser | null;
    // The Disable section's form typed nothing: after a refusal, the details show as stored.
    const typed = (input: Record<string, unknown>, chosen?: ChosenUnits) =>
      statusOnly(body) ? undefined : echo(body, input, chosen);
    let values = typed(userChangesInput(body));
    let failure: FormState['failure'];
    try {
      const { user: stored, memberships } = await findManageableUser(kit.context(req), id);
      if (!shown)
        return await renderForm(req, res, id, { failure: staleFormFailure(body, null, staleWords(stored.username)) });
      const storedPrimary = memberships.find((m) => m.primary)?.unit.path ?? null;
      const chosen = unitsWithPrimary(body, shown.units?.[0] ?? storedPrimary);
      const input = userChangesInput(body, chosen.units);
      values = typed(input, chosen);
      // Disabling someone active on the page, and still active, asks for its box first.
      const disabling = input.status === 'disabled' && shown.status !== 'disabled' && stored.status !== 'disabled';
      if (disabling && text(body, 'understood') !== 'yes') {
        failure = disableNotUnderstood(stored.username);
      } else {
        const edit = await editUser(kit.context(req), id, { ...input, expected: shown });
        setFlash(req, editDone(edit, chosen));
        return res.redirect(303, `/admin/users/${encodeURIComponent(edit.user.id)}`);
      }
    } catch (error) {
      // Nothing was saved, and the form shows the person as they are now.
      if (error instanceof StaleEditError)
        return renderForm(req, res, id, { failure: staleFormFailure(body, error.fields, staleWords(error.username)) });
      failure = editFailure(error);
    }
    await renderForm(req, res, id, { values, failure, shown });
  });

  router.post('/users/:id/password', passwordBody, kit.csrf.check, async (req, res) => {
    try {
      // Unticked, the password is theirs to keep; ticked (as the form comes), they replace it at their next sign-in.
      const temporary = text(bodyOf(req), 'temporary') === 'yes';
      const id = String(req.params.id);
      const user = await resetPassword(kit.context(req), id, text(bodyOf(req), 'password'), { temporary });
      await keepOwnConsoleSession(req, user.id);
      const next = temporary ? ' They choose their own password at their next sign-in.' : '';
      setFlash(
        req,
        `Set a new password for ${user.username}; any lockout is lifted and every session of theirs has ended.${next}`,
      );
      res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
    } catch (error) {
      const resetKeptOwn = text(bodyOf(req), 'temporary') !== 'yes';
      await renderForm(req, res, String(req.params.id), { resetFailure: formFailure(error), resetKeptOwn });
    }
  });

  signOutRoute(router, kit, renderForm);

  router.post('/users/:id/reset-factors', formBody, kit.csrf.check, async (req, res) => {
    // It removes every factor at once: only with the box beside the button ticked.
    if (text(bodyOf(req), 'understood') !== 'yes') {
      const factorFailure = formFailure(new NotUnderstoodError('reset the second factor'));
      return renderForm(req, res, String(req.params.id), { factorFailure });
    }
    const { user, removed, unlocked } = await resetFactorsOf(kit.context(req), String(req.params.id));
    await keepOwnConsoleSession(req, user.id);
    const lifted = unlocked ? ', lifted their lockout' : '';
    setFlash(
      req,
      removed
        ? `Reset the second factor of ${user.username}${lifted} and signed them out everywhere; they set up a second factor again at their next sign-in where it is required.`
        : `${user.username} has no second factor set up: nothing was reset, and nobody was signed out.`,
    );
    res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
  });

  if (devices) deviceSignOutRoute(router, kit, devices, renderForm);
  deletionRoute(router, kit, renderForm);

  router.post('/users/:id/unlock', formBody, kit.csrf.check, async (req, res) => {
    const user = await unlockUser(kit.context(req), String(req.params.id));
    setFlash(req, `Unlocked ${user.username}.`);
    res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
  });

  return router;
}
