import { Router, type Request, type Response } from 'express';
import { MembersChatMoveError, moveMembers, type DomainLeft } from '../../accounts/move-members.ts';
import { removeUnit, UnitInUseError } from '../../accounts/remove-unit.ts';
import { adminScopeOf, isFullAdmin, scopeCovers } from '../../accounts/scope.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { DISPLAY_NAME_MAX, displayNameSchema } from '../../accounts/schemas.ts';
import { createUnit, parentPathOf, renameUnit, unitSegmentSchema, whoShapes } from '../../accounts/units.ts';
import type { GatewayContext } from '../../context.ts';
import { domainsServing } from '../../domains/domains.ts';
import { bodyOf, formBody, formFailure, text, tooLongFailure, typedFormBody, type FormFailure } from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';
import { movedNotice, peopleOf, shownMembers } from './unit-people.ts';

/** Values of the add form and of the rename/remove/move forms of one unit (`unit`, chosen by ?unit=PATH). */
type Values = Partial<Record<string, string>>;

/** A refusal of the move, with the domains it would take people off when that is why (to ask for the box). */
type UnitsFailure = FormFailure & { chatMove?: DomainLeft[] };

/** The refusal to remove a unit with members, pointing to this page's "Move its people" rather than the CLI. */
const consoleMoving = () =>
  'To move its members: all at once with "Move its people" on this page, or one person at a time on their page (Users).';

/**
 * The tree, each unit marked with whether the actor may rename or remove it (accounts/units.ts:
 * assertMayShape) and with the chat domain that serves it, its own or one above it (null: none does, so
 * its people have no chat unless another of their units has it).
 */
async function shapedTree(ctx: GatewayContext) {
  const scope = adminScopeOf(ctx.actor);
  const tree = await unitTree(ctx);
  const domains = await domainsServing(
    ctx,
    tree.map((node) => node.path),
  );
  return tree.map((node, i) => {
    const parent = parentPathOf(node.path);
    return { ...node, mayChange: parent ? scopeCovers(scope, parent) : scope.all, domain: domains[i] ?? null };
  });
}

type Render = (req: Request, res: Response, values: Values, failure?: UnitsFailure) => Promise<void>;

/** The Units page, with what a refused form showed again (`values`, `failure`). */
function unitsPage(kit: ConsoleKit): Render {
  return async (req: Request, res: Response, values: Values, failure?: UnitsFailure) => {
    const ctx = kit.context(req);
    const tree = await shapedTree(ctx);
    // A unit of theirs they may not rename (their own top unit): the page says whose it is to change.
    const fixed = tree.find((node) => !node.mayChange && node.path === values.unit);
    const changing = tree.find((node) => node.mayChange && node.path === values.unit);
    // A unit named in the address that is not in the tree (Back after removing it, an old link) is said so,
    // to change or to add below: the add form would otherwise quietly offer its first parent instead.
    const missing = values.unit && !fixed && !changing && !failure ? values.unit : null;
    const parentKnown = tree.some((node) => node.path === values.parent);
    const missingParent = values.parent && !parentKnown && !failure ? values.parent : null;
    kit.render(
      req,
      res,
      'units',
      {
        title: 'Units',
        section: 'units',
        tree,
        changing,
        fixed: fixed && { ...fixed, who: whoShapes(fixed.path) },
        missing,
        missingParent,
        mayAddTopLevel: isFullAdmin(ctx.actor),
        values,
        // The new name as typed after a refusal, blank included; the unit's name until then.
        newName: values.newName ?? changing?.name,
        people: changing && (await peopleOf(ctx, changing.path, tree)),
        chatMove: failure?.chatMove,
        errors: failure?.errors ?? {},
        notice: failure?.notice,
      },
      failure?.status,
    );
  };
}

/**
 * "Move its people": every member of the unit to another of the actor's units, by the use-case the CLI's
 * atrium units move-members runs, its refusals shown on the page and nothing moved.
 */
