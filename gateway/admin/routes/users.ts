import { Router, type Request, type Response } from 'express';
import { createUser } from '../../accounts/create-user.ts';
import { signOutEverywhere } from '../../accounts/end-access.ts';
import { findManageableUser } from '../../accounts/find-user.ts';
import { grantableRoles } from '../../accounts/grantable-roles.ts';
import { listUsers } from '../../accounts/list-users.ts';
import { presentUsers, type PresentedUser } from '../../accounts/present-user.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { directoryResetPages } from '../../directories/reset-page.ts';
import { unlockUser } from '../../accounts/unlock-user.ts';
import { resetPassword, updateUser } from '../../accounts/update-user.ts';
import { ChatMoveError, type ChatMove } from '../../accounts/chat-moves.ts';
import {
  bodyOf,
  formBody,
  formFailure,
  list,
  text,
  unitsWithPrimary,
  type Body,
  type FormFailure,
} from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';
import { factorsOf } from '../../factors/factor-status.ts';
import { resetFactors } from '../../factors/reset-factors.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';

const newUserInput = (body: Body) => ({
  username: text(body, 'username'),
  displayName: text(body, 'displayName'),
  email: text(body, 'email'),
  // An empty password fails validation: the console always sets an initial one.
  password: text(body, 'password'),
  units: unitsWithPrimary(body),
  roles: list(body, 'roles'),
});

const userChangesInput = (body: Body) => ({
  displayName: text(body, 'displayName'),
  email: text(body, 'email'),
  units: unitsWithPrimary(body),
  roles: list(body, 'roles'),
  status: text(body, 'status'),
  moveChat: text(body, 'moveChat') === 'on',
});

/** A refusal of new units that take the person off a domain they chat on asks for the box below it. */
function editFailure(error: unknown): FormFailure & { chatMove?: ChatMove } {
  if (!(error instanceof ChatMoveError)) return formFailure(error);
  const asked = new ChatMoveError(error.move, 'tick "Move their chat" and save again');
  return { ...formFailure(asked), chatMove: error.move };
}

/** What the form shows again after a refusal: the input as typed, never the password. */
const echo = (body: Body, input: Record<string, unknown>) => ({
  ...input,
  password: '',
  primaryUnit: text(body, 'primaryUnit'),
});

function usersLink(q: string, pageSize: unknown, page: number): string {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (typeof pageSize === 'string') params.set('pageSize', pageSize);
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
  failure?: FormFailure & { chatMove?: ChatMove };
  resetFailure?: FormFailure;
  factorFailure?: FormFailure;
};

/** Users: the searchable list, create, edit (profile, units, roles, status), password reset, sign out everywhere and unlock. */
export function userRoutes(kit: ConsoleKit): Router {
  const router = Router();

  router.get('/users', async (req, res) => {
    const found = await listUsers(kit.context(req), {
      q: req.query.q,
      page: req.query.page,
      pageSize: req.query.pageSize,
    });
    const factors = await factorsOf(
      kit.context(req),
      found.users.map((u) => u.id),
    );
    const result = { ...found, users: found.users.map((u) => ({ ...u, factors: factors.get(u.id) })) };
    const q = typeof req.query.q === 'string' ? req.query.q.trim() : '';
    kit.render(req, res, 'users', {
      title: 'Users',
      section: 'users',
      q,
      result,
      prev: result.page > 1 ? usersLink(q, req.query.pageSize, result.page - 1) : null,
      next: result.page < result.pages ? usersLink(q, req.query.pageSize, result.page + 1) : null,
    });
  });

  async function renderForm(req: Request, res: Response, userId: string | null, state: FormState) {
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
        values: state.values ?? (user ? storedValues(user) : {}),
        units: await unitTree(ctx),
        roles: grantableRoles(ctx.actor),
        errors: state.failure?.errors ?? {},
        resetErrors: state.resetFailure?.errors ?? {},
        notice: failure?.notice,
        factorError: state.factorFailure?.notice,
        chatMove: state.failure?.chatMove,
      },
      failure?.status ?? state.factorFailure?.status,
    );
  }

  router.get('/users/new', async (req, res) => {
    await renderForm(req, res, null, { values: { roles: ['student'], units: [] } });
  });

  router.post('/users', formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const input = newUserInput(body);
    try {
      const user = await createUser(kit.context(req), input);
      setFlash(req, `Created ${user.username}.`);
      res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
    } catch (error) {
      await renderForm(req, res, null, { values: echo(body, input), failure: formFailure(error) });
    }
  });

  router.get('/users/:id', async (req, res) => {
    await renderForm(req, res, String(req.params.id), {});
  });

  router.post('/users/:id', formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const input = userChangesInput(body);
    try {
      const user = await updateUser(kit.context(req), String(req.params.id), input);
      setFlash(req, `Saved ${user.username}.`);
      res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
    } catch (error) {
      await renderForm(req, res, String(req.params.id), { values: echo(body, input), failure: editFailure(error) });
    }
  });

  router.post('/users/:id/password', formBody, kit.csrf.check, async (req, res) => {
    try {
      const user = await resetPassword(kit.context(req), String(req.params.id), text(bodyOf(req), 'password'));
      await keepOwnConsoleSession(req, user.id);
      setFlash(
        req,
        `Set a new password for ${user.username}; any lockout is lifted and every session of theirs has ended.`,
      );
      res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
    } catch (error) {
      await renderForm(req, res, String(req.params.id), { resetFailure: formFailure(error) });
    }
  });

  router.post('/users/:id/sign-out', formBody, kit.csrf.check, async (req, res) => {
    const user = await signOutEverywhere(kit.context(req), String(req.params.id));
    await keepOwnConsoleSession(req, user.id);
    setFlash(req, `Signed ${user.username} out everywhere.`);
    res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
  });

  router.post('/users/:id/reset-factors', formBody, kit.csrf.check, async (req, res) => {
    // It removes every factor at once: only with the box beside the button ticked.
    if (text(bodyOf(req), 'understood') !== 'yes') {
      const factorFailure = formFailure(new NotUnderstoodError('reset the second factor'));
      return renderForm(req, res, String(req.params.id), { factorFailure });
    }
    const user = await resetFactors(kit.context(req), String(req.params.id));
    setFlash(
      req,
      `Reset the second factor of ${user.username}: they set one up again at their next sign-in where it is required.`,
    );
    res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
  });

  router.post('/users/:id/unlock', formBody, kit.csrf.check, async (req, res) => {
    const user = await unlockUser(kit.context(req), String(req.params.id));
    setFlash(req, `Unlocked ${user.username}.`);
    res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}`);
  });

  return router;
}
