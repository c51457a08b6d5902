import { Router, type Request, type Response } from 'express';
import { isFullAdmin } from '../../accounts/scope.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { createUnit } from '../../accounts/units.ts';
import { bodyOf, formBody, formFailure, text, type FormFailure } from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';

/** The unit tree the actor administers, and adding a unit under one of theirs. */
export function unitRoutes(kit: ConsoleKit): Router {
  const router = Router();

  async function renderUnits(req: Request, res: Response, values: Record<string, string>, failure?: FormFailure) {
    const ctx = kit.context(req);
    kit.render(
      req,
      res,
      'units',
      {
        title: 'Units',
        section: 'units',
        tree: await unitTree(ctx),
        mayAddTopLevel: isFullAdmin(ctx.actor),
        values,
        errors: failure?.errors ?? {},
        notice: failure?.notice,
      },
      failure?.status,
    );
  }

  router.get('/units', async (req, res) => {
    await renderUnits(req, res, { parent: typeof req.query.parent === 'string' ? req.query.parent : '' });
  });

  router.post('/units', formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const values = { parent: text(body, 'parent'), segment: text(body, 'segment'), name: text(body, 'name') };
    const path = values.parent ? `${values.parent}/${values.segment.trim()}` : values.segment.trim();
    try {
      const unit = await createUnit(kit.context(req), { path, name: values.name });
      setFlash(req, `Added ${unit.name} (${unit.path}).`);
      res.redirect(303, '/admin/units');
    } catch (error) {
      await renderUnits(req, res, values, formFailure(error));
    }
  });

  return router;
}