function movePeople(kit: ConsoleKit, render: Render) {
  return async (req: Request, res: Response) => {
    const body = bodyOf(req);
    const values = { unit: text(body, 'unit'), to: text(body, 'to') };
    const members = shownMembers(text(body, 'members'));
    const refuse = (status: number, field: string, why: string) =>
      render(req, res, values, { status, errors: { [field]: why }, notice: `Nobody was moved: ${why}.` });
    if (!members) return refuse(400, 'members', 'this form does not say whom it showed; open the unit again');
    if (!values.to) return refuse(400, 'to', 'choose the unit to move them to');
    try {
      const input = { from: values.unit, to: values.to, moveChat: text(body, 'moveChat') === 'on', members };
      const moved = await moveMembers(kit.context(req), input);
      setFlash(req, movedNotice(moved));
      res.redirect(303, `/admin/units?unit=${encodeURI(moved.from)}#change-unit`);
    } catch (error) {
      if (!(error instanceof MembersChatMoveError)) return render(req, res, values, formFailure(error));
      const asked = new MembersChatMoveError(error.domainsLeft, 'tick "Move their chat" and move again');
      await render(req, res, values, { ...formFailure(asked), chatMove: error.domainsLeft });
    }
  };
}

/** The unit tree the actor administers: adding a unit under one of theirs, renaming and removing one below. */
export function unitRoutes(kit: ConsoleKit): Router {
  const router = Router();

  const renderUnits = unitsPage(kit);

  router.get('/units', async (req, res) => {
    const query = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : '');
    await renderUnits(req, res, { parent: query('parent'), unit: query('unit') });
  });

  // A post too large to read shows the page again with what to do; the rename form, of the unit its
  // address names (for this alone: the unit renamed is the form's own field), the message beside its field.
  const addBody = typedFormBody((req, res) => renderUnits(req, res, {}, tooLongFailure()));
  const renameBody = typedFormBody((req, res) => {
    const unit = typeof req.query.unit === 'string' ? req.query.unit : '';
    return renderUnits(req, res, { unit }, tooLongFailure({ newName: `at most ${DISPLAY_NAME_MAX} characters` }));
  });

  router.post('/units', addBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const values = { parent: text(body, 'parent'), segment: text(body, 'segment'), name: text(body, 'name') };
    const segment = unitSegmentSchema.safeParse(values.segment);
    // The field asks for one segment, so a bad one is explained as a segment, not as a whole path; the
    // full name is checked with it, so that both are said at once.
    if (!segment.success) {
      const name = displayNameSchema.safeParse(values.name);
      const errors: Record<string, string> = { path: segment.error.issues[0]?.message ?? 'not a short name' };
      if (!name.success) errors.name = name.error.issues[0]?.message ?? 'not a name';
      return renderUnits(req, res, values, { status: 400, errors, notice: 'Some fields are invalid' });
    }
    const path = values.parent ? `${values.parent}/${segment.data}` : segment.data;
    try {
      const unit = await createUnit(kit.context(req), { path, name: values.name });
      setFlash(req, `Added ${unit.name} (${unit.path}).`);
      res.redirect(303, '/admin/units');
    } catch (error) {
      await renderUnits(req, res, values, formFailure(error));
    }
  });

  router.post('/units/rename', renameBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const values = { unit: text(body, 'unit'), newName: text(body, 'newName') };
    try {
      const unit = await renameUnit(kit.context(req), { path: values.unit, name: values.newName });
      setFlash(req, `Renamed ${unit.path} to ${unit.name}.`);
      res.redirect(303, '/admin/units');
    } catch (error) {
      const failure = formFailure(error);
      const errors: Record<string, string> = failure.errors.name ? { newName: failure.errors.name } : {};
      await renderUnits(req, res, values, { ...failure, errors });
    }
  });

  router.post('/units/remove', formBody, kit.csrf.check, async (req, res) => {
    const values = { unit: text(bodyOf(req), 'unit') };
    // A unit removed is gone for good: only with the box beside the button ticked.
    if (text(bodyOf(req), 'understood') !== 'yes') {
      const { notice } = formFailure(new NotUnderstoodError(`remove ${values.unit}`));
      return renderUnits(req, res, values, { status: 400, errors: { understood: notice }, notice: '' });
    }
    try {
      const removed = await removeUnit(kit.context(req), values.unit);
      setFlash(req, `Removed ${removed.name} (${removed.path}).`);
      res.redirect(303, '/admin/units');
    } catch (error) {
      const said = error instanceof UnitInUseError ? error.saying(consoleMoving) : error;
      await renderUnits(req, res, values, formFailure(said));
    }
  });

  router.post('/units/move-members', formBody, kit.csrf.check, movePeople(kit, renderUnits));

  return router;
}
