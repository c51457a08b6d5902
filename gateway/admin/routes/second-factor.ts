import { Router, type Request, type Response } from 'express';
import { ROLES } from '../../models/index.ts';
import {
  checkDroppable,
  checkRequirement,
  dropSecondFactorRequirement,
  listRequirements,
  mayDropRequirement,
  requireSecondFactor,
  secondFactorRequired,
  type Requirement,
} from '../../factors/policy.ts';
import { hasSecondFactor } from '../../factors/passkeys/second-factor-choices.ts';
import { unitPathsOf } from '../../accounts/memberships.ts';
import { adminScopeOf, isWithin } from '../../accounts/scope.ts';
import type { GatewayContext } from '../../context.ts';
import { reachOfAdding, reachOfDropping, type AddingReach, type DroppingReach } from '../../factors/policy-reach.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { bodyOf, formBody, formFailure, text, type Body, type FormFailure } from '../form-input.ts';
import { fullAdminOnly, type ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';
import { passkeyOnlyPeople, passwordlessAllowed, setPasswordless } from '../../factors/passkeys/passwordless-policy.ts';
import { ValidationError } from '../../../core/errors.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';

type Kind = 'role' | 'unit';

/** What the page shows besides the policy: a refusal beside the form it came from, or a change to confirm. */
type PageState = {
  failure?: FormFailure & { kind?: Kind };
  passwordlessFailure?: FormFailure;
  adding?: { requirement: Requirement; reach: AddingReach; you: YouCovered };
  dropping?: { requirement: Requirement; reach: DroppingReach; you: YouCovered };
};

/**
 * Whether a requirement covers the administrator changing it, and whether adding it would ask them to set
 * up a second factor at their next sign-in (covered by no other requirement, and without one): counted in
 * the reach, but "4 people" alone does not tell them they are one.
 */
type YouCovered = { covered: boolean; toSetUp: boolean };

async function youIn(ctx: GatewayContext, requirement: Requirement): Promise<YouCovered> {
  const none = { covered: false, toSetUp: false };
  if (ctx.actor.kind !== 'user') return none;
  const you = await ctx.models.User.findByPk(ctx.actor.id, { transaction: ctx.tx });
  if (!you || you.status !== 'active') return none;
  const covered =
    requirement.kind === 'role'
      ? you.roles.includes(requirement.value)
      : (await unitPathsOf(ctx, you)).some((path) => isWithin(path, requirement.value));
  if (!covered) return none;
  const toSetUp = !(await secondFactorRequired(ctx, you)) && !(await hasSecondFactor(ctx, you.id));
  return { covered, toSetUp };
}

const requirementInput = (body: Body) => ({ kind: text(body, 'kind'), value: text(body, 'value') });
const kindOf = (body: Body): Kind | undefined => {
  const kind = text(body, 'kind');
  return kind === 'role' || kind === 'unit' ? kind : undefined;
};
const confirmed = (body: Body) => text(body, 'confirmed') === 'yes';

/** Nothing is chosen in advance: a requirement is asked for by picking whom it covers. */
function assertChosen(body: Body): void {
  if (text(body, 'value').trim() !== '') return;
  const what = kindOf(body) === 'unit' ? 'unit' : 'role';
  throw new ValidationError(`Choose a ${what} first. Nothing was changed.`, { [what]: `choose a ${what}` });
}

/**
 * What an administrator sees of the policy: every requirement, each marked whether they may drop it (a unit
 * admin only a unit admin's on their units), and whom they administer, to say why the others are not theirs.
 */
async function policyAsSeenBy(ctx: GatewayContext) {
  const scope = adminScopeOf(ctx.actor);
  const requirements = (await listRequirements(ctx)).map((r) => ({
    ...r,
    mayDrop: mayDropRequirement(ctx.actor, r),
  }));
  return { campusAdmin: scope.all, yourUnits: scope.all ? [] : scope.roots, requirements };
}

/**
 * The second-factor policy (whom a factor is required of). A campus administrator changes all of it; a unit
 * admin requires it of the units they administer (and drops what unit admins required there), and sees the
 * rest read-only: campus-wide ones, and what campus administrators required of their units.
 * Passwordless sign-in changes how everyone signs in: campus administrators only.
 * Adding or dropping a requirement is a second step: the page first says whom it reaches and asks.
 */
export function secondFactorRoutes(kit: ConsoleKit): Router {
  const router = Router();

  async function render(req: Request, res: Response, state: PageState = {}) {
    const ctx = kit.context(req);
    const { failure, passwordlessFailure } = state;
    const policy = await policyAsSeenBy(ctx);
    const passwordless = await passwordlessAllowed(ctx);
    kit.render(
      req,
      res,
      'second-factor',
      {
        title: 'Second factor',
        section: 'second-factor',
        ...policy,
        passwordless,
        // Whom turning it off leaves without a way in: told before the switch is turned.
        passkeyOnly: passwordless && policy.campusAdmin ? await passkeyOnlyPeople(ctx) : 0,
        passwordlessError: passwordlessFailure?.notice,
        roles: ROLES,
        units: await unitTree(ctx),
        notice: failure?.notice,
        roleError: failure?.kind === 'role' ? (failure.errors.role ?? failure.errors.value) : undefined,
        unitError: failure?.kind === 'unit' ? (failure.errors.unit ?? failure.errors.value) : undefined,
        adding: state.adding,
        dropping: state.dropping,
      },
      failure?.status ?? passwordlessFailure?.status,
    );
  }

  router.get('/second-factor', (req, res) => render(req, res));

  router.post('/second-factor', formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const ctx = kit.context(req);
    let state: PageState;
    try {
      assertChosen(body);
      if (confirmed(body)) {
        const added = await requireSecondFactor(ctx, requirementInput(body));
        setFlash(req, `A second factor is now required of ${added.kind} ${added.value}.`);
        return res.redirect(303, '/admin/second-factor');
      }
      const requirement = await checkRequirement(ctx, requirementInput(body));
      state = {
        adding: { requirement, reach: await reachOfAdding(ctx, requirement), you: await youIn(ctx, requirement) },
      };
    } catch (error) {
      state = { failure: { ...formFailure(error), kind: kindOf(body) } };
    }
    await render(req, res, state);
  });

  router.post('/second-factor/remove', formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const ctx = kit.context(req);
    let state: PageState;
    try {
      if (confirmed(body)) {
        const dropped = await dropSecondFactorRequirement(ctx, requirementInput(body));
        setFlash(req, `A second factor is no longer required of ${dropped.kind} ${dropped.value}.`);
        return res.redirect(303, '/admin/second-factor');
      }
      const requirement = await checkDroppable(ctx, requirementInput(body));
      const you = await youIn(ctx, requirement);
      state = { dropping: { requirement, reach: await reachOfDropping(ctx, requirement), you } };
    } catch (error) {
      state = { failure: formFailure(error) };
    }
    await render(req, res, state);
  });

  router.post('/second-factor/passwordless', fullAdminOnly, formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    // It changes how everyone signs in: only with the box beside the button ticked.
    if (text(body, 'understood') !== 'yes') {
      const what = text(body, 'passwordless') === 'off' ? 'turn off' : 'allow';
      const refusal = new NotUnderstoodError(`${what} passwordless sign-in`, 'Nothing was changed.');
      return render(req, res, { passwordlessFailure: formFailure(refusal) });
    }
    try {
      const on = await setPasswordless(kit.context(req), text(body, 'passwordless'));
      setFlash(
        req,
        on
          ? 'People may now sign in with a passkey alone.'
          : 'A passkey now serves only as the second factor after a password.',
      );
      res.redirect(303, '/admin/second-factor');
    } catch (error) {
      await render(req, res, { failure: formFailure(error) });
    }
  });

  return router;
}
